//! The one function that turns this backend's native errors into [`StoreError`]s.

use std::io;

use store_core::StoreError;

/// The backend's name in errors and reports.
pub(crate) const BACKEND: &str = "dir";

/// Maps a filesystem error. A full disk or a busy file may clear up (`Unavailable`, so
/// callers retry); missing permissions will not (`PermissionDenied`); anything else is a
/// `Backend` error that keeps the native one as its source.
pub fn map_io_error(error: io::Error) -> StoreError {
    match error.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            StoreError::PermissionDenied {
                store: BACKEND,
                source: Box::new(error),
            }
        }
        io::ErrorKind::StorageFull
        | io::ErrorKind::QuotaExceeded
        | io::ErrorKind::ResourceBusy
        | io::ErrorKind::Interrupted
        | io::ErrorKind::WouldBlock
        | io::ErrorKind::TimedOut => StoreError::Unavailable {
            store: BACKEND,
            source: Box::new(error),
        },
        _ => StoreError::Backend {
            store: BACKEND,
            source: Box::new(error),
        },
    }
}

/// A file this store wrote does not parse: somebody else wrote in its directory.
pub(crate) fn corrupt(path: &std::path::Path, why: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        store: BACKEND,
        source: format!(
            "{} does not hold what this store writes: {why}",
            path.display()
        )
        .into(),
    }
}
