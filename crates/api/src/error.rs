//! Error answers: an engine error kind and its message, and the one place a kind becomes an
//! HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use berth_engine::{Error as EngineError, ErrorKind};
use serde_json::json;

/// Docker's status for each kind of failure.
fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound | ErrorKind::ImageNotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Internal | ErrorKind::NotExecutable | ErrorKind::CommandNotFound => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// An error answer: Docker's status code and `{"message": …}` body.
#[derive(Debug)]
pub struct ApiError {
    kind: ErrorKind,
    /// What the client is told.
    pub message: String,
}

impl ApiError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// A malformed request (400).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// Something missing (404).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// A state that forbids the request (409).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// A failure of the server's own (500).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// What this node cannot serve, such as swarm routes (503).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        status_of(self.kind).as_u16()
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        ApiError::new(e.kind, e.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            status_of(self.kind),
            axum::Json(json!({ "message": self.message })),
        )
            .into_response()
    }
}
