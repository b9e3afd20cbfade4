//! The one portable error type every backend maps its native errors into.
//!
//! Callers branch on the variant (or on [`StoreError::is_temporary`]) and never on a
//! backend's native error: a gateway that retries on `Unavailable` works the same on
//! sled, PostgreSQL or S3.

use std::error::Error as StdError;

/// A boxed native error kept as the `source` of a [`StoreError`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Result alias used throughout the store crates.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What went wrong, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The connection is absent or its lease has expired (only `renew` reports this;
    /// `get` and `remove` answer "nothing there" without an error).
    #[error("connection `{id}` not found or its lease has expired")]
    NotFound {
        /// The id that was asked for.
        id: String,
    },

    /// The caller passed a value the contract forbids (bad id, room, endpoint,
    /// metadata, ttl, page size or page token). Nothing was written.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// Which argument was rejected, e.g. `"connection id"`.
        what: &'static str,
        /// Why, in words a user can fix.
        reason: String,
    },

    /// A concurrent writer won a conditional write (e.g. a renew raced a remove).
    #[error("conflict: {message}")]
    Conflict {
        /// What conflicted.
        message: String,
    },

    /// The storage refused our credentials or permissions.
    #[error("permission denied by {store}: {source}")]
    PermissionDenied {
        /// The backend's name, e.g. `"s3"`.
        store: &'static str,
        /// The native error.
        #[source]
        source: BoxError,
    },

    /// The storage could not be reached or asked us to slow down. Retrying later may work.
    #[error("{store} is unavailable (temporary): {source}")]
    Unavailable {
        /// The backend's name.
        store: &'static str,
        /// The native error.
        #[source]
        source: BoxError,
    },

    /// The store was configured wrongly (bad URL, unknown option, backend not compiled in).
    #[error("configuration error: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },

    /// Any other failure of the backend, kept with its native error.
    #[error("{store} backend error: {source}")]
    Backend {
        /// The backend's name.
        store: &'static str,
        /// The native error.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// True when the same call may succeed if retried later (server down, throttled).
    pub fn is_temporary(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    /// Builds an [`StoreError::InvalidInput`].
    pub fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        StoreError::InvalidInput {
            what,
            reason: reason.into(),
        }
    }

    /// Builds a [`StoreError::Config`].
    pub fn config(message: impl Into<String>) -> Self {
        StoreError::Config {
            message: message.into(),
        }
    }

    /// Builds a [`StoreError::NotFound`].
    pub fn not_found(id: impl Into<String>) -> Self {
        StoreError::NotFound { id: id.into() }
    }

    /// A short, stable name of the variant, for comparing outcomes across backends.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::InvalidInput { .. } => ErrorKind::InvalidInput,
            StoreError::Conflict { .. } => ErrorKind::Conflict,
            StoreError::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            StoreError::Unavailable { .. } => ErrorKind::Unavailable,
            StoreError::Config { .. } => ErrorKind::Config,
            StoreError::Backend { .. } => ErrorKind::Backend,
        }
    }
}

/// The variant of a [`StoreError`] without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`StoreError::NotFound`].
    NotFound,
    /// See [`StoreError::InvalidInput`].
    InvalidInput,
    /// See [`StoreError::Conflict`].
    Conflict,
    /// See [`StoreError::PermissionDenied`].
    PermissionDenied,
    /// See [`StoreError::Unavailable`].
    Unavailable,
    /// See [`StoreError::Config`].
    Config,
    /// See [`StoreError::Backend`].
    Backend,
}

impl ErrorKind {
    /// The kind in snake case (`not_found`, `unavailable`, …): a metric label, a log field.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Config => "config",
            ErrorKind::Backend => "backend",
        }
    }
}
