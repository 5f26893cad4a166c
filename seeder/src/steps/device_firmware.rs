use std::collections::{BTreeMap, HashSet};

use entity::device_registry;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};

use super::TenantScope;
use crate::queries::stale_device_firmware;

/// Keeps `device_registry.fw_version` true to the OTA history: a device
/// that got a successful update in this run (one the dataset did not create
/// already on that version, such as a device added by hand) now runs that
/// firmware. Devices without a new status row are left alone.
pub struct DeviceFirmwareStep;

impl DeviceFirmwareStep {
    pub async fn run(
        &self,
        scope: &TenantScope<'_>,
        touched: &HashSet<String>,
    ) -> Result<u64, DbErr> {
        if touched.is_empty() {
            return Ok(0);
        }
        let stale = stale_device_firmware(scope.txn, Some(&[scope.tenant_id().to_owned()])).await?;
        let mut by_version: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for device in stale.into_iter().filter(|d| touched.contains(&d.device_id)) {
            by_version
                .entry(device.expected_version)
                .or_default()
                .push(device.device_id);
        }
        let mut updated = 0;
        for (version, devices) in by_version {
            for chunk in devices.chunks(1_000) {
                updated += device_registry::Entity::update_many()
                    .col_expr(
                        device_registry::Column::FwVersion,
                        Expr::value(version.clone()),
                    )
                    .filter(device_registry::Column::TenantId.eq(scope.tenant_id()))
                    .filter(device_registry::Column::DeviceId.is_in(chunk.iter().cloned()))
                    .exec(scope.txn)
                    .await?
                    .rows_affected;
            }
        }
        Ok(updated)
    }
}
