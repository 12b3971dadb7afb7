//! Errors of the runtime.

use std::io;

/// Why a container process could not be started; the kind picks Docker's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFailure {
    /// The runtime itself failed (Docker's 125).
    Engine,
    /// The command exists but cannot be invoked: a directory, no execute bit (Docker's 126).
    NotExecutable,
    /// The command was not found (Docker's 127).
    NotFound,
}

impl StartFailure {
    /// The exit code Docker's CLI gives for this failure.
    pub fn exit_code(self) -> i32 {
        match self {
            StartFailure::Engine => 125,
            StartFailure::NotExecutable => 126,
            StartFailure::NotFound => 127,
        }
    }
}

/// Errors of the runtime crate.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The container's init reported a failure before it could exec.
    #[error("{message}")]
    Start {
        /// Which kind of failure, for the exit code.
        kind: StartFailure,
        /// What the init said.
        message: String,
    },
    /// A system call in the runtime failed.
    #[error("{context}: {source}")]
    Sys {
        /// What was being done.
        context: String,
        /// The OS error.
        source: io::Error,
    },
    /// The spec asks for something this runtime cannot do.
    #[error("invalid spec: {0}")]
    Spec(String),
    /// A cgroup operation failed.
    #[error("cgroup {path}: {source}")]
    Cgroup {
        /// The cgroup file or directory.
        path: String,
        /// The OS error.
        source: io::Error,
    },
    /// Loading the seccomp filter failed.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
}

impl RuntimeError {
    /// Wraps an OS error with what was being done.
    pub fn sys(context: impl Into<String>, source: impl Into<io::Error>) -> Self {
        RuntimeError::Sys {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// Result alias of the runtime crate.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;
