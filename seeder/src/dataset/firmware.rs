//! Firmware lines: each device type's releases, oldest first, as the
//! scenario lists and generates them (docs/scenarios.md).

use sha2::{Digest, Sha256};

use super::Moment;
use crate::scenario::DeviceTypeSpec;

/// A firmware build; its natural key is (tenant, version, device_type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareSeed {
    pub version: String,
    pub description: String,
    pub file_url: String,
    pub file_size_bytes: i64,
    pub checksum_sha256: String,
    pub device_type: String,
    /// When the build was released (`created_at`): before any campaign
    /// rolls it out.
    pub released: Moment,
}

/// The firmware builds of `t`'s line: its releases
/// ([`DeviceTypeSpec::releases`], `needed` as there), each with its file's
/// URL and checksum (the manifest's digest when the scenario gives none).
pub(crate) fn line_releases(t: &DeviceTypeSpec, needed: usize) -> Vec<FirmwareSeed> {
    let url = |version: &str| {
        t.firmware
            .url
            .replace("{version}", version)
            .replace("{device_type}", &t.name)
    };
    t.releases(needed)
        .into_iter()
        .map(|r| FirmwareSeed {
            file_url: url(&r.version),
            checksum_sha256: r
                .checksum_sha256
                .unwrap_or_else(|| manifest_digest(&t.name, &r.version, r.size_bytes)),
            description: r.description,
            file_size_bytes: r.size_bytes,
            device_type: t.name.clone(),
            released: r.released,
            version: r.version,
        })
        .collect()
}

/// The SHA-256 of a release's manifest, the text a build's checksum is
/// taken over when the scenario gives none: a real digest of content
/// anyone can rebuild from the row (docs/scenarios.md).
pub fn manifest_digest(device_type: &str, version: &str, size_bytes: i64) -> String {
    hex::encode(Sha256::digest(manifest(device_type, version, size_bytes)))
}

/// See [`manifest_digest`].
pub fn manifest(device_type: &str, version: &str, size_bytes: i64) -> String {
    format!(
        "ota-seed firmware\ndevice_type: {device_type}\nversion: {version}\nsize_bytes: {size_bytes}\n"
    )
}
