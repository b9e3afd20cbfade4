//! The app linked into a gateway node.

use std::fmt::Debug;

use async_trait::async_trait;

use crate::event::LifecycleEvent;
use crate::reply::Reply;

/// A function failed as a whole (not a refusal: a refusal is a [`Reply`] with its status).
/// At a handshake the gateway answers 503 when `unavailable` (a dependency such as the
/// store is down, retry later), else 502.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AppError {
    /// What failed.
    pub message: String,
    /// A dependency is temporarily unavailable.
    pub unavailable: bool,
}

impl AppError {
    /// A failure that retrying will not fix.
    pub fn failed(message: impl Into<String>) -> Self {
        AppError {
            message: message.into(),
            unavailable: false,
        }
    }

    /// A failure of a dependency that may come back.
    pub fn unavailable(message: impl Into<String>) -> Self {
        AppError {
            message: message.into(),
            unavailable: true,
        }
    }
}

/// Register, transport and cleanup in one handler, as an app linked into the node runs them.
/// The gateway calls it for every event of every connection, concurrently across
/// connections and in order within one.
#[async_trait]
pub trait App: Debug + Send + Sync + 'static {
    /// Handles one event.
    async fn handle(&self, event: &LifecycleEvent) -> Result<Reply, AppError>;
}
