//! Keeps `device_registry.fw_version` true to the OTA history: a device
//! that got a successful update in this run (one the dataset did not
//! create already on that version, such as a device added by hand) now
//! runs that firmware. Devices without a new status row are left alone.

use std::collections::{BTreeMap, HashMap, HashSet};

use entity::device_registry;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};

use super::sink::Sink;
use crate::queries::stale_device_firmware;
use crate::table::Table;

/// `touched`: per tenant, the devices that got a new successful row.
pub async fn apply(
    sink: &Sink<'_>,
    touched: &HashMap<String, HashSet<String>>,
) -> Result<u64, DbErr> {
    if touched.values().all(HashSet::is_empty) {
        return Ok(0);
    }
    let mut tenants: Vec<String> = touched.keys().cloned().collect();
    tenants.sort();
    // The check reads status rows: under row level security, one tenant
    // in scope at a time (a rare path: devices there before this run).
    let stale = if sink.guards.applies(Table::DeviceStatus) {
        let mut all = Vec::new();
        for tenant in &tenants {
            entity::tenant_scope::scope_to_tenant(sink.txn, tenant).await?;
            all.extend(stale_device_firmware(sink.txn, Some(std::slice::from_ref(tenant))).await?);
        }
        all
    } else {
        stale_device_firmware(sink.txn, Some(&tenants)).await?
    };
    let mut by_version: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for device in stale.into_iter().filter(|d| {
        touched
            .get(&d.tenant_id)
            .is_some_and(|t| t.contains(&d.device_id))
    }) {
        by_version
            .entry((device.tenant_id, device.expected_version))
            .or_default()
            .push(device.device_id);
    }
    let mut updated = 0;
    for ((tenant, version), devices) in by_version {
        for chunk in devices.chunks(1_000) {
            updated += device_registry::Entity::update_many()
                .col_expr(
                    device_registry::Column::FwVersion,
                    Expr::value(version.clone()),
                )
                .filter(device_registry::Column::TenantId.eq(tenant.as_str()))
                .filter(device_registry::Column::DeviceId.is_in(chunk.iter().cloned()))
                .exec(sink.txn)
                .await?
                .rows_affected;
        }
    }
    Ok(updated)
}
