//! The engine's error type: distinct kinds (each front end maps them at its edge: HTTP in
//! the api crate) and the exit codes Docker gives them.

use std::io;

/// What sort of failure an error is; decides the CLI exit code and the API status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// No such container, layer, network, volume or file.
    NotFound,
    /// No such image here: the one kind a client answers by pulling.
    ImageNotFound,
    /// A name or tag is taken.
    AlreadyExists,
    /// The request is malformed.
    InvalidArgument,
    /// The object is in a state that forbids the operation (running, in use).
    Conflict,
    /// Something the engine relies on is missing or broken.
    Internal,
    /// The container's command was found but cannot be run (Docker's 126).
    NotExecutable,
    /// The container's command was not found (Docker's 127).
    CommandNotFound,
    /// What this node cannot do by design, such as swarm (Docker's 503).
    Unavailable,
    /// A feature berth does not have (Docker's 501).
    NotImplemented,
}

impl ErrorKind {
    /// Docker CLI's exit code for this kind of failure.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::NotExecutable => 126,
            ErrorKind::CommandNotFound => 127,
            _ => 125,
        }
    }
}

/// An engine error: a kind plus a message written for the person at the terminal.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// What sort of failure.
    pub kind: ErrorKind,
    /// Docker-like message, lower-case, no trailing period.
    pub message: String,
    /// The exit code of a command whose failure this is (a build's RUN), for clients that
    /// exit with it.
    pub command_code: Option<i64>,
}

impl Error {
    /// Makes an error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            command_code: None,
        }
    }
    /// `NotFound` error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// `ImageNotFound` error.
    pub fn image_not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::ImageNotFound, message)
    }
    /// A command (a build's RUN) that ended with `code`.
    pub fn command_failed(message: impl Into<String>, code: i64) -> Self {
        Error {
            command_code: Some(code),
            ..Self::new(ErrorKind::InvalidArgument, message)
        }
    }
    /// `InvalidArgument` error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    /// `Conflict` error.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    /// `Internal` error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl std::fmt::Display, e: io::Error) -> Self {
        let kind = if e.kind() == io::ErrorKind::NotFound {
            ErrorKind::NotFound
        } else {
            ErrorKind::Internal
        };
        Self::new(kind, format!("{context}: {e}"))
    }
}

impl From<crate::reference::ReferenceError> for Error {
    fn from(e: crate::reference::ReferenceError) -> Self {
        Error::invalid(e.to_string())
    }
}

impl From<berth_runtime::RuntimeError> for Error {
    fn from(e: berth_runtime::RuntimeError) -> Self {
        match &e {
            berth_runtime::RuntimeError::Start { kind, .. } => {
                let k = match kind {
                    berth_runtime::StartFailure::NotFound => ErrorKind::CommandNotFound,
                    berth_runtime::StartFailure::NotExecutable => ErrorKind::NotExecutable,
                    berth_runtime::StartFailure::Engine => ErrorKind::Internal,
                };
                Error::new(k, e.to_string())
            }
            _ => Error::internal(e.to_string()),
        }
    }
}

impl From<crate::snapshot::unpack::UnpackError> for Error {
    fn from(e: crate::snapshot::unpack::UnpackError) -> Self {
        Error::invalid(format!("unpacking layer: {e}"))
    }
}

/// Result alias of the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds context to I/O results.
pub trait IoContext<T> {
    /// Wraps the error with `what` was being done.
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }
}
