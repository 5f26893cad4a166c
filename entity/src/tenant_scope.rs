//! Scoping a transaction to one tenant, for PostgreSQL's row level
//! security.
//!
//! On PostgreSQL the three OTA tables (`firmware_versions`, `ota_campaigns`,
//! `ota_device_status`) have a `tenant_isolation` policy: a row is visible
//! and writable only while `current_setting('app.tenant_id', true)` equals
//! its `tenant_id`. Connected as the platform's application role (which
//! does not own the tables), a query outside such a scope sees **no rows
//! and no error**. The table owner and superusers bypass the policies
//! unless the platform adds `FORCE ROW LEVEL SECURITY`.
//!
//! MySQL/MariaDB and SQLite have no such policies; there these functions
//! open or use the transaction and set nothing.
//!
//! ```no_run
//! # async fn campaigns(db: &sea_orm::DatabaseConnection) -> Result<(), sea_orm::DbErr> {
//! use entity::prelude::*;
//! use sea_orm::{EntityTrait, TransactionTrait};
//!
//! let txn = entity::tenant_scope::begin_for_tenant(db, "tenant-a").await?;
//! let campaigns = OtaCampaigns::find().all(&txn).await?; // tenant-a's only
//! txn.commit().await?;
//! # Ok(()) }
//! ```

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, TransactionTrait};

/// The PostgreSQL setting the `tenant_isolation` policies compare with each
/// row's `tenant_id` (see `migration/src/row_level_security.rs`).
pub const TENANT_SETTING: &str = "app.tenant_id";

/// The statement that scopes the current transaction to `tenant_id` on
/// `backend`: `SELECT set_config('app.tenant_id', $1, true)` on PostgreSQL
/// (transaction-local, so nothing outlives the transaction on a pooled
/// connection), `None` elsewhere.
pub fn scope_statement(backend: DbBackend, tenant_id: &str) -> Option<Statement> {
    (backend == DbBackend::Postgres).then(|| {
        Statement::from_sql_and_values(
            backend,
            format!("SELECT set_config('{TENANT_SETTING}', $1, true)"),
            [tenant_id.into()],
        )
    })
}

/// Scopes the transaction `txn` is in to `tenant_id` until it ends.
///
/// `txn` must be a transaction (or a connection inside one): on a bare
/// pooled connection the setting would last for that one statement only.
///
/// Errors: the database's error for the statement (e.g. the transaction
/// was already aborted).
pub async fn scope_to_tenant<C>(txn: &C, tenant_id: &str) -> Result<(), DbErr>
where
    C: ConnectionTrait,
{
    if let Some(statement) = scope_statement(txn.get_database_backend(), tenant_id) {
        txn.execute_raw(statement).await?;
    }
    Ok(())
}

/// Begins a transaction on `db` (a connection, or a transaction to nest
/// in) scoped to `tenant_id`: what application
/// code connected as a non-owner role needs before reading or writing the
/// OTA tables on PostgreSQL.
///
/// Errors: the database's error for `BEGIN` or for the scoping statement.
pub async fn begin_for_tenant<C>(db: &C, tenant_id: &str) -> Result<C::Transaction, DbErr>
where
    C: TransactionTrait,
{
    let txn = db.begin().await?;
    scope_to_tenant(&txn, tenant_id).await?;
    Ok(txn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_sets_the_policies_setting_for_the_transaction_only() {
        let statement = scope_statement(DbBackend::Postgres, "tenant-a")
            .expect("PostgreSQL has row level security");
        assert_eq!(
            statement.sql,
            "SELECT set_config('app.tenant_id', $1, true)"
        );
        assert_eq!(
            statement.values.map(|v| v.0),
            Some(vec![sea_orm::Value::from("tenant-a")])
        );
    }

    #[test]
    fn other_backends_have_nothing_to_set() {
        assert!(scope_statement(DbBackend::MySql, "tenant-a").is_none());
        assert!(scope_statement(DbBackend::Sqlite, "tenant-a").is_none());
    }
}
