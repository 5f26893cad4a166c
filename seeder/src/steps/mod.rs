//! Seeding steps, one file per table, each with its *plan* (what the table
//! lacks for a batch of tenants, decided from rows read by key, reading
//! nothing more) and its *apply* (the batch's bulk statements). Every batch
//! is first planned by reading alone ([`plan_batch`], which also checks for
//! another world): that is the dry run, and a batch whose plan writes
//! nothing goes no further. Any other is planned again and applied in one
//! transaction ([`seed_batch`]): all of it commits, or none of it, so each
//! tenant is whole or absent.
//!
//! Figures are read, never inferred: "already present" is what a plan
//! found by key, "inserted" what the database said it stored, and a row
//! sent but neither stored nor refused with an error (a trigger, a rule)
//! is counted as declined.

mod batch;
mod campaign_counters;
mod campaigns;
mod copy_rows;
mod device_firmware;
mod device_status;
mod devices;
pub mod differing;
mod error;
mod firmware;
mod found;
mod id_sequences;
mod json_rows;
mod mysql_rows;
mod scoped;
mod sink;
mod tenants;
mod world;

use std::collections::HashMap;

use sea_orm::{DbBackend, DbErr};

use crate::db::Txn;
use crate::error::SeedError;
use crate::report::{SeedReport, TableCounts};
use crate::table::Table;

pub use error::StepError;
pub use found::Found;
pub use scoped::Guards;
pub use sink::{Batch, Sink};

/// Galera: fails with [`StepError::RolledBackByCluster`] when the batch's
/// transaction is no longer open, checked after each step, so that few
/// statements run outside it before the seeder notices (they would be
/// committed one by one).
/// Also where a stop request ends the batch between its steps (a step of
/// a big batch may send no row, and check for none, for a while).
async fn still_open(sink: &Sink<'_>, step: Table) -> Result<(), StepError> {
    sink.interrupt
        .check()
        .map_err(|e| StepError::new("stopping between steps", e))?;
    if sink.galera && crate::db::rolled_back_by_cluster(sink.txn).await {
        return Err(StepError::RolledBackByCluster {
            doing: format!("seeding {}", step.table_name()),
        });
    }
    Ok(())
}

/// The world to check a batch's tenants against (issue 12): the
/// dataset's scenario and seed, for the refusal's message.
#[derive(Debug, Clone, Copy)]
pub struct World<'a> {
    pub scenario: &'a str,
    pub seed: u64,
}

/// A batch planned by reading alone, in a read-only transaction: each
/// tenant compared with `world` (when given) before anything is written,
/// then the report [`seed_batch`] would give now ([`predict_report`]'s).
/// When that report changes nothing, as on a rerun, the batch needs no
/// write transaction: its figures are these.
pub async fn plan_batch(
    sink: &Sink<'_>,
    batch: &Batch<'_>,
    world: Option<World<'_>>,
) -> Result<SeedReport, StepError> {
    let reading = |what: &'static str| move |e| StepError::new(what, e);
    let found = found::read(sink, &batch.ids, reads_status(batch.selection))
        .await
        .map_err(reading("reading the existing rows"))?;
    if let Some(world) = world {
        let rows = world::read(sink, &batch.plans, &found)
            .await
            .map_err(reading("comparing the existing rows with the dataset"))?;
        for plan in &batch.plans {
            let Some(there) = rows.get(&plan.tenant.tenant_id) else {
                continue;
            };
            let differences = world::differences(plan, there);
            if !differences.is_empty() {
                return Err(StepError::Refused(SeedError::OtherWorld {
                    tenant: plan.tenant.tenant_id.clone(),
                    scenario: world.scenario.to_owned(),
                    seed: world.seed,
                    differences,
                }));
            }
        }
    }
    predict_report(sink, batch, found)
        .await
        .map_err(reading("reading the existing rows"))
}

/// Whether a plan needs the status rows counted: for the counters and the
/// status rows themselves.
fn reads_status(selection: &crate::selection::Selection) -> bool {
    selection.includes(Table::Campaigns) || selection.includes(Table::DeviceStatus)
}

/// Plans and applies one batch inside `sink`'s transaction (the caller
/// begins and commits it).
pub async fn seed_batch(sink: &Sink<'_>, batch: &Batch<'_>) -> Result<SeedReport, StepError> {
    let selection = batch.selection;
    let mut report = SeedReport {
        tenants: batch.ids.clone(),
        ..SeedReport::default()
    };
    // Before anything is written, even the tenant rows: a lagging id
    // sequence is refused (PostgreSQL only: MySQL's AUTO_INCREMENT and
    // SQLite's rowid follow explicit ids).
    let reading = |what: &'static str| move |e| StepError::new(what, e);
    let mut found = Found {
        tenants: found::read_tenants(sink, &batch.ids)
            .await
            .map_err(reading("reading the tenants' rows"))?,
        ..Found::default()
    };
    // Firmware, campaigns and status rows reference their tenant's row (a
    // foreign key in the platform's schema and ours): a tenant whose row
    // is not there has none.
    let were_there: Vec<String> = batch
        .ids
        .iter()
        .filter(|id| found.tenants.contains_key(*id))
        .cloned()
        .collect();
    if sink.backend == DbBackend::Postgres {
        id_sequences::refuse_lagging(sink, batch, selection, &were_there).await?;
    }
    // The tenant rows come first: the lock that serialises concurrent
    // seeders of a tenant is taken on them.
    let tenants_plan = tenants::plan(batch, &found);
    let counts = tenants::apply(sink, batch, &tenants_plan)
        .await
        .map_err(StepError::at(Table::Tenants))?;
    report.add(Table::Tenants, counts);
    report.differing.extend(tenants_plan.differing);
    still_open(sink, Table::Tenants).await?;
    tenants::lock(sink, batch)
        .await
        .map_err(|e| StepError::new("locking the tenant rows", e))?;
    // Under the lock, the batch's rows by key. A tenant row this run did
    // not insert although it was missing was inserted meanwhile by
    // another seeder, which may have written the tenant's other rows too:
    // then every tenant's are read.
    let ids = &batch.ids;
    let were_there = if counts.inserted < tenants_plan.missing.len() as u64 {
        ids.clone()
    } else {
        were_there
    };
    found.devices = found::read_devices(sink, ids)
        .await
        .map_err(reading("reading the tenants' devices"))?;
    if selection.includes(Table::Firmware) || selection.includes(Table::Campaigns) {
        found.firmware = found::read_firmware(sink, &were_there)
            .await
            .map_err(reading("reading the tenants' firmware"))?;
    }
    if selection.includes(Table::Campaigns) || selection.includes(Table::DeviceStatus) {
        found.campaigns = found::read_campaigns(sink, &were_there)
            .await
            .map_err(reading("reading the tenants' campaigns"))?;
    }
    if selection.includes(Table::DeviceStatus) || selection.includes(Table::Campaigns) {
        // Under row level security one statement per tenant: only for
        // those that were there (elsewhere one statement covers all).
        let status_ids = if sink.guards.applies(Table::DeviceStatus) {
            &were_there
        } else {
            ids
        };
        found.status = found::read_status_counts(sink, status_ids)
            .await
            .map_err(reading("counting the tenants' status rows"))?;
    }

    let mut devices_after: HashMap<String, u64> = batch
        .ids
        .iter()
        .map(|id| (id.clone(), found.devices_of(id)))
        .collect();
    if selection.includes(Table::Devices) {
        let plan = devices::plan(batch, &found);
        let applied = devices::apply(sink, batch, &plan, &found)
            .await
            .map_err(StepError::at(Table::Devices))?;
        report.add(Table::Devices, applied.counts);
        devices_after = applied.devices_after;
        still_open(sink, Table::Devices).await?;
    }
    if selection.includes(Table::Firmware) {
        let plan = firmware::plan(batch, &found);
        report.differing.extend(plan.differing.iter().cloned());
        let counts = firmware::apply(sink, batch, &plan, &mut found)
            .await
            .map_err(StepError::at(Table::Firmware))?;
        report.add(Table::Firmware, counts);
        still_open(sink, Table::Firmware).await?;
    }
    let mut campaigns_inserted = 0;
    if selection.includes(Table::Campaigns) {
        let plan = campaigns::plan(batch, &found);
        let counts = campaigns::apply(sink, batch, &plan, &mut found)
            .await
            .map_err(StepError::at(Table::Campaigns))?;
        campaigns_inserted = counts.inserted;
        report.add(Table::Campaigns, counts);
        still_open(sink, Table::Campaigns).await?;
    }
    let mut status_inserted = 0;
    if selection.includes(Table::DeviceStatus) {
        let plan = device_status::plan(sink, batch, &found, &devices_after)
            .await
            .map_err(StepError::at(Table::DeviceStatus))?;
        let applied = device_status::apply(sink, batch, &plan)
            .await
            .map_err(StepError::at(Table::DeviceStatus))?;
        status_inserted = applied.counts.inserted;
        report.add(Table::DeviceStatus, applied.counts);
        still_open(sink, Table::DeviceStatus).await?;
        let updated = device_firmware::apply(sink, &applied.devices_with_new_rows)
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
        // Counted from the rows as they are now; the count read before
        // still holds when nothing was inserted since.
        if status_inserted > 0 || campaigns_inserted > 0 || !sink.has(Table::DeviceStatus) {
            found.status = found::read_status_counts(sink, ids)
                .await
                .map_err(reading("counting the tenants' status rows"))?;
        }
        let updates = campaign_counters::plan(batch, &found.campaigns, &found.status);
        let updated = campaign_counters::apply(sink, &updates)
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
    order_differing(&mut report, batch);
    Ok(report)
}

/// Rows left as found, in dataset order of their tenants (and in seeding
/// order of the tables within one), as one tenant at a time would list
/// them.
fn order_differing(report: &mut SeedReport, batch: &Batch<'_>) {
    let position = |tenant: &str| batch.ids.iter().position(|id| id == tenant);
    report.differing.sort_by_key(|row| position(&row.tenant_id));
}

/// What [`seed_batch`] would do, from the same plans and the rows read: the
/// report a run would give, with `inserted` meaning "would be inserted"
/// and `updated` for campaigns the counters it would set. A device's
/// fw_version updates are not previewed.
async fn predict_report(
    sink: &Sink<'_>,
    batch: &Batch<'_>,
    found: Found,
) -> Result<SeedReport, DbErr> {
    let selection = batch.selection;
    let mut report = SeedReport {
        tenants: batch.ids.clone(),
        ..SeedReport::default()
    };
    let tenants_plan = tenants::plan(batch, &found);
    report.add(Table::Tenants, tenants_plan.counts(batch));
    report.differing.extend(tenants_plan.differing);
    let mut devices_after: HashMap<String, u64> = batch
        .ids
        .iter()
        .map(|id| (id.clone(), found.devices_of(id)))
        .collect();
    if selection.includes(Table::Devices) {
        let plan = devices::plan(batch, &found);
        report.add(Table::Devices, plan.counts(batch));
        devices_after = plan.devices_after(batch);
    }
    if selection.includes(Table::Firmware) {
        let plan = firmware::plan(batch, &found);
        report.add(Table::Firmware, plan.counts(batch));
        report.differing.extend(plan.differing);
    }
    if selection.includes(Table::Campaigns) {
        report.add(
            Table::Campaigns,
            campaigns::plan(batch, &found).counts(batch),
        );
    }
    if selection.includes(Table::DeviceStatus) {
        let plan = device_status::plan(sink, batch, &found, &devices_after).await?;
        report.add(Table::DeviceStatus, plan.counts());
        if selection.includes(Table::Campaigns) {
            let predicted = device_status::predicted_counters(&plan, batch, &found);
            report.add(
                Table::Campaigns,
                TableCounts {
                    updated: campaign_counters::predicted_updates(batch, &found, &predicted),
                    ..TableCounts::default()
                },
            );
        }
    } else if selection.includes(Table::Campaigns) {
        let updates = campaign_counters::plan(batch, &found.campaigns, &found.status);
        report.add(
            Table::Campaigns,
            TableCounts {
                updated: updates.len() as u64,
                ..TableCounts::default()
            },
        );
    }
    order_differing(&mut report, batch);
    Ok(report)
}

/// Begins a batch's write transaction. Not scoped to a tenant: statements
/// on tables under row level security scope themselves (see `scoped`).
pub async fn begin(db: &crate::db::Db) -> Result<Txn, DbErr> {
    db.begin(crate::db::Access::Write, None).await
}
