//! Versioned migrations of one SQLite table.

use rusqlite::{Connection, TransactionBehavior, params};

use crate::ident::TableName;

use super::error::parse_error;

/// The migrations, in order; each entry is `(version, statements)` with `{t}` standing for
/// the table. Append only: an applied version is never edited.
fn migrations(t: &TableName) -> Vec<(i64, String)> {
    vec![(
        1,
        format!(
            "CREATE TABLE {t} (
                 id TEXT NOT NULL PRIMARY KEY,
                 room TEXT NOT NULL,
                 endpoint TEXT NOT NULL,
                 metadata TEXT NOT NULL,
                 expires_at INTEGER NOT NULL
             ) WITHOUT ROWID;
             CREATE INDEX {t}_room ON {t} (room, id, expires_at, endpoint);
             CREATE INDEX {t}_exp ON {t} (expires_at);"
        ),
    )]
}

/// Applies every migration the table has not seen yet, in one immediate (write-locked)
/// transaction, so two processes opening the same file cannot both apply one.
pub(crate) fn migrate(conn: &mut Connection, table: &TableName) -> store_core::Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(parse_error)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS store_migrations (
             table_name TEXT NOT NULL,
             version INTEGER NOT NULL,
             PRIMARY KEY (table_name, version)
         )",
    )
    .map_err(parse_error)?;
    let mut applied: i64 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM store_migrations WHERE table_name = ?1",
            params![table.as_str()],
            |row| row.get(0),
        )
        .map_err(parse_error)?;
    // A table dropped by hand leaves its ledger rows behind: forget them, and migrate
    // from the start (else every call would fail on a missing table).
    let exists: bool = tx
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
            params![table.as_str()],
            |row| row.get(0),
        )
        .map_err(parse_error)?;
    if applied > 0 && !exists {
        tx.execute(
            "DELETE FROM store_migrations WHERE table_name = ?1",
            params![table.as_str()],
        )
        .map_err(parse_error)?;
        applied = 0;
    }
    for (version, sql) in migrations(table) {
        if version <= applied {
            continue;
        }
        tx.execute_batch(&sql).map_err(parse_error)?;
        tx.execute(
            "INSERT INTO store_migrations (table_name, version) VALUES (?1, ?2)",
            params![table.as_str(), version],
        )
        .map_err(parse_error)?;
    }
    tx.commit().map_err(parse_error)
}

/// Drops the table and forgets its migrations (tests and tools clean up with it).
pub(crate) fn drop_table(conn: &mut Connection, table: &TableName) -> store_core::Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(parse_error)?;
    tx.execute_batch(&format!("DROP TABLE IF EXISTS {table}"))
        .map_err(parse_error)?;
    tx.execute(
        "DELETE FROM store_migrations WHERE table_name = ?1",
        params![table.as_str()],
    )
    .map_err(parse_error)?;
    tx.commit().map_err(parse_error)
}
