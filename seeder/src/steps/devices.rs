use std::collections::HashSet;

use entity::device_registry;
use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::batch::insert_rows;
use super::{TableCounts, TenantScope};

/// `device_registry`: the tenant's sensors, running the firmware their
/// planned OTA history leaves them on.
pub struct DeviceStep;

impl DeviceStep {
    pub async fn run(&self, scope: &TenantScope<'_>) -> Result<TableCounts, DbErr> {
        let existing: HashSet<String> = device_registry::Entity::find()
            .select_only()
            .column(device_registry::Column::DeviceId)
            .filter(device_registry::Column::TenantId.eq(scope.tenant_id()))
            .into_tuple::<String>()
            .all(scope.txn)
            .await?
            .into_iter()
            .collect();
        let wanted = &scope.plan.devices;
        let missing: Vec<device_registry::ActiveModel> = wanted
            .iter()
            .filter(|d| !existing.contains(&d.device_id))
            .map(|d| device_registry::ActiveModel {
                tenant_id: Set(scope.tenant_id().to_owned()),
                device_id: Set(d.device_id.clone()),
                site_id: Set(d.site_id.clone()),
                status: Set("ACTIVE".to_owned()),
                provision_token_hash: Set(Some(d.provision_token_hash.clone())),
                fw_version: Set(Some(d.fw_version.clone())),
                metadata: Set(d.metadata()),
                ..Default::default()
            })
            .collect();
        let inserted = insert_rows(
            scope.txn,
            missing,
            &[
                device_registry::Column::TenantId,
                device_registry::Column::DeviceId,
            ],
        )
        .await?;
        Ok(TableCounts {
            inserted,
            present: wanted.len() as u64 - inserted,
            updated: 0,
        })
    }
}
