//! Reading a seeded database back: whole-table snapshots (to prove a rerun
//! changed nothing) and a backend-independent digest of the dataset (to
//! prove the same seed gives the same rows everywhere).

use std::collections::BTreeMap;

use entity::prelude::*;
use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status, tenants};
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Every row of every table, every column (ids and timestamps included).
pub async fn table_contents(
    db: &DatabaseConnection,
) -> anyhow::Result<BTreeMap<&'static str, Vec<Value>>> {
    fn rows<T: serde::Serialize>(models: Vec<T>) -> anyhow::Result<Vec<Value>> {
        Ok(models
            .into_iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?)
    }
    let mut out = BTreeMap::new();
    out.insert(
        "tenants",
        rows(
            Tenants::find()
                .order_by_asc(tenants::Column::TenantId)
                .all(db)
                .await?,
        )?,
    );
    out.insert(
        "device_registry",
        rows(
            DeviceRegistry::find()
                .order_by_asc(device_registry::Column::TenantId)
                .order_by_asc(device_registry::Column::DeviceId)
                .all(db)
                .await?,
        )?,
    );
    out.insert(
        "firmware_versions",
        rows(
            FirmwareVersions::find()
                .order_by_asc(firmware_versions::Column::Id)
                .all(db)
                .await?,
        )?,
    );
    out.insert(
        "ota_campaigns",
        rows(
            OtaCampaigns::find()
                .order_by_asc(ota_campaigns::Column::Id)
                .all(db)
                .await?,
        )?,
    );
    out.insert(
        "ota_device_status",
        rows(
            OtaDeviceStatus::find()
                .order_by_asc(ota_device_status::Column::Id)
                .all(db)
                .await?,
        )?,
    );
    Ok(out)
}

/// Which parts of the rows a digest covers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum DigestScope {
    /// Everything but ids and timestamps.
    Everything,
    /// Also without the parts drawn from the seed (device metadata).
    WithoutRandomParts,
}

/// SHA-256 over the dataset's rows without ids and timestamps, with foreign
/// keys replaced by natural keys and rows sorted in Rust (byte order), so
/// the same data gives the same digest on every backend.
pub async fn dataset_digest(db: &DatabaseConnection, scope: DigestScope) -> anyhow::Result<String> {
    let mut lines: Vec<String> = Vec::new();
    for t in Tenants::find().all(db).await? {
        lines.push(format!(
            "tenant|{}|{}|{}|{:?}|{:?}|{:?}",
            t.tenant_id, t.name, t.status, t.contact_email, t.country, t.data_residency_region
        ));
    }
    for d in DeviceRegistry::find().all(db).await? {
        let metadata = match scope {
            // serde_json's map is ordered, so this text is canonical.
            DigestScope::Everything => d.metadata.to_string(),
            DigestScope::WithoutRandomParts => String::new(),
        };
        lines.push(format!(
            "device|{}|{}|{}|{}|{:?}|{:?}|{:?}|{metadata}",
            d.tenant_id,
            d.device_id,
            d.site_id,
            d.status,
            d.provision_token_hash,
            d.device_pubkey,
            d.fw_version
        ));
    }
    let firmware = FirmwareVersions::find().all(db).await?;
    let firmware_key = |id: i32| {
        firmware
            .iter()
            .find(|f| f.id == id)
            .map(|f| format!("{}/{}/{:?}", f.tenant_id, f.version, f.device_type))
            .unwrap_or_else(|| format!("missing firmware {id}"))
    };
    for f in &firmware {
        lines.push(format!(
            "firmware|{}|{}|{:?}|{}|{:?}|{:?}|{:?}|{:?}",
            f.tenant_id,
            f.version,
            f.description,
            f.file_url,
            f.file_size_bytes,
            f.checksum_sha256,
            f.device_type,
            f.created_by
        ));
    }
    let campaigns = OtaCampaigns::find().all(db).await?;
    for c in &campaigns {
        lines.push(format!(
            "campaign|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{:?}|{}|{}",
            c.tenant_id,
            c.name,
            firmware_key(c.firmware_version_id),
            c.target_group_id,
            c.rollout_strategy,
            c.rollout_rate,
            c.abort_threshold,
            c.status,
            c.total_devices,
            c.succeeded,
            c.failed,
            c.created_by,
            c.started_at.is_some(),
            c.completed_at.is_some(),
        ));
    }
    for s in OtaDeviceStatus::find().all(db).await? {
        let campaign = campaigns
            .iter()
            .find(|c| c.id == s.campaign_id)
            .map(|c| format!("{}/{}", c.tenant_id, c.name))
            .unwrap_or_default();
        lines.push(format!(
            "status|{}|{campaign}|{}|{}|{}|{:?}|{}|{}",
            s.tenant_id,
            s.device_id,
            s.status,
            s.progress_pct,
            s.error_message,
            s.started_at.is_some(),
            s.completed_at.is_some(),
        ));
    }
    lines.sort();
    Ok(hex::encode(Sha256::digest(lines.join("\n"))))
}
