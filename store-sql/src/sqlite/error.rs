//! The one place rusqlite's errors become [`StoreError`]s.

use rusqlite::ErrorCode;
use store_core::StoreError;

const STORE: &str = "sqlite";

/// Maps a native rusqlite error.
pub(crate) fn parse_error(err: rusqlite::Error) -> StoreError {
    let code = err.sqlite_error_code();
    match code {
        // Another process holds the write lock past our busy timeout: retry later.
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Unavailable {
            store: STORE,
            source: Box::new(err),
        },
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied | ErrorCode::NotADatabase) => {
            StoreError::config(format!("sqlite: cannot use the database file: {err}"))
        }
        _ => StoreError::Backend {
            store: STORE,
            source: Box::new(err),
        },
    }
}
