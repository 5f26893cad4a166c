//! The platform's tenant-isolation policies. PostgreSQL only: MySQL/MariaDB
//! and SQLite have no row level security, so there the isolation rests on
//! the application (the seeder scopes every write to one tenant) and this
//! step is deliberately a no-op.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

/// Name of the policy on each OTA table.
pub const POLICY: &str = "tenant_isolation";

pub async fn enable(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    // `table` is one of our own constant table names, never user input.
    let sql = format!(
        "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
         CREATE POLICY {POLICY} ON {table}
             USING (tenant_id = current_setting('app.tenant_id', true))
             WITH CHECK (tenant_id = current_setting('app.tenant_id', true));"
    );
    manager.get_connection().execute_unprepared(&sql).await?;
    Ok(())
}
