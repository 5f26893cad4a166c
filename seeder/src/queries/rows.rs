//! The tenant's existing rows by natural key, read by the seeding steps
//! (what is missing) and the dry run (what a run would insert) alike.

use std::collections::{HashMap, HashSet};

use entity::{device_registry, firmware_versions, ota_device_status};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

/// The tenant's device ids as stored.
pub async fn existing_device_ids<C: ConnectionTrait>(
    conn: &C,
    tenant_id: &str,
) -> Result<HashSet<String>, DbErr> {
    Ok(device_registry::Entity::find()
        .select_only()
        .column(device_registry::Column::DeviceId)
        .filter(device_registry::Column::TenantId.eq(tenant_id))
        .into_tuple::<String>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

/// The tenant's devices with when each was provisioned, sorted by id in
/// byte order (whatever the database's collation).
pub async fn device_provisioning<C: ConnectionTrait>(
    conn: &C,
    tenant_id: &str,
) -> Result<Vec<(String, chrono::DateTime<chrono::FixedOffset>)>, DbErr> {
    let mut devices: Vec<(String, chrono::DateTime<chrono::FixedOffset>)> =
        device_registry::Entity::find()
            .select_only()
            .column(device_registry::Column::DeviceId)
            .column(device_registry::Column::ProvisionedAt)
            .filter(device_registry::Column::TenantId.eq(tenant_id))
            .into_tuple()
            .all(conn)
            .await?;
    devices.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Ok(devices)
}

/// The tenant's builds by natural key (a handful of rows).
pub async fn existing_firmware<C: sea_orm::ConnectionTrait>(
    conn: &C,
    tenant_id: &str,
) -> Result<HashMap<(String, Option<String>), firmware_versions::Model>, DbErr> {
    Ok(firmware_versions::Entity::find()
        .filter(firmware_versions::Column::TenantId.eq(tenant_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|f| ((f.version.clone(), f.device_type.clone()), f))
        .collect())
}

/// The devices that have a status row in the campaign.
pub async fn campaign_device_ids<C: ConnectionTrait>(
    conn: &C,
    tenant_id: &str,
    campaign_id: i32,
) -> Result<HashSet<String>, DbErr> {
    Ok(ota_device_status::Entity::find()
        .select_only()
        .column(ota_device_status::Column::DeviceId)
        .filter(ota_device_status::Column::TenantId.eq(tenant_id))
        .filter(ota_device_status::Column::CampaignId.eq(campaign_id))
        .into_tuple::<String>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

/// A campaign's counters as its status rows give them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CampaignCounters {
    pub total_devices: i64,
    pub succeeded: i64,
    pub failed: i64,
}

/// The tenant's status rows counted per campaign id.
pub async fn count_status_rows<C: ConnectionTrait>(
    conn: &C,
    tenant_id: &str,
) -> Result<HashMap<i32, CampaignCounters>, DbErr> {
    let count_where =
        |status: &str| Expr::cust(format!("COUNT(CASE WHEN status = '{status}' THEN 1 END)"));
    let rows: Vec<(i32, i64, i64, i64)> = ota_device_status::Entity::find()
        .select_only()
        .column(ota_device_status::Column::CampaignId)
        .column_as(ota_device_status::Column::Id.count(), "total")
        .column_as(count_where("SUCCESS"), "succeeded")
        .column_as(count_where("FAILED"), "failed")
        .filter(ota_device_status::Column::TenantId.eq(tenant_id))
        .group_by(ota_device_status::Column::CampaignId)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, total_devices, succeeded, failed)| {
            (
                id,
                CampaignCounters {
                    total_devices,
                    succeeded,
                    failed,
                },
            )
        })
        .collect())
}
