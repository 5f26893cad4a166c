//! `--dry-run`: what a seeding run would insert, per table, found by reading
//! alone. Nothing is written: no migration, no row, no sequence value, no
//! lock. Tables that do not exist yet (migrations pending) count as empty.
//!
//! The counts come from the seeding steps' own rules, asked here with what
//! the database holds (firmware by natural key, campaigns by name, each
//! campaign's slice of the fleet, when device ids are the planned ones), so
//! the preview matches what a run started at the same moment inserts. Updates
//! the run would make (counters, a device's fw_version) are not previewed.

use std::collections::{HashMap, HashSet};

use entity::{device_registry, ota_campaigns, tenants};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect};

use chrono::{DateTime, FixedOffset};

use crate::dataset::{Dataset, TenantPlan};
use crate::db::{Access, Db, Txn};
use crate::error::SeedError;
use crate::queries::{
    campaign_device_ids, count_status_rows, device_provisioning, existing_device_ids,
    existing_firmware,
};
use crate::report::{SeedReport, TableCounts};
use crate::selection::Selection;
use crate::steps::{
    CampaignSlice, DeviceList, campaign_slices, campaign_target_count, campaign_targets,
    compare_firmware, differing, fleet_is_planned, missing_campaigns, world_differences,
};
use crate::table::Table;

/// Which of the seeded tables exist.
struct Present<'a>(&'a [&'static str]);

impl Present<'_> {
    fn has(&self, table: Table) -> bool {
        self.0.contains(&table.table_name())
    }
}

/// The report a seeding run would give, with `inserted` meaning "would be
/// inserted".
///
/// `tables`: the OTA tables that exist (see `db::SchemaReport`); the others
/// count as empty.
pub async fn dry_run(
    db: &Db,
    tables: &[&'static str],
    dataset: &Dataset,
    selection: &Selection,
    tenants: &[String],
    now: DateTime<FixedOffset>,
) -> Result<SeedReport, SeedError> {
    let present = Present(tables);
    let mut report = SeedReport::default();
    let reading = |e| SeedError::database("reading the existing rows", e);
    for plan in dataset
        .tenants
        .iter()
        .filter(|p| tenants.contains(&p.tenant.tenant_id))
    {
        let txn = db
            .begin(Access::Read, Some(&plan.tenant.tenant_id))
            .await
            .map_err(reading)?;
        let seen = preview_tenant(&txn, plan, selection, &present, now, &mut report)
            .await
            .map_err(reading)?;
        // The run would refuse a tenant holding another world: so does
        // its preview.
        if seen && present.0.len() == Table::ALL.len() {
            let differences = world_differences(&txn, plan).await.map_err(reading)?;
            if !differences.is_empty() {
                return Err(SeedError::OtherWorld {
                    tenant: plan.tenant.tenant_id.clone(),
                    scenario: dataset.scenario_name().to_owned(),
                    seed: dataset.seed(),
                    differences,
                });
            }
        }
        txn.commit().await.map_err(reading)?;
        report.tenants.push(plan.tenant.tenant_id.clone());
    }
    Ok(report)
}

async fn preview_tenant(
    txn: &Txn,
    plan: &TenantPlan,
    selection: &Selection,
    present: &Present<'_>,
    now: DateTime<FixedOffset>,
    report: &mut SeedReport,
) -> Result<bool, DbErr> {
    let tenant = plan.tenant.tenant_id.as_str();
    let stored = if present.has(Table::Tenants) {
        tenants::Entity::find_by_id(tenant.to_owned())
            .one(txn)
            .await?
    } else {
        None
    };
    report.add(Table::Tenants, counts(1, u64::from(stored.is_none())));
    let seen = stored.is_some();
    report.differing.extend(
        stored
            .as_ref()
            .and_then(|t| differing::tenant(t, &plan.tenant)),
    );

    let devices_now = if present.has(Table::Devices) {
        device_registry::Entity::find()
            .filter(device_registry::Column::TenantId.eq(tenant))
            .count(txn)
            .await?
    } else {
        0
    };
    let planned_devices = plan.fleet.len() as u64;
    let mut devices_after = devices_now;
    if selection.includes(Table::Devices) {
        let missing = match devices_now {
            0 => planned_devices,
            _ => {
                let ids = existing_device_ids(txn, tenant).await?;
                plan.fleet.device_ids().filter(|d| !ids.contains(d)).count() as u64
            }
        };
        report.add(Table::Devices, counts(planned_devices, missing));
        devices_after += missing;
    }

    if selection.includes(Table::Firmware) {
        let stored = if present.has(Table::Firmware) {
            existing_firmware(txn, tenant).await?
        } else {
            HashMap::new()
        };
        let (missing, differing) = compare_firmware(&plan.firmware, &stored);
        report.differing.extend(differing);
        report.add(
            Table::Firmware,
            counts(plan.firmware.len() as u64, missing.len() as u64),
        );
    }

    // Campaign name -> its status rows now (None: the campaign is missing).
    let mut campaigns: HashMap<String, (i32, u64)> = HashMap::new();
    if selection.includes(Table::Campaigns) && present.has(Table::Campaigns) {
        let rows: Vec<(i32, String)> = ota_campaigns::Entity::find()
            .select_only()
            .column(ota_campaigns::Column::Id)
            .column(ota_campaigns::Column::Name)
            .filter(ota_campaigns::Column::TenantId.eq(tenant))
            .into_tuple()
            .all(txn)
            .await?;
        let status_counts = if present.has(Table::DeviceStatus) {
            count_status_rows(txn, tenant).await?
        } else {
            HashMap::new()
        };
        for (id, name) in rows {
            let n = status_counts
                .get(&id)
                .map_or(0, |c| c.total_devices.max(0) as u64);
            campaigns.insert(name, (id, n));
        }
    }
    if selection.includes(Table::Campaigns) {
        let missing =
            missing_campaigns(&plan.campaigns, |name| campaigns.contains_key(name)).count() as u64;
        report.add(
            Table::Campaigns,
            counts(plan.campaigns.len() as u64, missing),
        );
    }

    if selection.includes(Table::DeviceStatus) {
        let mut wanted = 0;
        let mut missing = 0;
        let mut device_list: Option<DeviceList> = None;
        let rows: HashMap<i32, u64> = campaigns.values().copied().collect();
        let slices = campaign_slices(
            &plan.campaigns,
            |name| campaigns.get(name).map(|&(id, _)| id),
            |id| rows.get(&id).copied().unwrap_or(0),
            devices_after,
        );
        for (
            index,
            CampaignSlice {
                id,
                devices: slice,
                have,
                ..
            },
        ) in slices.into_iter().enumerate()
        {
            // The tenant's devices as the status step will see them.
            let list = match &device_list {
                Some(list) => list,
                None => {
                    let list = if fleet_is_planned(
                        selection.includes(Table::Devices),
                        devices_after,
                        plan.fleet.len() as u64,
                    ) {
                        DeviceList::Planned
                    } else {
                        let devices = device_provisioning(txn, tenant).await?;
                        DeviceList::Read(devices_after_run(plan, selection, devices, now))
                    };
                    device_list.insert(list)
                }
            };
            let slice = match list {
                DeviceList::Planned => slice,
                DeviceList::Read(ids) => slice.start.min(ids.len())..slice.end.min(ids.len()),
            };
            let targeted = campaign_target_count(plan, index, slice.clone(), list, now);
            wanted += targeted;
            let Some(id) = id.filter(|_| have > 0) else {
                missing += targeted;
                continue;
            };
            if have == targeted {
                continue;
            }
            // Partly there: which of the campaign's devices lack a row.
            let done = campaign_device_ids(txn, tenant, id).await?;
            missing += campaign_targets(plan, index, slice, list, now)
                .filter(|(d, _, _)| !done.contains(d))
                .count() as u64;
        }
        report.add(Table::DeviceStatus, counts(wanted, missing));
    }
    Ok(seen)
}

fn counts(wanted: u64, missing: u64) -> TableCounts {
    TableCounts {
        inserted: missing,
        present: wanted - missing,
        updated: 0,
    }
}

/// The tenant's devices once the devices step has run, with when each was
/// provisioned, sorted by id in byte order, when they are not exactly the
/// planned fleet.
fn devices_after_run(
    plan: &TenantPlan,
    selection: &Selection,
    mut devices: Vec<(String, DateTime<FixedOffset>)>,
    now: DateTime<FixedOffset>,
) -> Vec<(String, DateTime<FixedOffset>)> {
    if selection.includes(Table::Devices) {
        let there: HashSet<String> = devices.iter().map(|(id, _)| id.clone()).collect();
        devices.extend(
            plan.devices()
                .filter(|d| !there.contains(&d.device_id))
                .map(|d| (d.device_id, d.provisioned.at(now))),
        );
    }
    devices.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    devices
}
