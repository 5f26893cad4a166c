//! The platform's own schema, as its plain-SQL migrations create it: the
//! five OTA tables without a `seaql_migrations` table, with profile columns
//! the entity crate does not know. The SQL lives in `tests/fixtures/`
//! (`platform_schema.{postgres,mysql,sqlite}.sql`); this module loads it
//! into a test's database, statement by statement, as a platform team's
//! migration tool would.
//!
//! Incompatible variants are made by editing the fixture text
//! ([`edit_table`]) before loading it, or by running SQL after loading it,
//! so every variant starts from the one reviewed fixture.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

use crate::{Backend, TestDb};

/// The five tables the fixtures create, in dependency order.
pub const TABLES: [&str; 5] = [
    "tenants",
    "device_registry",
    "firmware_versions",
    "ota_campaigns",
    "ota_device_status",
];

/// The fixture SQL for a backend.
pub fn fixture(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => include_str!("../fixtures/platform_schema.postgres.sql"),
        Backend::MySql => include_str!("../fixtures/platform_schema.mysql.sql"),
        Backend::Sqlite => include_str!("../fixtures/platform_schema.sqlite.sql"),
    }
}

/// Loads the backend's fixture into the test's database (on PostgreSQL,
/// into the first schema of the connection's search_path, as plain
/// `psql -f` would).
pub async fn load(db: &TestDb) -> anyhow::Result<()> {
    load_sql(db, fixture(db.backend), None).await
}

/// Loads the PostgreSQL fixture into `schema` (created if missing), whatever
/// the database's search_path says.
pub async fn load_into_schema(db: &TestDb, schema: &str) -> anyhow::Result<()> {
    load_sql(db, fixture(db.backend), Some(schema)).await
}

/// Loads `sql` (a fixture, possibly edited) statement by statement. With
/// `schema` (PostgreSQL only), the statements run with
/// `search_path = schema`, so the unqualified names of the fixture land
/// there. On PostgreSQL and SQLite it is one transaction: a broken variant
/// leaves nothing behind. MariaDB commits each DDL statement by itself.
pub async fn load_sql(db: &TestDb, sql: &str, schema: Option<&str>) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let statements = statements(sql);
    anyhow::ensure!(!statements.is_empty(), "the fixture holds no statement");
    match db.backend {
        Backend::MySql => {
            anyhow::ensure!(schema.is_none(), "schemas are a PostgreSQL notion");
            for stmt in &statements {
                conn.execute_unprepared(stmt)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}\nin fixture statement:\n{stmt}"))?;
            }
        }
        Backend::Postgres | Backend::Sqlite => {
            // A transaction pins one pooled connection, so SET LOCAL
            // governs every statement that follows it.
            let txn = conn.begin().await?;
            if let Some(schema) = schema {
                anyhow::ensure!(
                    db.backend == Backend::Postgres,
                    "schemas are a PostgreSQL notion"
                );
                let schema = identifier(schema)?;
                txn.execute_unprepared(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema}"
                ))
                .await?;
            }
            for stmt in &statements {
                txn.execute_unprepared(stmt)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}\nin fixture statement:\n{stmt}"))?;
            }
            txn.commit().await?;
        }
    }
    conn.close().await?;
    Ok(())
}

/// A plain lower-case SQL identifier, checked so that it can be put into
/// SQL text unquoted.
fn identifier(name: &str) -> anyhow::Result<&str> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    anyhow::ensure!(ok, "not a plain identifier: {name:?}");
    Ok(name)
}

/// Splits SQL text into statements at semicolons outside string literals,
/// dropping `--` comments and empty statements.
pub fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_string = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            current.push(c);
            // '' inside a literal is an escaped quote; the next quote (the
            // second of the pair) reopens the literal below.
            if c == '\'' {
                in_string = false;
            }
            continue;
        }
        match c {
            '\'' => {
                in_string = true;
                current.push(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            ';' => {
                let stmt = current.trim();
                if !stmt.is_empty() {
                    out.push(stmt.to_owned());
                }
                current.clear();
            }
            _ => current.push(c),
        }
    }
    let stmt = current.trim();
    if !stmt.is_empty() {
        out.push(stmt.to_owned());
    }
    out
}

/// Replaces `from` with `to` inside the `CREATE TABLE table (...)` statement
/// of a fixture. Fails unless `from` occurs there exactly once, so a
/// variant can never silently test the unedited fixture.
pub fn edit_table(sql: &str, table: &str, from: &str, to: &str) -> anyhow::Result<String> {
    let head = format!("CREATE TABLE {table} (");
    let start = sql
        .find(&head)
        .ok_or_else(|| anyhow::anyhow!("no `{head}` in the fixture"))?;
    let len = sql[start..]
        .find(";")
        .ok_or_else(|| anyhow::anyhow!("`{head}` has no end"))?;
    let body = &sql[start..start + len];
    let found = body.matches(from).count();
    anyhow::ensure!(
        found == 1,
        "`{from}` occurs {found} times in CREATE TABLE {table}, expected once"
    );
    Ok(format!(
        "{}{}{}",
        &sql[..start],
        body.replacen(from, to, 1),
        &sql[start + len..]
    ))
}

/// Every table of the database, as `schema.table` on PostgreSQL (all
/// schemas but the system ones) and as the bare name elsewhere; sorted.
pub async fn table_names(conn: &DatabaseConnection) -> anyhow::Result<Vec<String>> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables \
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
        }
        DbBackend::MySql => {
            "SELECT CAST(table_name AS CHAR) AS name FROM information_schema.tables \
             WHERE table_schema = DATABASE() "
        }
        _ => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' "
        }
    };
    let rows = conn
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    let mut names = rows
        .iter()
        .map(|r| Ok(r.try_get::<String>("", "name")?))
        .collect::<anyhow::Result<Vec<String>>>()?;
    // Byte order, whatever the server's collation.
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn statements_split_outside_literals_and_comments() {
        let sql = "-- a comment; with a semicolon\nCREATE TABLE t (a TEXT DEFAULT 'x;y''z');\n\n\
                   INSERT INTO t VALUES ('--not a comment');";
        assert_eq!(
            statements(sql),
            [
                "CREATE TABLE t (a TEXT DEFAULT 'x;y''z')",
                "INSERT INTO t VALUES ('--not a comment')"
            ]
        );
    }

    #[test]
    fn every_fixture_creates_the_five_tables() {
        for backend in [Backend::Postgres, Backend::MySql, Backend::Sqlite] {
            let stmts = statements(fixture(backend));
            for table in TABLES {
                assert_eq!(
                    stmts
                        .iter()
                        .filter(|s| s.starts_with(&format!("CREATE TABLE {table} (")))
                        .count(),
                    1,
                    "{table} in the {} fixture",
                    backend.name()
                );
            }
            assert!(
                stmts.iter().all(|s| !s.contains("seaql_migrations")),
                "the platform has no migration table of ours"
            );
        }
    }

    #[test]
    fn edit_table_insists_on_one_match_inside_the_table() {
        let sql = fixture(Backend::Postgres);
        // `status TEXT NOT NULL DEFAULT 'ACTIVE'` is in tenants and
        // device_registry: the edit touches only the named table.
        let edited = edit_table(
            sql,
            "tenants",
            "    status TEXT NOT NULL DEFAULT 'ACTIVE',\n",
            "",
        )
        .expect("edit");
        assert_eq!(
            edited
                .matches("status TEXT NOT NULL DEFAULT 'ACTIVE'")
                .count(),
            sql.matches("status TEXT NOT NULL DEFAULT 'ACTIVE'").count() - 1
        );
        assert!(edit_table(sql, "tenants", "no such text", "").is_err());
        assert!(edit_table(sql, "no_such_table", "id", "").is_err());
    }
}
