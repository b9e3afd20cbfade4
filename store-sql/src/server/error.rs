//! The one place sqlx errors become [`StoreError`]s, for both dialects.

use store_core::StoreError;

/// Maps a native sqlx error from the `store` backend.
pub(crate) fn parse_error(store: &'static str, err: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    let temporary = |err: sqlx::Error| StoreError::Unavailable {
        store,
        source: Box::new(err),
    };
    match err {
        // Cannot reach the server, or every connection is busy past the acquire timeout.
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => temporary(err),
        E::Configuration(source) => {
            StoreError::config(format!("{store}: invalid connection settings: {source}"))
        }
        E::Database(ref db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            match classify_sqlstate(&code) {
                Class::Temporary => temporary(err),
                Class::Conflict => StoreError::Conflict {
                    message: format!("{store}: {db}"),
                },
                Class::Denied => StoreError::PermissionDenied {
                    store,
                    source: Box::new(err),
                },
                Class::Other => StoreError::Backend {
                    store,
                    source: Box::new(err),
                },
            }
        }
        other => StoreError::Backend {
            store,
            source: Box::new(other),
        },
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Class {
    Temporary,
    Conflict,
    Denied,
    Other,
}

/// Classifies a SQLSTATE (both PostgreSQL and MySQL report one).
fn classify_sqlstate(code: &str) -> Class {
    match code {
        // serialization failure / deadlock (MySQL reports its deadlock 1213 as 40001 too),
        // lock not available, too many connections, server shutting down or starting.
        "40001" | "40P01" | "55P03" | "53300" | "57P01" | "57P02" | "57P03" => Class::Temporary,
        // MySQL: 1040 too many connections reports 08004.
        c if c.starts_with("08") => Class::Temporary,
        c if c.starts_with("23") => Class::Conflict,
        // insufficient privilege; invalid authorization (bad password: MySQL 1045 is 28000).
        "42501" => Class::Denied,
        c if c.starts_with("28") => Class::Denied,
        _ => Class::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_are_classified() {
        assert_eq!(classify_sqlstate("40P01"), Class::Temporary);
        assert_eq!(classify_sqlstate("08006"), Class::Temporary);
        assert_eq!(classify_sqlstate("23505"), Class::Conflict);
        assert_eq!(classify_sqlstate("28P01"), Class::Denied);
        assert_eq!(classify_sqlstate("42P01"), Class::Other);
    }

    #[test]
    fn pool_timeouts_are_temporary() {
        assert!(parse_error("postgres", sqlx::Error::PoolTimedOut).is_temporary());
    }
}
