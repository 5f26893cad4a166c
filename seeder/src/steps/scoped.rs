//! Statements over a batch of tenants, with or without PostgreSQL's
//! tenant-isolation policies.
//!
//! Where no policy applies to the role on a table (MySQL/MariaDB, SQLite,
//! PostgreSQL as the owner, tables without a policy), one statement covers
//! the batch: `tenant_id IN (...)` with bound ids. Where one applies, a
//! statement sees and writes only the rows of the tenant in
//! `app.tenant_id`, so each tenant gets its own statement with its own
//! setting; all of them travel as one message (PostgreSQL's simple query
//! protocol runs several statements in order), so the batch still costs
//! one round trip. Ids are then written as literals (`E'...'`, quotes and
//! backslashes escaped), never spliced unescaped.

use sea_orm::sea_query::PostgresQueryBuilder;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QueryResult, QueryTrait, Select, Statement,
};

use crate::db::Txn;
use crate::queries::sql::Query;
use crate::table::Table;

/// The seeded tables whose row level security applies to the connected
/// role (PostgreSQL's own answer: ownership, FORCE, BYPASSRLS and
/// superuser taken into account); none on other backends.
#[derive(Debug, Clone, Default)]
pub struct Guards {
    guarded: Vec<Table>,
}

impl Guards {
    /// Asks the server once per batch (a policy may be added between runs),
    /// in one statement for the five tables.
    pub async fn read(txn: &Txn) -> Result<Guards, DbErr> {
        if txn.get_database_backend() != DbBackend::Postgres {
            return Ok(Guards::default());
        }
        let columns: Vec<String> = (0..Table::ALL.len())
            .map(|i| format!("row_security_active(to_regclass(${})) AS t{i}", i + 1))
            .collect();
        let row = txn
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!("SELECT {}", columns.join(", ")),
                Table::ALL.map(|t| t.table_name().into()),
            ))
            .await?;
        let mut guarded = Vec::new();
        if let Some(row) = row {
            for (i, table) in Table::ALL.into_iter().enumerate() {
                if row
                    .try_get::<Option<bool>>("", &format!("t{i}"))?
                    .unwrap_or(false)
                {
                    guarded.push(table);
                }
            }
        }
        Ok(Guards { guarded })
    }

    pub fn applies(&self, table: Table) -> bool {
        self.guarded.contains(&table)
    }
}

/// Whether row level security applies to the role on `table` (PostgreSQL).
pub async fn row_security_active(txn: &Txn, table: &str) -> Result<bool, DbErr> {
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT row_security_active(to_regclass($1)) AS active",
            [table.into()],
        ))
        .await?;
    Ok(match row {
        Some(row) => row.try_get::<Option<bool>>("", "active")?.unwrap_or(false),
        None => false,
    })
}

/// A PostgreSQL string literal for any text, whatever
/// `standard_conforming_strings` is.
pub fn pg_literal(value: &str) -> String {
    format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// `SET LOCAL app.tenant_id = '<tenant>'; ` for a message.
fn scope_prefix(tenant: &str) -> String {
    format!(
        "SET LOCAL {} = {}; ",
        entity::tenant_scope::TENANT_SETTING,
        pg_literal(tenant)
    )
}

/// The models of `select` for every tenant of `tenants`, filtered on
/// `tenant_column`.
pub async fn models<E>(
    txn: &Txn,
    guarded: bool,
    tenants: &[String],
    tenant_column: E::Column,
    select: impl Fn(Select<E>) -> Select<E>,
) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: FromQueryResult,
{
    if tenants.is_empty() {
        return Ok(Vec::new());
    }
    if !guarded {
        return select(E::find().filter(tenant_column.is_in(tenants.iter().cloned())))
            .all(txn)
            .await;
    }
    let mut message = String::new();
    for tenant in tenants {
        message.push_str(&scope_prefix(tenant));
        let one = select(E::find().filter(tenant_column.eq(tenant.as_str())));
        message.push_str(&one.into_query().to_string(PostgresQueryBuilder));
        message.push_str("; ");
    }
    let rows = txn
        .query_all_raw(Statement::from_string(DbBackend::Postgres, message))
        .await?;
    rows.iter()
        .map(|row| E::Model::from_query_result(row, ""))
        .collect()
}

/// The rows of `sql` for every tenant, where `sql` holds one
/// `{tenants:alias}` marker for the tenant filter and no other values.
pub async fn rows(
    txn: &Txn,
    guarded: bool,
    tenants: &[String],
    alias: &str,
    sql: &str,
) -> Result<Vec<QueryResult>, DbErr> {
    if tenants.is_empty() {
        return Ok(Vec::new());
    }
    if !guarded {
        return Query::new(sql).tenants(alias, Some(tenants)).all(txn).await;
    }
    let marker = format!("{{tenants:{alias}}}");
    let mut message = String::new();
    for tenant in tenants {
        message.push_str(&scope_prefix(tenant));
        let filter = format!("{alias}.tenant_id = {}", pg_literal(tenant));
        message.push_str(&sql.replacen(&marker, &filter, 1));
        message.push_str("; ");
    }
    txn.query_all_raw(Statement::from_string(DbBackend::Postgres, message))
        .await
}

/// Runs each tenant's statement (SQL text with its values written in, from
/// `for_tenant`, `None` for a tenant with nothing to do) with that
/// tenant's `app.tenant_id` in force where `guarded`, in one message on
/// PostgreSQL; returns the rows affected in all.
pub async fn execute_per_tenant(
    txn: &Txn,
    guarded: bool,
    tenants: &[String],
    for_tenant: impl Fn(&str) -> Option<String>,
) -> Result<u64, DbErr> {
    let backend = txn.get_database_backend();
    let mut message = String::new();
    let mut affected = 0;
    for tenant in tenants {
        let Some(sql) = for_tenant(tenant) else {
            continue;
        };
        if backend != DbBackend::Postgres {
            affected += txn.execute_unprepared(&sql).await?.rows_affected();
            continue;
        }
        if guarded {
            message.push_str(&scope_prefix(tenant));
        }
        message.push_str(&sql);
        message.push_str("; ");
    }
    if !message.is_empty() {
        affected += txn.execute_unprepared(&message).await?.rows_affected();
    }
    Ok(affected)
}
