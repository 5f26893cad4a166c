use std::collections::{HashMap, HashSet};

use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status};
use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::batch::insert_rows;
use super::{TableCounts, TenantScope};

/// `ota_device_status`: one row per campaign and device of the tenant, for
/// the devices that exist in `device_registry` (seeded or not), assigned in
/// device_id byte order.
pub struct DeviceStatusStep;

pub struct DeviceStatusOutcome {
    pub counts: TableCounts,
    /// Devices that got a status row in this run.
    pub devices_with_new_rows: HashSet<String>,
}

impl DeviceStatusStep {
    pub async fn run(&self, scope: &TenantScope<'_>) -> Result<DeviceStatusOutcome, DbErr> {
        let tenant = scope.tenant_id();
        let mut devices: Vec<String> = device_registry::Entity::find()
            .select_only()
            .column(device_registry::Column::DeviceId)
            .filter(device_registry::Column::TenantId.eq(tenant))
            .into_tuple::<String>()
            .all(scope.txn)
            .await?;
        // Byte order on every backend, whatever the database's collation.
        devices.sort_unstable();

        // The tenant's campaigns with their firmware, through the relation.
        let campaigns: HashMap<String, (ota_campaigns::Model, Option<firmware_versions::Model>)> =
            ota_campaigns::Entity::find()
                .filter(ota_campaigns::Column::TenantId.eq(tenant))
                .find_also_related(firmware_versions::Entity)
                .all(scope.txn)
                .await?
                .into_iter()
                .map(|(c, f)| (c.name.clone(), (c, f)))
                .collect();

        let mut counts = TableCounts::default();
        let mut devices_with_new_rows = HashSet::new();
        for planned in &scope.plan.campaigns {
            let Some((campaign, _firmware)) = campaigns.get(&planned.name) else {
                return Err(DbErr::RecordNotFound(format!(
                    "campaign {:?} of tenant {tenant} (include `campaigns` in --only)",
                    planned.name
                )));
            };
            let existing: HashSet<String> = ota_device_status::Entity::find()
                .select_only()
                .column(ota_device_status::Column::DeviceId)
                .filter(ota_device_status::Column::TenantId.eq(tenant))
                .filter(ota_device_status::Column::CampaignId.eq(campaign.id))
                .into_tuple::<String>()
                .all(scope.txn)
                .await?
                .into_iter()
                .collect();
            let mut missing = Vec::new();
            for (index, device_id) in devices.iter().enumerate() {
                if existing.contains(device_id) {
                    continue;
                }
                let row = planned.outcome(index, devices.len());
                devices_with_new_rows.insert(device_id.clone());
                missing.push(ota_device_status::ActiveModel {
                    tenant_id: Set(tenant.to_owned()),
                    campaign_id: Set(campaign.id),
                    device_id: Set(device_id.clone()),
                    status: Set(row.status.into()),
                    progress_pct: Set(row.progress_pct),
                    error_message: Set(row.error_message.map(str::to_owned)),
                    started_at: Set(row.started_at(scope.now)),
                    completed_at: Set(row.completed_at(scope.now)),
                    ..Default::default()
                });
            }
            let inserted = insert_rows(
                scope.txn,
                missing,
                &[
                    ota_device_status::Column::TenantId,
                    ota_device_status::Column::CampaignId,
                    ota_device_status::Column::DeviceId,
                ],
            )
            .await?;
            counts.inserted += inserted;
            counts.present += devices.len() as u64 - inserted;
        }
        Ok(DeviceStatusOutcome {
            counts,
            devices_with_new_rows,
        })
    }
}
