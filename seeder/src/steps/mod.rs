//! Ordered seeding steps, one per table, run for one tenant at a time inside
//! that tenant's transaction (see [`seed_tenant`]).
//!
//! Every step reads which of its rows exist (by natural key, for this tenant)
//! and inserts only the missing ones, in bind-limited batches through the
//! entity crate. So a rerun sends no rows at all and burns no ids, and a
//! half-seeded tenant is completed.

mod batch;
mod campaign_counters;
mod campaigns;
mod copy_rows;
mod device_firmware;
mod device_status;
mod devices;
pub mod differing;
mod firmware;
mod id_sequences;
mod json_rows;
mod mysql_rows;
mod tenant_lock;
mod tenants;
mod world;

use chrono::{DateTime, FixedOffset};
use sea_orm::{DbBackend, DbErr};

use crate::db::{Db, Txn};
use crate::error::SeedError;

use crate::cancel::Cancel;
use crate::dataset::{Dataset, TenantPlan};
use crate::progress::Progress;
use crate::report::{SeedReport, TableCounts};
use crate::selection::Selection;
use crate::table::Table;

pub use campaign_counters::CampaignCountersStep;
pub use campaigns::CampaignStep;
pub use device_firmware::DeviceFirmwareStep;
pub use device_status::DeviceStatusStep;
pub use devices::DeviceStep;
pub use firmware::FirmwareStep;
pub use tenants::TenantStep;

// The steps' rules for what is missing, which the dry run asks as well.
pub(crate) use campaigns::missing as missing_campaigns;
pub(crate) use device_status::{
    CampaignSlice, DeviceList, campaign_slices, campaign_target_count, campaign_targets,
    fleet_is_planned,
};
pub(crate) use firmware::compare as compare_firmware;
pub(crate) use world::differences as world_differences;

/// What one tenant's steps work with.
pub struct TenantScope<'a> {
    pub txn: &'a Txn,
    pub backend: DbBackend,
    /// A MariaDB Galera node: the tenant lock is certified (`tenant_lock`).
    pub galera: bool,
    pub plan: &'a TenantPlan,
    /// The run's moment; every relative time of the dataset hangs off it.
    pub now: DateTime<FixedOffset>,
    pub progress: &'a Progress,
    /// Checked between batches: a stop request rolls the tenant back.
    pub interrupt: &'a Cancel,
    /// The tenant's rows as found once its lock was held.
    pub found: ExistingRows,
    /// The tenant's devices once the devices step has run: those it found
    /// and those it inserted (see `device_status::fleet_is_planned`);
    /// `None` when the step is not part of the run.
    pub devices_after_step: Option<u64>,
    /// The dataset's scenario and seed, for messages.
    pub scenario: &'a str,
    pub seed: u64,
}

/// How many devices the tenant held when its lock was taken: counted by
/// the devices step when it runs (it reads their ids anyway), else when
/// the lock is taken. (Status rows are counted per campaign by their own
/// step.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExistingRows {
    pub devices: u64,
}

impl TenantScope<'_> {
    pub fn tenant_id(&self) -> &str {
        &self.plan.tenant.tenant_id
    }
}

/// Seeds one tenant in one transaction: all of it commits, or none of it.
#[allow(clippy::too_many_arguments)]
pub async fn seed_tenant(
    db: &Db,
    dataset: &Dataset,
    plan: &TenantPlan,
    selection: &Selection,
    now: DateTime<FixedOffset>,
    progress: &Progress,
    interrupt: &Cancel,
) -> Result<SeedReport, StepError> {
    let txn = tenant_lock::begin(db, &plan.tenant.tenant_id)
        .await
        .map_err(|e| StepError::new("starting the tenant's transaction", e))?;
    let mut scope = TenantScope {
        txn: &txn,
        backend: db.backend(),
        galera: db.is_galera(),
        plan,
        now,
        progress,
        interrupt,
        found: ExistingRows::default(),
        devices_after_step: None,
        scenario: dataset.scenario_name(),
        seed: dataset.seed(),
    };
    let galera = scope.galera;
    let report = match run_steps(&mut scope, selection).await {
        // A statement that failed because the transaction had already been
        // rolled back by the cluster (a foreign key to a campaign inserted
        // before the rollback, seen in tests) says so, not its own error.
        // Not asked over a connection that failed or stopped answering: the
        // question would fail too, after as long a wait.
        Err(StepError::Database { doing, source, .. })
            if galera
                && !crate::retry::is_connection_failure(&source)
                && crate::db::rolled_back_by_cluster(&txn).await =>
        {
            return Err(StepError::RolledBackByCluster { doing });
        }
        Ok(_) if galera && crate::db::rolled_back_by_cluster(&txn).await => {
            return Err(StepError::RolledBackByCluster {
                doing: "committing the tenant's transaction".to_owned(),
            });
        }
        Ok(report) => report,
        Err(e) => {
            // Said explicitly rather than left to the drop, so that the
            // rollback has happened when the error is reported; but not to
            // a server that stopped answering, which would keep the error
            // waiting as long again: the drop queues the ROLLBACK, and the
            // server rolls the transaction back when the process exits and
            // the connection closes, if it ever answers.
            let stalled = matches!(&e, StepError::Database { source, .. }
                if crate::retry::no_answer(source).is_some());
            if !stalled {
                let _ = txn.rollback().await;
            }
            return Err(e);
        }
    };
    txn.commit()
        .await
        .map_err(|e| StepError::new("committing the tenant's transaction", e))?;
    Ok(report)
}

/// Galera: fails with [`StepError::RolledBackByCluster`] when the
/// tenant's transaction is no longer open, checked after each step, so
/// that few statements run outside it before the seeder notices (they
/// would be committed one by one).
async fn still_open(scope: &TenantScope<'_>, step: Table) -> Result<(), StepError> {
    if scope.galera && crate::db::rolled_back_by_cluster(scope.txn).await {
        return Err(StepError::RolledBackByCluster {
            doing: format!("seeding {}", step.table_name()),
        });
    }
    Ok(())
}

async fn run_steps(
    scope: &mut TenantScope<'_>,
    selection: &Selection,
) -> Result<SeedReport, StepError> {
    let mut report = SeedReport {
        tenants: vec![scope.tenant_id().to_owned()],
        ..SeedReport::default()
    };
    // Before anything is written, even the tenant row: a lagging id
    // sequence is refused (PostgreSQL only: MySQL's AUTO_INCREMENT and
    // SQLite's rowid follow explicit ids).
    if scope.backend == DbBackend::Postgres {
        id_sequences::refuse_lagging(scope, selection).await?;
    }
    // The tenant row comes first: the lock that serialises concurrent
    // seeders of this tenant is taken on it.
    let (counts, differing) = TenantStep
        .run(scope)
        .await
        .map_err(StepError::at(Table::Tenants))?;
    report.add(Table::Tenants, counts);
    report.differing.extend(differing);
    still_open(scope, Table::Tenants).await?;
    tenant_lock::lock_tenant(scope)
        .await
        .map_err(|e| StepError::new("locking the tenant row", e))?;
    // A tenant that was there may hold another world: refused before its
    // first write (its row, if new, cannot have any).
    if counts.present > 0 {
        let differences = world::differences(scope.txn, scope.plan)
            .await
            .map_err(|e| StepError::new("comparing the tenant's rows with the dataset", e))?;
        if !differences.is_empty() {
            return Err(StepError::Refused(SeedError::OtherWorld {
                tenant: scope.tenant_id().to_owned(),
                scenario: scope.scenario.to_owned(),
                seed: scope.seed,
                differences,
            }));
        }
    }
    let devices_step = selection.includes(Table::Devices);
    scope.found = tenant_lock::existing_rows(scope, !devices_step)
        .await
        .map_err(|e| StepError::new("counting the tenant's rows", e))?;
    if devices_step {
        let outcome = DeviceStep
            .run(scope)
            .await
            .map_err(StepError::at(Table::Devices))?;
        scope.found.devices = outcome.found;
        scope.devices_after_step = Some(outcome.found + outcome.counts.inserted);
        report.add(Table::Devices, outcome.counts);
        still_open(scope, Table::Devices).await?;
    }
    let scope: &TenantScope<'_> = scope;

    if selection.includes(Table::Firmware) {
        let (counts, differing) = FirmwareStep
            .run(scope)
            .await
            .map_err(StepError::at(Table::Firmware))?;
        report.add(Table::Firmware, counts);
        report.differing.extend(differing);
        still_open(scope, Table::Firmware).await?;
    }
    if selection.includes(Table::Campaigns) {
        report.add(
            Table::Campaigns,
            CampaignStep
                .run(scope)
                .await
                .map_err(StepError::at(Table::Campaigns))?,
        );
        still_open(scope, Table::Campaigns).await?;
    }
    let mut current_counts = None;
    if selection.includes(Table::DeviceStatus) {
        let outcome = DeviceStatusStep
            .run(scope)
            .await
            .map_err(StepError::at(Table::DeviceStatus))?;
        report.add(Table::DeviceStatus, outcome.counts);
        still_open(scope, Table::DeviceStatus).await?;
        if outcome.counts.inserted == 0 {
            current_counts = Some(outcome.counted_before);
        }
        let updated = DeviceFirmwareStep
            .run(scope, &outcome.devices_with_new_rows)
            .await
            .map_err(StepError::at(Table::Devices))?;
        report.add(
            Table::Devices,
            TableCounts {
                updated,
                ..TableCounts::default()
            },
        );
    }
    if selection.includes(Table::Campaigns) {
        let updated = CampaignCountersStep
            .run(scope, current_counts)
            .await
            .map_err(StepError::at(Table::Campaigns))?;
        report.add(
            Table::Campaigns,
            TableCounts {
                updated,
                ..TableCounts::default()
            },
        );
    }
    Ok(report)
}

/// Why a tenant's seeding stopped; its transaction was rolled back.
#[derive(Debug)]
pub enum StepError {
    /// A database error, with what the step was doing, and in which table.
    Database {
        doing: String,
        table: Option<Table>,
        source: DbErr,
    },
    /// A condition found before writing under which the seeder will not
    /// write (see `id_sequences`).
    Refused(SeedError),
    /// Galera: the tenant's transaction was no longer open when checked
    /// (after a failed statement, or before COMMIT): the cluster rolled it
    /// back to apply another node's conflicting commit, and statements
    /// ran outside it since (see `db::galera::rolled_back_by_cluster`).
    /// Retried like a certification failure.
    RolledBackByCluster { doing: String },
}

impl StepError {
    fn new(doing: &str, source: DbErr) -> StepError {
        StepError::Database {
            doing: doing.to_owned(),
            table: None,
            source,
        }
    }

    fn at(table: Table) -> impl FnOnce(DbErr) -> StepError {
        move |source| StepError::Database {
            doing: format!("seeding {}", table.table_name()),
            table: Some(table),
            source,
        }
    }
}
