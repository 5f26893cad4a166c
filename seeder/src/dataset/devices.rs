use rand::RngExt as _;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::campaigns::CampaignSeed;
use super::firmware::{BASE_VERSION, FirmwareSeed};
use super::{DatasetSpec, TenantSeed};

pub const SENSOR_MODELS: [&str; 3] = ["DHT22", "BME280", "SHT31"];
pub const INSTALLED_ON: &str = "2024-01-15";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSeed {
    pub device_id: String,
    pub site_id: String,
    pub model: &'static str,
    /// Lowercase hex SHA-256 of `tok-{device_id}`.
    pub provision_token_hash: String,
    /// What the device runs after the campaigns of its tenant.
    pub fw_version: String,
}

impl DeviceSeed {
    pub fn metadata(&self) -> serde_json::Value {
        serde_json::json!({ "model": self.model, "installed": INSTALLED_ON })
    }
}

pub(super) fn devices_for(
    tenant: &TenantSeed,
    spec: &DatasetSpec,
    campaigns: &[CampaignSeed],
    firmware: &[FirmwareSeed],
    rng: &mut ChaCha8Rng,
) -> Vec<DeviceSeed> {
    let mut ids: Vec<(String, String)> = (0..spec.sites_per_tenant)
        .map(|i| {
            tenant
                .sites
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("site-{:02}", i + 1))
        })
        .flat_map(|site| {
            (1..=spec.devices_per_site)
                .map(move |n| (format!("{site}-sensor-{n:02}"), site.clone()))
        })
        .collect();
    // Status rows are assigned in device_id byte order on every backend, so
    // the plan uses the same order (never a database collation).
    ids.sort();
    let count = ids.len();
    ids.into_iter()
        .enumerate()
        .map(|(index, (device_id, site_id))| DeviceSeed {
            model: SENSOR_MODELS[rng.random_range(0..SENSOR_MODELS.len())],
            provision_token_hash: hex::encode(Sha256::digest(format!("tok-{device_id}"))),
            fw_version: running_version(index, count, campaigns, firmware),
            device_id,
            site_id,
        })
        .collect()
}

/// The version a device runs: that of the latest campaign it finished with
/// success, or the base firmware.
fn running_version(
    index: usize,
    count: usize,
    campaigns: &[CampaignSeed],
    firmware: &[FirmwareSeed],
) -> String {
    campaigns
        .iter()
        .filter_map(|c| {
            let outcome = c.outcome(index, count);
            outcome
                .status
                .is_terminal()
                .then_some((outcome.completed_offset, c, outcome.status))
        })
        .max_by_key(|(completed, _, _)| *completed)
        .filter(|(_, _, status)| *status == entity::status::DeviceUpdateStatus::Success)
        .and_then(|(_, c, _)| {
            firmware
                .iter()
                .find(|f| f.version == c.firmware_version && f.device_type == c.device_type)
        })
        .map_or_else(|| BASE_VERSION.to_owned(), |f| f.version.to_owned())
}
