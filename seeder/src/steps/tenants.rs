//! `tenants`: each tenant's row with its demo profile. A row already there
//! is left as it is, and reported when its profile differs. The batch's
//! rows are then locked: the lock that makes concurrent seeders of a tenant
//! take turns (`ota_campaigns` has no key to conflict on, so "insert the
//! campaigns that are missing" is only safe while no other seeder of the
//! tenant runs between our read and our insert).

use entity::tenants;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, DbErr, SqlErr, Statement};

use super::batch::{Conflicts, insert_rows};
use super::differing;
use super::found::{Found, read_tenants};
use super::sink::{Batch, Sink};
use crate::report::{DifferingRow, TableCounts};
use crate::table::Table;

/// The batch's missing tenant rows (by index into the batch) and the
/// present ones that differ from the dataset.
pub struct TenantsPlan {
    pub missing: Vec<usize>,
    pub differing: Vec<DifferingRow>,
}

impl TenantsPlan {
    pub fn counts(&self, batch: &Batch<'_>) -> TableCounts {
        TableCounts {
            inserted: self.missing.len() as u64,
            present: (batch.ids.len() - self.missing.len()) as u64,
            ..TableCounts::default()
        }
    }
}

pub fn plan(batch: &Batch<'_>, found: &Found) -> TenantsPlan {
    let mut missing = Vec::new();
    let mut differing_rows = Vec::new();
    for (i, plan) in batch.plans.iter().enumerate() {
        match found.tenants.get(&plan.tenant.tenant_id) {
            Some(stored) => differing_rows.extend(differing::tenant(stored, &plan.tenant)),
            None => missing.push(i),
        }
    }
    TenantsPlan {
        missing,
        differing: differing_rows,
    }
}

fn row(batch: &Batch<'_>, i: usize) -> tenants::ActiveModel {
    let t = &batch.plans[i].tenant;
    // Every column is set today; the update stays so that a column added to
    // the platform's table (and regenerated into the entity) keeps its
    // default rather than breaking the build.
    #[allow(clippy::needless_update)]
    tenants::ActiveModel {
        tenant_id: Set(t.tenant_id.clone()),
        name: Set(t.name.clone()),
        status: Set("ACTIVE".to_owned()),
        contact_email: Set(Some(t.contact_email.clone())),
        country: Set(Some(t.country.clone())),
        data_residency_region: Set(Some(t.region.clone())),
        created_at: Set(t.created.at(batch.now)),
        ..Default::default()
    }
}

/// Inserts the missing rows, then reads back which are there: rows a
/// concurrent seeder inserted meanwhile count as present, rows the database
/// dropped without an error as declined.
pub async fn apply(
    sink: &Sink<'_>,
    batch: &Batch<'_>,
    plan: &TenantsPlan,
) -> Result<TableCounts, DbErr> {
    let wanted = batch.ids.len() as u64;
    if plan.missing.is_empty() {
        // Every row there: nothing to show progress of.
        return Ok(plan.counts(batch));
    }
    let progress = sink.step(Table::Tenants, wanted);
    let rows = plan.missing.iter().map(|&i| row(batch, i));
    let key = [tenants::Column::TenantId];
    // No lock protects a tenant row that is not there yet: a concurrent
    // seeder may insert it between our read and our insert. On PostgreSQL
    // and SQLite the on-conflict clause absorbs that; MySQL has none, so a
    // duplicate there sends the rows again one by one, skipping duplicates
    // (a failed statement leaves a MySQL transaction usable).
    let inserted = match insert_rows(
        sink.txn,
        rows,
        Conflicts::SkipOn(&key),
        &progress,
        sink.interrupt,
    )
    .await
    {
        Ok(n) => n,
        Err(e)
            if sink.backend == DbBackend::MySql
                && matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
                && !(sink.galera && crate::db::rolled_back_by_cluster(sink.txn).await) =>
        {
            let mut n = 0;
            for &i in &plan.missing {
                match insert_rows(
                    sink.txn,
                    [row(batch, i)],
                    Conflicts::SkipOn(&key),
                    &progress,
                    sink.interrupt,
                )
                .await
                {
                    Ok(one) => n += one,
                    Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    }
                    Err(e) => return Err(e),
                }
            }
            n
        }
        Err(e) => return Err(e),
    };
    let mut declined = 0;
    if inserted < plan.missing.len() as u64 {
        let there = read_tenants(sink, &batch.ids).await?;
        declined = batch
            .ids
            .iter()
            .filter(|id| !there.contains_key(*id))
            .count() as u64;
    }
    let counts = TableCounts {
        inserted,
        present: wanted - inserted - declined,
        declined,
        ..TableCounts::default()
    };
    progress.finish(counts);
    Ok(counts)
}

/// Locks the batch's tenant rows: `SELECT ... FOR UPDATE` (SQLite's
/// IMMEDIATE transaction already excludes every other writer). On a
/// Galera node the rows are also written and put back as they were, which
/// makes the lock hold across the cluster: a transaction of another node
/// that took it too is aborted (error 1213) when the first commits, and is
/// retried.
pub async fn lock(sink: &Sink<'_>, batch: &Batch<'_>) -> Result<(), DbErr> {
    if sink.backend == DbBackend::Sqlite || batch.ids.is_empty() {
        return Ok(());
    }
    let marks = vec!["?"; batch.ids.len()].join(", ");
    let values: Vec<sea_orm::Value> = batch.ids.iter().map(|id| id.as_str().into()).collect();
    let mut statements = vec![format!(
        "SELECT tenant_id FROM tenants WHERE tenant_id IN ({marks}) FOR UPDATE"
    )];
    if sink.galera {
        statements.extend(crate::db::certified_lock_sql(&marks));
    }
    for sql in statements {
        let sql = if sink.backend == DbBackend::Postgres {
            crate::queries::sql::numbered(&sql)
        } else {
            sql
        };
        sink.txn
            .execute_raw(Statement::from_sql_and_values(
                sink.backend,
                sql,
                values.clone(),
            ))
            .await?;
    }
    Ok(())
}
