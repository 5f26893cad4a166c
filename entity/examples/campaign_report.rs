//! Application code reusing the `entity` crate: load one campaign together
//! with its firmware, its per-device statuses and each status's device,
//! through the entities' relations.
//!
//!     cargo run -p entity --example campaign_report                # demo on in-memory SQLite
//!     DATABASE_URL=postgres://... cargo run -p entity --example campaign_report -- tenant-a
//!
//! With a `DATABASE_URL` it reads an existing database (seeded by `seeder`);
//! without one it builds a tiny sample in memory first.
//!
//! The reads run in a transaction scoped to the tenant
//! (`entity::tenant_scope`): on PostgreSQL, connected as the platform's
//! application role (not the tables' owner), row level security shows no
//! rows at all outside such a scope.

use anyhow::{Context, Result, bail};
use entity::prelude::*;
use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status};
use sea_orm::{ColumnTrait, Database, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

/// A campaign as an operator's dashboard shows it.
#[derive(Debug)]
pub struct CampaignReport {
    pub campaign: ota_campaigns::Model,
    pub firmware: firmware_versions::Model,
    /// Status rows by device_id, each with the device it names (if registered).
    pub devices: Vec<(ota_device_status::Model, Option<device_registry::Model>)>,
}

pub async fn load_campaign_report(
    db: &DatabaseConnection,
    tenant_id: &str,
    campaign_name: &str,
) -> Result<Option<CampaignReport>> {
    // One transaction scoped to the tenant: row level security on
    // PostgreSQL, one consistent snapshot everywhere.
    let txn = entity::tenant_scope::begin_for_tenant(db, tenant_id).await?;

    // Campaign and firmware in one query, over the generated relation.
    let Some((campaign, firmware)) = OtaCampaigns::find()
        .filter(ota_campaigns::Column::TenantId.eq(tenant_id))
        .filter(ota_campaigns::Column::Name.eq(campaign_name))
        .find_also_related(FirmwareVersions)
        .one(&txn)
        .await?
    else {
        return Ok(None);
    };
    let firmware = firmware.context("the campaign's firmware row is missing")?;

    // Status rows with their devices, over the hand-written (tenant, device) relation.
    let devices = OtaDeviceStatus::find()
        .filter(ota_device_status::Column::CampaignId.eq(campaign.id))
        .order_by_asc(ota_device_status::Column::DeviceId)
        .find_also_related(DeviceRegistry)
        .all(&txn)
        .await?;
    txn.commit().await?;

    Ok(Some(CampaignReport {
        campaign,
        firmware,
        devices,
    }))
}

/// Inserts one tenant, one firmware, one campaign and two device statuses.
pub async fn insert_sample(db: &DatabaseConnection) -> Result<()> {
    use entity::status::{CampaignStatus, DeviceUpdateStatus};
    use sea_orm::{ActiveModelTrait, Set};

    use migration::MigratorTrait;
    migration::Migrator::up(db, None).await?;
    entity::tenants::ActiveModel {
        tenant_id: Set("tenant-a".into()),
        name: Set("Acme IoT Corp".into()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let firmware = firmware_versions::ActiveModel {
        tenant_id: Set("tenant-a".into()),
        version: Set("1.1.0".into()),
        file_url: Set("https://firmware.example.com/v1.1.0/firmware.bin".into()),
        device_type: Set(Some("sensor".into())),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let campaign = ota_campaigns::ActiveModel {
        tenant_id: Set("tenant-a".into()),
        name: Set("Fleet Update to v1.1.0".into()),
        firmware_version_id: Set(firmware.id),
        target_group_id: Set("all".into()),
        status: Set(CampaignStatus::Running.into()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    for (device_id, status) in [
        ("site-1-sensor-01", DeviceUpdateStatus::Downloading),
        ("site-1-sensor-02", DeviceUpdateStatus::Pending),
    ] {
        device_registry::ActiveModel {
            tenant_id: Set("tenant-a".into()),
            device_id: Set(device_id.into()),
            site_id: Set("site-1".into()),
            metadata: Set(serde_json::json!({})),
            ..Default::default()
        }
        .insert(db)
        .await?;
        ota_device_status::ActiveModel {
            tenant_id: Set("tenant-a".into()),
            campaign_id: Set(campaign.id),
            device_id: Set(device_id.into()),
            status: Set(status.into()),
            ..Default::default()
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let tenant = std::env::args().nth(1).unwrap_or_else(|| "tenant-a".into());
    let db = match std::env::var("DATABASE_URL") {
        Ok(url) => Database::connect(&url).await?,
        Err(_) => {
            let db = Database::connect("sqlite::memory:").await?;
            insert_sample(&db).await?;
            db
        }
    };
    let Some(report) = load_campaign_report(&db, &tenant, "Fleet Update to v1.1.0").await? else {
        bail!("tenant {tenant:?} has no campaign \"Fleet Update to v1.1.0\"");
    };
    println!(
        "{} / {}: {} (firmware {} for {})",
        report.campaign.tenant_id,
        report.campaign.name,
        report.campaign.status,
        report.firmware.version,
        report
            .firmware
            .device_type
            .as_deref()
            .unwrap_or("any device"),
    );
    for (status, device) in &report.devices {
        let site = device
            .as_ref()
            .map_or("unregistered", |d| d.site_id.as_str());
        println!(
            "  {:<28} {:<12} {:>3}%  site {site}",
            status.device_id, status.status, status.progress_pct
        );
    }
    Ok(())
}
