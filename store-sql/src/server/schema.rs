//! Versioned migrations, safe when several processes open the same database at once (two
//! gateway nodes starting together): each dialect serialises them on a server-side lock.

use sqlx::{AssertSqlSafe, Database, Executor};
use store_core::Result;

use crate::ident::TableName;

use super::config::Dialect;
use super::dialect::{migrations, qualified};
use super::error::parse_error;
use super::pool::{NativePool, on_pool};

/// PostgreSQL advisory-lock key for migrations ("connstor" in ASCII).
#[cfg(feature = "postgres")]
const PG_LOCK_KEY: i64 = 0x636f_6e6e_7374_6f72;
/// MySQL named lock for migrations.
#[cfg(feature = "mysql")]
const MYSQL_LOCK: &str = "store_migrations";
/// Seconds a MySQL opener waits for another's migration.
#[cfg(feature = "mysql")]
const MYSQL_LOCK_WAIT_S: i64 = 30;

/// Brings `table` up to the newest migration.
pub(crate) async fn migrate(
    pool: &NativePool,
    schema: Option<&TableName>,
    table: &TableName,
) -> Result<()> {
    match pool {
        #[cfg(feature = "postgres")]
        NativePool::Postgres(pool) => {
            let dialect = Dialect::Postgres;
            let err = |e| parse_error(dialect.backend(), e);
            // A transaction-scoped advisory lock: released by commit or rollback, even if
            // this process dies half-way. PostgreSQL DDL is transactional, so a failed
            // migration leaves nothing behind.
            let mut tx = pool.begin().await.map_err(err)?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PG_LOCK_KEY)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            if let Some(schema) = schema {
                sqlx::query(AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}"
                )))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
            }
            apply::<sqlx::Postgres>(&mut *tx, dialect, schema, table).await?;
            tx.commit().await.map_err(err)
        }
        #[cfg(feature = "mysql")]
        NativePool::Mysql(pool) => {
            let (dialect, store) = (Dialect::Mysql, Dialect::Mysql.backend());
            let err = |e| parse_error(store, e);
            let mut conn = pool.acquire().await.map_err(err)?;
            // MySQL DDL commits implicitly, so a session-level named lock serialises
            // openers instead; it is released below, or when the connection closes.
            let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, ?)")
                .bind(MYSQL_LOCK)
                .bind(MYSQL_LOCK_WAIT_S)
                .fetch_one(&mut *conn)
                .await
                .map_err(err)?;
            if got != Some(1) {
                return Err(store_core::StoreError::Unavailable {
                    store,
                    source: "timed out waiting for another process's migration".into(),
                });
            }
            let applied = apply::<sqlx::MySql>(&mut *conn, dialect, schema, table).await;
            let released = sqlx::query("SELECT RELEASE_LOCK(?)")
                .bind(MYSQL_LOCK)
                .execute(&mut *conn)
                .await;
            applied?;
            released.map(|_| ()).map_err(err)
        }
    }
}

/// Applies the migrations not yet in the ledger, on one connection of either native driver
/// (the bounds say what the code needs of it: text and integers in, an integer out).
async fn apply<DB>(
    conn: &mut DB::Connection,
    dialect: Dialect,
    schema: Option<&TableName>,
    table: &TableName,
) -> Result<()>
where
    DB: Database,
    DB::Arguments: sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let store = dialect.backend();
    let err = |e| parse_error(store, e);
    let ledger = qualified(schema, &TableName::new("store_migrations")?);
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS {ledger} (
             table_name VARCHAR(128) NOT NULL,
             version BIGINT NOT NULL,
             PRIMARY KEY (table_name, version)
         )"
    )))
    .execute(&mut *conn)
    .await
    .map_err(err)?;
    let placeholder = match dialect {
        Dialect::Postgres => "$1",
        Dialect::Mysql => "?",
    };
    let mut applied: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT COALESCE(MAX(version), 0) FROM {ledger} WHERE table_name = {placeholder}"
    )))
    .bind(table.as_str())
    .fetch_one(&mut *conn)
    .await
    .map_err(err)?;
    // A table dropped by hand (or restored from a backup without it) leaves its ledger
    // rows behind: the ledger would say "done" and every call would fail on a missing
    // table. Forget them, and migrate from the start.
    if applied > 0 {
        let (count_sql, name) = table_count_query(dialect, schema, table);
        let found: i64 = sqlx::query_scalar(count_sql)
            .bind(name.as_str())
            .fetch_one(&mut *conn)
            .await
            .map_err(err)?;
        if found == 0 {
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {ledger} WHERE table_name = {placeholder}"
            )))
            .bind(table.as_str())
            .execute(&mut *conn)
            .await
            .map_err(err)?;
            applied = 0;
        }
    }
    let insert = match dialect {
        Dialect::Postgres => format!("INSERT INTO {ledger} (table_name, version) VALUES ($1, $2)"),
        Dialect::Mysql => format!("INSERT INTO {ledger} (table_name, version) VALUES (?, ?)"),
    };
    for (version, statements) in migrations(dialect, schema, table) {
        if version <= applied {
            continue;
        }
        for statement in statements {
            sqlx::query(AssertSqlSafe(statement))
                .execute(&mut *conn)
                .await
                .map_err(err)?;
        }
        sqlx::query(AssertSqlSafe(insert.clone()))
            .bind(table.as_str())
            .bind(version)
            .execute(&mut *conn)
            .await
            .map_err(err)?;
    }
    Ok(())
}

/// The statement that counts `table` (1 when it exists in `schema`, else where an
/// unqualified name resolves; 0 when it does not), and the name it binds.
fn table_count_query(
    dialect: Dialect,
    schema: Option<&TableName>,
    table: &TableName,
) -> (&'static str, String) {
    match dialect {
        // COUNT of the one regclass: 1 when the name resolves to a table, else 0.
        Dialect::Postgres => ("SELECT COUNT(to_regclass($1))", qualified(schema, table)),
        Dialect::Mysql => (
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?",
            table.to_string(),
        ),
    }
}

/// Drops `table` and forgets its migrations (tests and tools clean up with it).
pub(crate) async fn drop_table(
    pool: &NativePool,
    schema: Option<&TableName>,
    table: &TableName,
) -> Result<()> {
    let dialect = pool.dialect();
    let ledger = qualified(schema, &TableName::new("store_migrations")?);
    let drop_sql = format!("DROP TABLE IF EXISTS {}", qualified(schema, table));
    let delete = match dialect {
        Dialect::Postgres => format!("DELETE FROM {ledger} WHERE table_name = $1"),
        Dialect::Mysql => format!("DELETE FROM {ledger} WHERE table_name = ?"),
    };
    on_pool!(pool, pool => async {
        sqlx::query(AssertSqlSafe(drop_sql)).execute(pool).await?;
        sqlx::query(AssertSqlSafe(delete))
            .bind(table.as_str())
            .execute(pool)
            .await
            .map(drop)
    }
    .await)
    .map_err(|e| parse_error(dialect.backend(), e))?;
    Ok(())
}
