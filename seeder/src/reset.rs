//! Deleting the dataset's tenants: their status rows, campaigns, firmware,
//! devices and tenant row, one transaction per tenant, so a test can start
//! from a clean slate without touching anyone else's rows.

use sea_orm::{ConnectionTrait, DbErr, Statement};

use crate::db::{Access, Db};
use crate::error::SeedError;
use crate::report::ResetReport;
use crate::table::Table;

/// Deletes (or, with `dry_run`, counts) the rows of `tenants` in the tables
/// that exist (`present`), dependants first: status rows before their
/// campaigns, campaigns before the firmware they point at.
pub async fn reset(
    db: &Db,
    present: &[&'static str],
    tenants: &[String],
    dry_run: bool,
) -> Result<ResetReport, SeedError> {
    let mut report = ResetReport {
        dry_run,
        ..ResetReport::default()
    };
    for tenant in tenants {
        reset_tenant(db, present, tenant, dry_run, &mut report)
            .await
            .map_err(|source| SeedError::Database {
                doing: format!("resetting tenant {tenant} (nothing of this tenant was deleted)"),
                tenant: Some(tenant.clone()),
                table: None,
                source,
            })?;
        report.tenants.push(tenant.clone());
    }
    Ok(report)
}

async fn reset_tenant(
    db: &Db,
    present: &[&'static str],
    tenant: &str,
    dry_run: bool,
    report: &mut ResetReport,
) -> Result<(), DbErr> {
    let access = if dry_run { Access::Read } else { Access::Write };
    let txn = db.begin(access, Some(tenant)).await?;
    let backend = txn.get_database_backend();
    let placeholder = if backend == sea_orm::DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    for table in Table::ALL.iter().rev() {
        let name = table.table_name();
        if !present.contains(&name) {
            continue;
        }
        // `name` is one of our own table names; the tenant id is bound.
        let n = if dry_run {
            let row = txn
                .query_one_raw(Statement::from_sql_and_values(
                    backend,
                    format!("SELECT COUNT(*) AS n FROM {name} WHERE tenant_id = {placeholder}"),
                    [tenant.into()],
                ))
                .await?;
            row.map(|r| r.try_get::<i64>("", "n"))
                .transpose()?
                .unwrap_or(0)
                .max(0) as u64
        } else {
            txn.execute_raw(Statement::from_sql_and_values(
                backend,
                format!("DELETE FROM {name} WHERE tenant_id = {placeholder}"),
                [tenant.into()],
            ))
            .await?
            .rows_affected()
        };
        *report.deleted.entry(*table).or_default() += n;
    }
    txn.commit().await
}
