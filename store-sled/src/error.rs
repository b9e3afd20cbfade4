//! The one place sled's errors become [`StoreError`]s.

use sled::transaction::TransactionError;
use store_core::StoreError;

const STORE: &str = "sled";

/// Maps a native sled error.
pub(crate) fn parse_error(err: sled::Error) -> StoreError {
    match err {
        sled::Error::Unsupported(message) => StoreError::config(format!("sled: {message}")),
        // An I/O error on a local disk (full, read-only, vanished) will not heal by retrying
        // the same call a moment later, so it is not `Unavailable`.
        other => StoreError::Backend {
            store: STORE,
            source: Box::new(other),
        },
    }
}

/// Maps the outcome of a transaction whose closure aborts with a `StoreError`.
pub(crate) fn parse_transaction_error(err: TransactionError<StoreError>) -> StoreError {
    match err {
        TransactionError::Abort(err) => err,
        TransactionError::Storage(err) => parse_error(err),
    }
}

/// Maps a record that cannot be decoded: the database holds something we did not write.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        store: STORE,
        source: format!("corrupt {what}: {detail}").into(),
    }
}
