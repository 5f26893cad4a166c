//! `device_registry`: each tenant's sensors, running the firmware their
//! planned OTA history leaves them on. Which planned devices are there is
//! read (by id, never inferred from a count: a fleet with one device
//! deleted by hand and another added has the planned count but lacks a
//! planned device); the missing ones are streamed from the generator for
//! the whole batch, two statements' worth in memory at a time.

use std::collections::HashMap;

use entity::device_registry;
use sea_orm::{ActiveValue::Set, DbErr};

use super::batch::{Conflicts, insert_rows};
use super::found::{Found, read_devices};
use super::sink::{Batch, Sink};
use crate::dataset::{DeviceSeed, TenantPlan};
use crate::report::TableCounts;
use crate::table::Table;

/// What one tenant lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lacks {
    Nothing,
    /// No device at all: every planned one, and nothing can conflict.
    Everything,
    /// These many planned devices (found missing by id).
    Some(u64),
}

pub struct DevicesPlan {
    /// Per tenant of the batch, in order.
    pub lacks: Vec<Lacks>,
    /// Per tenant, the devices found.
    pub found: Vec<u64>,
}

impl DevicesPlan {
    pub fn counts(&self, batch: &Batch<'_>) -> TableCounts {
        let wanted: u64 = batch.plans.iter().map(|p| p.fleet.len() as u64).sum();
        let missing = self.missing_total(batch);
        TableCounts {
            inserted: missing,
            present: wanted - missing,
            ..TableCounts::default()
        }
    }

    fn missing_of(&self, batch: &Batch<'_>, i: usize) -> u64 {
        match self.lacks[i] {
            Lacks::Nothing => 0,
            Lacks::Everything => batch.plans[i].fleet.len() as u64,
            Lacks::Some(n) => n,
        }
    }

    fn missing_total(&self, batch: &Batch<'_>) -> u64 {
        (0..batch.plans.len())
            .map(|i| self.missing_of(batch, i))
            .sum()
    }

    /// The tenants' device counts once the plan is applied in full.
    pub fn devices_after(&self, batch: &Batch<'_>) -> HashMap<String, u64> {
        batch
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), self.found[i] + self.missing_of(batch, i)))
            .collect()
    }
}

pub fn plan(batch: &Batch<'_>, found: &Found) -> DevicesPlan {
    let mut lacks = Vec::with_capacity(batch.plans.len());
    let mut counts = Vec::with_capacity(batch.plans.len());
    for plan in &batch.plans {
        let planned = plan.fleet.len() as u64;
        let (need, n) = match found.devices.get(&plan.tenant.tenant_id) {
            None => (
                if planned == 0 {
                    Lacks::Nothing
                } else {
                    Lacks::Everything
                },
                0,
            ),
            Some(there) => {
                let n = there.len() as u64;
                // A complete fleet (the rerun's case) is told by its ids
                // alone: building every planned device (a hash and a
                // firmware lookup each) only to drop it costs ~1 s at 1M.
                let missing = if n >= planned && plan.fleet.every_device_id(|id| there.contains(id))
                {
                    0
                } else {
                    plan.fleet
                        .device_ids()
                        .filter(|id| !there.contains(id))
                        .count() as u64
                };
                (
                    if missing == 0 {
                        Lacks::Nothing
                    } else {
                        Lacks::Some(missing)
                    },
                    n,
                )
            }
        };
        lacks.push(need);
        counts.push(n);
    }
    DevicesPlan {
        lacks,
        found: counts,
    }
}

fn to_model(
    plan: &TenantPlan,
    now: chrono::DateTime<chrono::FixedOffset>,
    d: DeviceSeed,
) -> device_registry::ActiveModel {
    device_registry::ActiveModel {
        tenant_id: Set(plan.tenant.tenant_id.clone()),
        metadata: Set(d.metadata()),
        status: Set(d.status().to_owned()),
        device_id: Set(d.device_id),
        site_id: Set(d.site_id),
        provision_token_hash: Set(Some(d.provision_token_hash)),
        fw_version: Set(Some(d.fw_version)),
        provisioned_at: Set(d.provisioned.at(now)),
        ..Default::default()
    }
}

/// What applying the devices' plan did, with the tenants' device counts
/// after it (read back when the database stored fewer rows than sent).
pub struct DevicesApplied {
    pub counts: TableCounts,
    pub devices_after: HashMap<String, u64>,
}

pub async fn apply(
    sink: &Sink<'_>,
    batch: &Batch<'_>,
    plan: &DevicesPlan,
    found: &Found,
) -> Result<DevicesApplied, DbErr> {
    let planned: u64 = batch.plans.iter().map(|p| p.fleet.len() as u64).sum();
    let progress = sink.step(Table::Devices, planned);
    let empty = |i: usize| plan.lacks[i] == Lacks::Everything;
    let partial = |i: usize| matches!(plan.lacks[i], Lacks::Some(_));
    // Tenants without a device: nothing can conflict (COPY on PostgreSQL).
    let fresh = (0..batch.plans.len()).filter(|&i| empty(i)).flat_map(|i| {
        let p = batch.plans[i];
        p.devices().map(move |d| to_model(p, batch.now, d))
    });
    let sent = plan.missing_total(batch);
    let mut inserted = insert_rows(
        sink.txn,
        fresh,
        Conflicts::Impossible,
        &progress,
        sink.interrupt,
    )
    .await?;
    if (0..batch.plans.len()).any(partial) {
        let key = [
            device_registry::Column::TenantId,
            device_registry::Column::DeviceId,
        ];
        let missing = (0..batch.plans.len())
            .filter(|&i| partial(i))
            .flat_map(|i| {
                let p = batch.plans[i];
                let there = found.devices.get(&p.tenant.tenant_id);
                p.devices()
                    .filter(move |d| there.is_none_or(|s| !s.contains(&d.device_id)))
                    .map(move |d| to_model(p, batch.now, d))
            });
        inserted += insert_rows(
            sink.txn,
            missing,
            Conflicts::SkipOn(&key),
            &progress,
            sink.interrupt,
        )
        .await?;
    }
    let mut devices_after = plan.devices_after(batch);
    let mut declined = 0;
    if inserted < sent {
        // Fewer stored than sent: read which planned devices are there now.
        let after = read_devices(sink, &batch.ids).await?;
        for p in &batch.plans {
            let id = &p.tenant.tenant_id;
            let there = after.get(id);
            declined += p
                .fleet
                .device_ids()
                .filter(|d| there.is_none_or(|s| !s.contains(d)))
                .count() as u64;
            devices_after.insert(id.clone(), there.map_or(0, |s| s.len() as u64));
        }
    }
    let counts = TableCounts {
        inserted,
        present: planned - inserted - declined,
        declined,
        ..TableCounts::default()
    };
    progress.finish(counts);
    Ok(DevicesApplied {
        counts,
        devices_after,
    })
}
