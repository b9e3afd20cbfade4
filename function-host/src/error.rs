//! How an invocation fails: the one error enum of the host.

use std::time::Duration;

/// Why an invocation gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The handler failed: the runtime client posted `invocation/{id}/error` (an exception,
    /// a handler that could not be loaded).
    #[error("{error_type}: {message}")]
    Function {
        /// `errorType` (`Runtime.ImportModuleError`, the exception's class, …).
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
    /// The invocation ran past the function's timeout; its instance was killed.
    #[error("Task timed out after {0:?}")]
    TimedOut(Duration),
    /// The instance could not start: it exited, reported `init/error`, or did not ask for
    /// work within the init timeout.
    #[error("Runtime.InitError: {0}")]
    Init(String),
    /// The instance exited while it ran the invocation.
    #[error("Runtime.ExitError: {0}")]
    Exited(String),
    /// No instance was free and the queue was full, or none took it in time.
    #[error("TooManyRequestsException: {0}")]
    Throttled(String),
    /// No function of that name.
    #[error("ResourceNotFoundException: no function `{0}`")]
    NotFound(String),
    /// The host is stopping.
    #[error("the function host is stopping")]
    Stopped,
}

impl Failure {
    /// A word for metrics: `error`, `timed_out`, `init_error`, `exited`, `throttled`,
    /// `not_found`, `stopped`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Failure::Function { .. } => "error",
            Failure::TimedOut(_) => "timed_out",
            Failure::Init(_) => "init_error",
            Failure::Exited(_) => "exited",
            Failure::Throttled(_) => "throttled",
            Failure::NotFound(_) => "not_found",
            Failure::Stopped => "stopped",
        }
    }
}
