//! The SQL text of each call, per dialect. Table and schema names are validated
//! [`TableName`]s, the only text ever spliced in; every value is a bound parameter.
//!
//! # PostgreSQL's room reads and the expiry index
//!
//! The room reads (`list`, `room`, `count`) write their lease test as `expires_at + 0 >
//! $n`, an expression the expiry index cannot serve, so their plans never use that index:
//! they read the room's range of the room index, or the whole table when the room is most
//! of it. sqlx prepares every statement, and from a statement's sixth run PostgreSQL may
//! keep one *generic* plan, made without the parameters' values. That plan guesses that
//! `expires_at > $n` keeps a third of the table, and `room = $1` the table's rows over its
//! number of rooms; in an application of a few rooms (the bench's three or four, the demo
//! chat's one) it then prefers, for the whole-room read and the count, the expiry index:
//! every live connection of every room, fetched from the heap and filtered by room (and for
//! the read, sorted; the page's `LIMIT` steers it to the room index's order instead, but it
//! writes `+ 0` as well, so no plan of it hangs on that guess). On a room of 1,000 in a
//! table of 4,000 that plan took 2.4–3.2 ms where the room index took 0.2–0.3 ms, and it
//! grows with the whole table, not the room. Nearly every row is live, so the expiry index
//! never helps a room read; the sweep still uses it. The test
//! `room_reads_never_plan_the_expiry_index` holds this, and shows the trap on the plain
//! `expires_at > $n` beside it.

use std::sync::Arc;

use crate::ident::TableName;

use super::config::Dialect;

/// The statements of one store, built once when it opens.
#[derive(Debug)]
pub(crate) struct Queries {
    pub upsert: Arc<str>,
    pub renew: Arc<str>,
    pub lock_row: Arc<str>,
    pub delete: Arc<str>,
    pub get: Arc<str>,
    pub list: Arc<str>,
    /// A whole room in one statement (`list_room`).
    pub room: Arc<str>,
    pub count: Arc<str>,
    pub sweep: Arc<str>,
}

/// `schema.table` or `table`.
pub(crate) fn qualified(schema: Option<&TableName>, table: &TableName) -> String {
    match schema {
        Some(schema) => format!("{schema}.{table}"),
        None => table.to_string(),
    }
}

impl Queries {
    /// Queries on table `t` (schema-qualified if it has one) whose room index is `room_index`.
    pub fn new(dialect: Dialect, t: &str, room_index: &str) -> Self {
        let q = |text: String| -> Arc<str> { Arc::from(text) };
        match dialect {
            Dialect::Postgres => Queries {
                upsert: q(format!(
                    "INSERT INTO {t} (id, room, endpoint, metadata, expires_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (id) DO UPDATE SET room = EXCLUDED.room, endpoint = EXCLUDED.endpoint, \
                     metadata = EXCLUDED.metadata, expires_at = EXCLUDED.expires_at"
                )),
                renew: q(format!(
                    "UPDATE {t} SET expires_at = $1 WHERE id = $2 AND expires_at > $3"
                )),
                lock_row: q(format!(
                    "SELECT expires_at FROM {t} WHERE id = $1 FOR UPDATE"
                )),
                delete: q(format!("DELETE FROM {t} WHERE id = $1")),
                get: q(format!(
                    "SELECT room, endpoint, metadata, expires_at FROM {t} WHERE id = $1 AND expires_at > $2"
                )),
                // Room reads test the lease as `expires_at + 0`, an expression the expiry
                // index cannot serve: see the module docs.
                list: q(format!(
                    "SELECT id, endpoint, expires_at FROM {t} \
                     WHERE room = $1 AND id > $2 AND expires_at + 0 > $3 ORDER BY id LIMIT $4"
                )),
                room: q(format!(
                    "SELECT id, endpoint, expires_at FROM {t} \
                     WHERE room = $1 AND expires_at + 0 > $2 ORDER BY id"
                )),
                count: q(format!(
                    "SELECT COUNT(*) FROM {t} WHERE room = $1 AND expires_at + 0 > $2"
                )),
                // SKIP LOCKED: two sweepers (two gateway nodes) share the work instead of
                // waiting on each other's rows.
                sweep: q(format!(
                    "DELETE FROM {t} WHERE id IN \
                     (SELECT id FROM {t} WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
                )),
            },
            Dialect::Mysql => Queries {
                // VALUES() is the upsert form both MySQL and MariaDB accept.
                upsert: q(format!(
                    "INSERT INTO {t} (id, room, endpoint, metadata, expires_at) VALUES (?, ?, ?, ?, ?) \
                     ON DUPLICATE KEY UPDATE room = VALUES(room), endpoint = VALUES(endpoint), \
                     metadata = VALUES(metadata), expires_at = VALUES(expires_at)"
                )),
                renew: q(format!(
                    "UPDATE {t} SET expires_at = ? WHERE id = ? AND expires_at > ?"
                )),
                lock_row: q(format!(
                    "SELECT expires_at FROM {t} WHERE id = ? FOR UPDATE"
                )),
                delete: q(format!("DELETE FROM {t} WHERE id = ?")),
                get: q(format!(
                    "SELECT room, endpoint, metadata, expires_at FROM {t} WHERE id = ? AND expires_at > ?"
                )),
                // FORCE INDEX: left alone, MySQL/MariaDB use the room index by `room` only
                // ("ref") and filter `id > ?` row by row, so every page rescans the room from
                // its start (a 100k walk took 14x the bare SELECT). Forced, it is a range
                // seek on (room, id).
                list: q(format!(
                    "SELECT id, endpoint, expires_at FROM {t} FORCE INDEX ({room_index}) \
                     WHERE room = ? AND id > ? AND expires_at > ? ORDER BY id LIMIT ?"
                )),
                // The room's (room, id) range in id order: no sort.
                room: q(format!(
                    "SELECT id, endpoint, expires_at FROM {t} FORCE INDEX ({room_index}) \
                     WHERE room = ? AND expires_at > ? ORDER BY id"
                )),
                count: q(format!(
                    "SELECT COUNT(*) FROM {t} WHERE room = ? AND expires_at > ?"
                )),
                sweep: q(format!(
                    "DELETE FROM {t} WHERE expires_at <= ? ORDER BY expires_at LIMIT ?"
                )),
            },
        }
    }
}

/// The migrations of one table, in order: `(version, statements)`. Append only.
pub(crate) fn migrations(
    dialect: Dialect,
    schema: Option<&TableName>,
    table: &TableName,
) -> Vec<(i64, Vec<String>)> {
    let t = qualified(schema, table);
    match dialect {
        // "C" collation: ids and rooms order by their bytes, whatever the database locale,
        // so keyset pages agree with every other backend.
        Dialect::Postgres => vec![(
            1,
            vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (
                         id TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,
                         room TEXT COLLATE \"C\" NOT NULL,
                         endpoint TEXT NOT NULL,
                         metadata TEXT NOT NULL,
                         expires_at BIGINT NOT NULL
                     )"
                ),
                format!(
                    "CREATE INDEX IF NOT EXISTS {table}_room ON {t} (room, id) INCLUDE (expires_at, endpoint)"
                ),
                format!("CREATE INDEX IF NOT EXISTS {table}_exp ON {t} (expires_at)"),
            ],
        )],
        // ascii_bin: byte order, and compact index keys.
        Dialect::Mysql => vec![(
            1,
            vec![format!(
                "CREATE TABLE IF NOT EXISTS {t} (
                     id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
                     room VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                     endpoint VARCHAR(512) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
                     metadata TEXT CHARACTER SET utf8mb4 NOT NULL,
                     expires_at BIGINT NOT NULL,
                     KEY {table}_room (room, id, expires_at, endpoint),
                     KEY {table}_exp (expires_at)
                 ) ENGINE = InnoDB"
            )],
        )],
    }
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

    use super::*;

    /// The local test server unless `TEST_POSTGRES_URL` names another.
    fn postgres_url() -> String {
        std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
    }

    /// Runs `sql` (one or more statements) and returns the first column of every row.
    async fn run(conn: &mut PgConnection, sql: String) -> Vec<String> {
        let rows = sqlx::raw_sql(AssertSqlSafe(sql.clone()))
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_else(|err| panic!("{sql}: {err}"));
        rows.iter().map(|row| row.get(0)).collect()
    }

    /// The plan of `sql` prepared as `statement` (parameters `types`) and run with `args`,
    /// its `EXPLAIN` lines joined.
    async fn generic_plan(
        conn: &mut PgConnection,
        statement: &str,
        types: &str,
        sql: &str,
        args: &str,
    ) -> String {
        run(conn, format!("PREPARE {statement}{types} AS {sql}")).await;
        run(conn, format!("EXPLAIN EXECUTE {statement}{args}"))
            .await
            .join("\n")
    }

    /// No room read, planned the way PostgreSQL plans a prepared statement from its sixth
    /// run on (generically, without the parameters' values), reads the expiry index, in
    /// the one-room application where the generic guess favours it most. (What it reads
    /// instead, the room index or the table, is the planner's call on the room's size.)
    #[tokio::test]
    async fn room_reads_never_plan_the_expiry_index() {
        let mut conn = PgConnection::connect(&postgres_url())
            .await
            .expect("a PostgreSQL server at TEST_POSTGRES_URL (or the local default)");
        // A temporary table: this session's own, gone with it.
        let schema = TableName::new("pg_temp").unwrap();
        let table = TableName::new("plan_check").unwrap();
        for (_, statements) in migrations(Dialect::Postgres, Some(&schema), &table) {
            for statement in statements {
                run(&mut conn, statement).await;
            }
        }
        let t = qualified(Some(&schema), &table);
        run(
            &mut conn,
            format!(
                "INSERT INTO {t} SELECT 'c' || g, 'lobby', 'http://127.0.0.1:9001', '{{}}', \
                 2000000000000 + g FROM generate_series(1, 3000) g; \
                 ANALYZE {t}; \
                 SET plan_cache_mode = force_generic_plan"
            ),
        )
        .await;
        let queries = Queries::new(Dialect::Postgres, &t, &format!("{table}_room"));
        let reads = [
            (
                "list",
                &queries.list,
                "(text, text, int8, int8)",
                "('lobby', '', 1000, 1001)",
            ),
            ("room", &queries.room, "(text, int8)", "('lobby', 1000)"),
            ("count", &queries.count, "(text, int8)", "('lobby', 1000)"),
        ];
        let expiry_index = format!("{table}_exp");
        for (name, sql, types, args) in reads {
            let plain = sql.replace("expires_at + 0", "expires_at");
            assert_ne!(&plain, &**sql, "{name} no longer writes `expires_at + 0`");
            let store_plan =
                generic_plan(&mut conn, &format!("{name}_store"), types, sql, args).await;
            assert!(
                !store_plan.contains(&expiry_index),
                "{name} is planned on the expiry index:\n{store_plan}"
            );
            // The table does set the trap: the plain whole-room read and count fall into
            // it. (The plain page does not here: its `LIMIT` steers the plan to the room
            // index's order. It writes `+ 0` too, so no plan of it hangs on that guess.)
            let plain_plan =
                generic_plan(&mut conn, &format!("{name}_plain"), types, &plain, args).await;
            assert!(
                plain_plan.contains(&expiry_index) || name == "list",
                "the plain {name} avoided the expiry index: the test shows nothing"
            );
        }
        conn.close().await.unwrap();
    }
}
