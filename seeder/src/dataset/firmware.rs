use sha2::{Digest, Sha256};

/// A firmware build; its natural key is (tenant, version, device_type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareSeed {
    pub version: String,
    pub description: String,
    pub file_url: String,
    pub file_size_bytes: i64,
    pub checksum_sha256: String,
    pub device_type: &'static str,
}

/// The firmware every device runs before any campaign.
pub const BASE_VERSION: &str = "1.0.0";
pub const DEVICE_TYPE: &str = "sensor";

/// Version installed by campaign `index` (the demo campaign, 0, installs 1.1.0).
pub fn campaign_version(index: usize) -> String {
    format!("1.{}.0", index + 1)
}

/// The base build plus one build per campaign.
pub(super) fn firmware_for(campaigns: usize) -> Vec<FirmwareSeed> {
    let mut builds = vec![FirmwareSeed {
        version: BASE_VERSION.to_owned(),
        description: "Initial release - basic telemetry and heartbeat".to_owned(),
        file_url: url(BASE_VERSION),
        file_size_bytes: 524_288,
        checksum_sha256: "a".repeat(64),
        device_type: DEVICE_TYPE,
    }];
    for index in 0..campaigns.max(1) {
        let version = campaign_version(index);
        let (description, checksum) = if index == 0 {
            (
                "Added OTA update support and improved power management".to_owned(),
                "b".repeat(64),
            )
        } else {
            (
                format!("Maintenance release {version} - stability and power fixes"),
                hex::encode(Sha256::digest(format!("firmware-{version}"))),
            )
        };
        builds.push(FirmwareSeed {
            file_url: url(&version),
            file_size_bytes: 589_824 + 4_096 * index as i64,
            checksum_sha256: checksum,
            description,
            version,
            device_type: DEVICE_TYPE,
        });
    }
    builds
}

fn url(version: &str) -> String {
    format!("https://firmware.example.com/v{version}/firmware.bin")
}
