use entity::device_registry;
use sea_orm::{ActiveValue::Set, DbErr};

use super::TenantScope;
use super::batch::{Conflicts, insert_rows};
use crate::dataset::DeviceSeed;
use crate::queries::existing_device_ids;
use crate::report::TableCounts;
use crate::table::Table;

/// `device_registry`: the tenant's sensors, running the firmware their
/// planned OTA history leaves them on. Streamed from the generator in
/// batches, so a fleet of any size takes two batches of memory.
pub struct DeviceStep;

/// What the devices step did, and what it found.
pub struct DeviceOutcome {
    pub counts: TableCounts,
    /// The tenant's devices when the step began (under the tenant lock).
    pub found: u64,
}

impl DeviceStep {
    pub async fn run(&self, scope: &TenantScope<'_>) -> Result<DeviceOutcome, DbErr> {
        let planned = scope.plan.fleet.len() as u64;
        let progress = scope
            .progress
            .step(scope.tenant_id(), Table::Devices, planned);
        let to_model = |d: DeviceSeed| device_registry::ActiveModel {
            tenant_id: Set(scope.tenant_id().to_owned()),
            metadata: Set(d.metadata()),
            status: Set(d.status().to_owned()),
            device_id: Set(d.device_id),
            site_id: Set(d.site_id),
            provision_token_hash: Set(Some(d.provision_token_hash)),
            fw_version: Set(Some(d.fw_version)),
            provisioned_at: Set(d.provisioned.at(scope.now)),
            ..Default::default()
        };
        // Which planned devices are there is read, never inferred from a
        // count: a fleet with one device deleted by hand and another added
        // has the planned count but lacks a planned device. The ids are
        // also the tenant's device count (no separate COUNT).
        let existing = existing_device_ids(scope.txn, scope.tenant_id()).await?;
        let found = existing.len() as u64;
        let inserted = match found {
            // An empty tenant under its lock: nothing can conflict.
            0 => {
                insert_rows(
                    scope.txn,
                    scope.plan.devices().map(to_model),
                    Conflicts::Impossible,
                    &progress,
                    scope.interrupt,
                )
                .await?
            }
            _ => {
                // A complete fleet (the rerun's case) is told by its ids
                // alone: building every planned device (a hash and a
                // firmware lookup each) only to drop it costs ~1 s at 1M.
                let complete = found >= planned
                    && scope.plan.fleet.every_device_id(|id| existing.contains(id));
                if complete {
                    0
                } else {
                    let missing = scope
                        .plan
                        .devices()
                        .filter(|d| !existing.contains(&d.device_id))
                        .map(to_model);
                    let key = [
                        device_registry::Column::TenantId,
                        device_registry::Column::DeviceId,
                    ];
                    insert_rows(
                        scope.txn,
                        missing,
                        Conflicts::SkipOn(&key),
                        &progress,
                        scope.interrupt,
                    )
                    .await?
                }
            }
        };
        // Every planned device not inserted now was found, by key, either
        // when read or by the insert's conflict check.
        let counts = TableCounts {
            inserted,
            present: planned - inserted,
            updated: 0,
        };
        progress.finish(counts);
        Ok(DeviceOutcome { counts, found })
    }
}
