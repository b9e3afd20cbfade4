//! Cleanup: the disconnect event of a connection that ended, whatever ended it.

use std::sync::Arc;

use lifecycle::{ConnectionInfo, EventKind};

use super::Core;
use crate::invoke::event;

/// Runs cleanup for a connection that ended with `code` / `reason`; a failure is logged
/// (the lease ends it instead).
pub async fn cleanup(core: &Core, info: &Arc<ConnectionInfo>, code: u16, reason: &str) {
    let kind = EventKind::Disconnect {
        status_code: code,
        reason: reason.to_owned(),
    };
    if let Err(err) = core
        .functions
        .invoke(&event(info, kind, None), core.limits.function_timeout)
        .await
    {
        tracing::warn!(id = %info.id, %err, "cleanup failed; the lease will expire instead");
    }
}
