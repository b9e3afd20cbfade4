//! The one place OpenDAL's OSS errors become [`StoreError`]s.

use opendal::ErrorKind as Kind;
use store_core::StoreError;

const STORE: &str = "oss";

/// Maps an OpenDAL error: not found, permission denied, condition/conflict, rate limits and
/// temporary failures (5xx, connection errors) by OpenDAL's own classification.
pub(crate) fn parse_error(err: opendal::Error) -> StoreError {
    match err.kind() {
        Kind::NotFound => StoreError::NotFound {
            id: err.to_string(),
        },
        Kind::PermissionDenied => StoreError::PermissionDenied {
            store: STORE,
            source: Box::new(err),
        },
        Kind::ConditionNotMatch | Kind::Conflict | Kind::AlreadyExists => StoreError::Conflict {
            message: format!("oss: {err}"),
        },
        Kind::ConfigInvalid | Kind::Unsupported => StoreError::config(format!("oss: {err}")),
        Kind::RateLimited => StoreError::Unavailable {
            store: STORE,
            source: Box::new(err),
        },
        _ if err.is_temporary() => StoreError::Unavailable {
            store: STORE,
            source: Box::new(err),
        },
        _ => StoreError::Backend {
            store: STORE,
            source: Box::new(err),
        },
    }
}
