//! A tenant's devices, produced one at a time: a million-device fleet is
//! never held in memory, and device `i` of the stream is device `i` in
//! device_id byte order (the order status rows are assigned in).

use rand::RngExt as _;
use sha2::{Digest, Sha256};

use super::campaigns::CampaignSeed;
use super::firmware::BASE_VERSION;

pub const SENSOR_MODELS: [&str; 3] = ["DHT22", "BME280", "SHT31"];
pub const INSTALLED_ON: &str = "2024-01-15";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSeed {
    pub device_id: String,
    pub site_id: String,
    pub model: &'static str,
    /// Lowercase hex SHA-256 of `tok-{device_id}`.
    pub provision_token_hash: String,
    /// What the device runs after its tenant's campaigns.
    pub fw_version: String,
}

impl DeviceSeed {
    pub fn metadata(&self) -> serde_json::Value {
        serde_json::json!({ "model": self.model, "installed": INSTALLED_ON })
    }
}

/// The devices of one tenant: `sites × devices_per_site`.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// Sorted so that device ids come out in byte order (see `new`).
    sites: Vec<String>,
    devices_per_site: usize,
    width: usize,
    seed: u64,
    stream: u64,
}

impl Fleet {
    pub(super) fn new(
        mut sites: Vec<String>,
        devices_per_site: usize,
        seed: u64,
        stream: u64,
    ) -> Fleet {
        // Device ids are `{site}-sensor-{n}` with n zero-padded to one width,
        // so ordering sites by that prefix orders every device id.
        sites.sort_by_cached_key(|s| format!("{s}-sensor-"));
        let width = devices_per_site.to_string().len().max(2);
        Fleet {
            sites,
            devices_per_site,
            width,
            seed,
            stream,
        }
    }

    pub fn len(&self) -> usize {
        self.sites.len() * self.devices_per_site
    }

    /// The device ids in byte order, without the rest of the rows.
    pub fn device_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.sites.iter().flat_map(move |site| {
            (1..=self.devices_per_site)
                .map(move |n| format!("{site}-sensor-{n:0w$}", w = self.width))
        })
    }

    /// Whether `test` holds for every device id, asked in byte order until
    /// one fails. The ids are written into one buffer rather than
    /// allocated each: a rerun asks this of a million ids.
    pub fn every_device_id(&self, mut test: impl FnMut(&str) -> bool) -> bool {
        use std::fmt::Write as _;
        let mut id = String::new();
        for site in &self.sites {
            for n in 1..=self.devices_per_site {
                id.clear();
                // Writing to a String cannot fail.
                let _ = write!(id, "{site}-sensor-{n:0w$}", w = self.width);
                if !test(&id) {
                    return false;
                }
            }
        }
        true
    }

    /// Every device, in byte order of device_id, with the firmware its
    /// campaigns leave it on.
    pub fn devices<'a>(
        &'a self,
        campaigns: &'a [CampaignSeed],
    ) -> impl Iterator<Item = DeviceSeed> + 'a {
        let mut rng = super::rng(self.seed, self.stream);
        let count = self.len();
        self.device_ids()
            .enumerate()
            .map(move |(index, device_id)| {
                let site_id =
                    device_id[..device_id.len() - "-sensor-".len() - self.width].to_owned();
                DeviceSeed {
                    model: SENSOR_MODELS[rng.random_range(0..SENSOR_MODELS.len())],
                    provision_token_hash: hex::encode(Sha256::digest(format!("tok-{device_id}"))),
                    fw_version: running_version(index, count, campaigns),
                    device_id,
                    site_id,
                }
            })
    }
}

/// The version a device runs: its campaign's if its update there
/// succeeded, else the base firmware. (Campaigns target disjoint slices of
/// the fleet, so a device has at most one update.)
fn running_version(index: usize, count: usize, campaigns: &[CampaignSeed]) -> String {
    for (c, campaign) in campaigns.iter().enumerate() {
        let slice = CampaignSeed::slice(c, campaigns.len(), count);
        if slice.contains(&index) {
            let outcome = campaign.outcome(index - slice.start, slice.len());
            if outcome.status == entity::status::DeviceUpdateStatus::Success {
                return campaign.firmware_version.clone();
            }
        }
    }
    BASE_VERSION.to_owned()
}
