//! The one function that turns redis-rs errors into [`StoreError`]s.

use redis::{ErrorKind, RedisError, ServerErrorKind};
use store_core::StoreError;

/// The backend's name in errors and reports.
pub(crate) const BACKEND: &str = "redis";

/// Maps a redis-rs error.
///
/// - `Unavailable` (retry later): the server cannot be reached, dropped the connection or
///   did not answer in time; a Cluster is resharding, failing over or still loading
///   (`TRYAGAIN`, `CLUSTERDOWN`, `MASTERDOWN`, `LOADING`, redirects left over after the
///   client's own retries).
/// - `PermissionDenied`: wrong credentials (`AuthenticationFailed`, `NOAUTH`, `WRONGPASS`)
///   or an ACL that forbids a command (`NOPERM`).
/// - `Config`: the client refused its configuration (a bad URL, TLS options).
/// - `Backend` for the rest (a script error, a key of the wrong type: somebody else wrote
///   under this store's prefix), with the native error kept as the source.
pub fn map_redis_error(error: RedisError) -> StoreError {
    if error.is_timeout() || error.is_connection_dropped() || error.is_connection_refusal() {
        return unavailable(error);
    }
    match error.kind() {
        ErrorKind::Io | ErrorKind::ClusterConnectionNotFound => unavailable(error),
        ErrorKind::Server(
            ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::BusyLoading
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask
            | ServerErrorKind::ReadOnly,
        ) => unavailable(error),
        ErrorKind::AuthenticationFailed => denied(error),
        ErrorKind::Server(ServerErrorKind::NoPerm) => denied(error),
        ErrorKind::Extension if matches!(error.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM")) => {
            denied(error)
        }
        ErrorKind::InvalidClientConfig => StoreError::config(format!("Redis client: {error}")),
        _ => StoreError::Backend {
            store: BACKEND,
            source: Box::new(error),
        },
    }
}

fn unavailable(error: RedisError) -> StoreError {
    StoreError::Unavailable {
        store: BACKEND,
        source: Box::new(error),
    }
}

fn denied(error: RedisError) -> StoreError {
    StoreError::PermissionDenied {
        store: BACKEND,
        source: Box::new(error),
    }
}

/// A call that did not finish within the store's overall bound (redis-rs bounds each
/// request, but a reconnect in progress can hold a command longer).
pub(crate) fn timed_out(what: &'static str, bound: std::time::Duration) -> StoreError {
    StoreError::Unavailable {
        store: BACKEND,
        source: format!("{what} did not finish within {bound:?}").into(),
    }
}

/// A reply that does not have the shape this store's scripts give: somebody else wrote
/// under this store's prefix, or the server is not Redis-compatible enough.
pub(crate) fn unexpected(what: &str) -> StoreError {
    StoreError::Backend {
        store: BACKEND,
        source: format!("unexpected reply: {what}").into(),
    }
}
