//! Where a batch's plan is applied, and what every step needs to know of
//! it: the open transaction and how the database stands.

use chrono::{DateTime, FixedOffset};
use sea_orm::DbBackend;

use super::scoped::Guards;
use crate::cancel::Cancel;
use crate::dataset::TenantPlan;
use crate::db::Txn;
use crate::progress::{Progress, StepProgress};
use crate::selection::Selection;
use crate::table::Table;

/// A batch of tenants, planned and applied together: one transaction,
/// one bulk statement per table.
pub struct Batch<'d> {
    pub plans: Vec<&'d TenantPlan>,
    /// The tenants' ids, in dataset order.
    pub ids: Vec<String>,
    /// The run's moment; every relative time of the dataset hangs off it.
    pub now: DateTime<FixedOffset>,
    pub selection: &'d Selection,
}

impl<'d> Batch<'d> {
    pub fn new(
        plans: Vec<&'d TenantPlan>,
        now: DateTime<FixedOffset>,
        selection: &'d Selection,
    ) -> Batch<'d> {
        let ids = plans.iter().map(|p| p.tenant.tenant_id.clone()).collect();
        Batch {
            plans,
            ids,
            now,
            selection,
        }
    }

    /// How progress and messages name the batch: the tenant's id, or the
    /// first and last with the count.
    pub fn label(&self) -> String {
        crate::progress::batch_label(&self.ids)
    }
}

/// The database side of a batch: its transaction (read-only for a dry
/// run), the backend's traits, and the progress and stop request.
pub struct Sink<'a> {
    pub txn: &'a Txn,
    pub backend: DbBackend,
    /// A MariaDB Galera node: the tenant lock is certified.
    pub galera: bool,
    /// Tables under row level security for the role.
    pub guards: Guards,
    /// The seeded tables that exist (a dry run before migrations counts
    /// the others as empty).
    pub tables: Vec<Table>,
    pub progress: &'a Progress,
    /// Checked between statements: a stop request rolls the batch back.
    pub interrupt: &'a Cancel,
    /// How progress names the batch.
    pub label: String,
}

impl Sink<'_> {
    pub fn has(&self, table: Table) -> bool {
        self.tables.contains(&table)
    }

    pub fn step(&self, table: Table, expected: u64) -> StepProgress {
        self.progress.step(&self.label, table, expected)
    }
}
