//! Firmware lines: each device type's releases, oldest first, as the
//! scenario lists and generates them (docs/scenarios.md).

use sha2::{Digest, Sha256};

use super::Moment;
use crate::scenario::{DeviceTypeSpec, When};

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

/// The releases of `t`'s line: the listed ones, then the generated ones
/// (`count` of them, or, when the scenario leaves it out, enough for the
/// line to have `needed` releases in all).
pub(crate) fn line_releases(t: &DeviceTypeSpec, needed: usize) -> Vec<FirmwareSeed> {
    let line = &t.firmware;
    let url = |version: &str| {
        line.url
            .replace("{version}", version)
            .replace("{device_type}", &t.name)
    };
    let mut builds: Vec<FirmwareSeed> = line
        .releases
        .iter()
        .map(|r| {
            let version = r.version.to_string();
            FirmwareSeed {
                file_url: url(&version),
                description: r.description.clone(),
                file_size_bytes: r.size_bytes,
                checksum_sha256: r
                    .checksum_sha256
                    .clone()
                    .unwrap_or_else(|| manifest_digest(&t.name, &version, r.size_bytes)),
                device_type: t.name.clone(),
                released: r.released.moment(),
                version,
            }
        })
        .collect();
    let Some(g) = &line.generated else {
        return builds;
    };
    let listed = line.releases.last();
    let count = g
        .count
        .map_or_else(|| needed.saturating_sub(builds.len()), |c| c as usize);
    for k in 0..count {
        let (version, size) = match listed {
            Some(last) => {
                let mut v = last.version.clone();
                v.minor += k as u64 + 1;
                v.patch = 0;
                v.pre = semver::Prerelease::EMPTY;
                v.build = semver::BuildMetadata::EMPTY;
                (v, last.size_bytes + (k as i64 + 1) * g.size_step_bytes)
            }
            None => {
                let mut v = g
                    .first_version
                    .clone()
                    .unwrap_or_else(|| semver::Version::new(1, 0, 0));
                v.minor += k as u64;
                (
                    v,
                    g.first_size_bytes.unwrap_or(1) + k as i64 * g.size_step_bytes,
                )
            }
        };
        let version = version.to_string();
        let description =
            g.descriptions[k % g.descriptions.len().max(1)].replace("{version}", &version);
        let released = match g.first_released {
            When::Date(date) => Moment::Date(
                date + chrono::Duration::days((g.every_days * k as f64).round() as i64),
            ),
            When::DaysAgo(days) => Moment::days_ago(days - g.every_days * k as f64),
        };
        builds.push(FirmwareSeed {
            file_url: url(&version),
            description,
            file_size_bytes: size,
            checksum_sha256: manifest_digest(&t.name, &version, size),
            device_type: t.name.clone(),
            released,
            version,
        });
    }
    builds
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
