//! Reading numbers back with SQL, one copy for every test: a query's rows,
//! the `n` column of one row or of each, a table's row count, the rows of
//! the five OTA tables.

use sea_orm::{ConnectionTrait, QueryResult, Statement};

use crate::platform_schema::TABLES;

/// Every row `sql` returns.
pub async fn rows(conn: &impl ConnectionTrait, sql: &str) -> anyhow::Result<Vec<QueryResult>> {
    Ok(conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await?)
}

/// Column `n` of `row`: 64-bit (`COUNT(*)`) or a 32-bit `INT`, whatever
/// the backend.
fn n(row: &QueryResult) -> anyhow::Result<i64> {
    row.try_get::<i64>("", "n")
        .or_else(|_| row.try_get::<i32>("", "n").map(i64::from))
        .map_err(Into::into)
}

/// The `n` column of a one-row query (`SELECT COUNT(*) AS n ...`).
pub async fn number(conn: &impl ConnectionTrait, sql: &str) -> anyhow::Result<i64> {
    let row = rows(conn, sql)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no row from {sql}"))?;
    n(&row)
}

/// The `n` column of every row `sql` returns, in order.
pub async fn numbers(conn: &impl ConnectionTrait, sql: &str) -> anyhow::Result<Vec<i64>> {
    rows(conn, sql).await?.iter().map(n).collect()
}

/// [`number`] on a connection of its own to `url`, closed afterwards.
pub async fn number_at(url: &str, sql: &str) -> anyhow::Result<i64> {
    let conn = crate::connect(url).await?;
    let n = number(&conn, sql).await;
    conn.close().await?;
    n
}

/// Rows of `table`, as `conn` sees them (inside its transaction, under
/// its role's policies).
pub async fn table_rows(conn: &impl ConnectionTrait, table: &str) -> anyhow::Result<i64> {
    number(conn, &format!("SELECT COUNT(*) AS n FROM {table}")).await
}

/// Rows per OTA table, in [`TABLES`] order (`prefix` is `""` or a schema
/// and a dot).
pub async fn counts(conn: &impl ConnectionTrait, prefix: &str) -> anyhow::Result<[i64; 5]> {
    let mut out = [0; 5];
    for (slot, table) in out.iter_mut().zip(TABLES) {
        *slot = table_rows(conn, &format!("{prefix}{table}")).await?;
    }
    Ok(out)
}
