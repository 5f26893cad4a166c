//! Scenarios: the OTA world a run seeds. A scenario names its tenants, its
//! device types (each with models, a share of the fleet and a firmware
//! line), its fleet (sites, devices per site, when they were provisioned)
//! and how campaigns roll the releases out. Built-in scenarios are TOML
//! files in `seeder/scenarios/`; a user's file has the same shape
//! (docs/scenarios.md).
//!
//! Reading a file refuses unknown keys and impossible values with the
//! file, line and column; [`Scenario::check`] then refuses combinations
//! that cannot make a coherent world (see `validate`).

mod builtin;
mod campaigns;
mod moment;
mod provisioning;
mod releases;
#[cfg(test)]
mod tests;
mod validate;
mod values;
mod when;

pub use builtin::{BUILTIN, Builtin};
pub use moment::Moment;
pub use validate::ScenarioError;
pub use when::When;

use serde::{Deserialize, Serialize};

/// A world to seed. Fields are public so that a caller (or the size
/// options) can adjust a loaded scenario before building its dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Shown by `seeder scenarios` and in reports.
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub tenants: TenantsSpec,
    pub fleet: FleetSpec,
    /// At least one; the order is the order of the device ids' types.
    #[serde(rename = "device_type")]
    pub device_types: Vec<DeviceTypeSpec>,
    pub campaigns: CampaignsSpec,
}

/// Which tenants exist: the named ones first, then generated ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantsSpec {
    /// Tenants with a fixed profile, in order.
    #[serde(default)]
    pub named: Vec<NamedTenant>,
    /// Tenants after the named ones: ids `tenant-NNNN` numbered on from
    /// the named ones, generated company profiles.
    #[serde(default, deserialize_with = "values::count")]
    pub generated: u64,
    /// When the tenants joined the platform (`created_at`): before their
    /// first firmware release and their first device.
    pub created: When,
}

/// A tenant with a fixed profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedTenant {
    #[serde(deserialize_with = "values::slug")]
    pub id: String,
    pub name: String,
    /// ISO 3166 two-letter code.
    pub country: String,
    pub region: String,
    pub contact_email: String,
    /// Its first sites' ids (more are `site-NNNN`).
    #[serde(default)]
    pub sites: Vec<String>,
}

/// The devices of every tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSpec {
    #[serde(deserialize_with = "values::at_least_one")]
    pub sites_per_tenant: u64,
    #[serde(deserialize_with = "values::at_least_one")]
    pub devices_per_site: u64,
    /// When devices were provisioned.
    pub provisioned: Provisioning,
    /// Share of the devices that are `REVOKED` now (each after its
    /// provisioning; campaigns that start later skip it).
    #[serde(default, deserialize_with = "values::fraction")]
    pub revoked_share: f64,
}

/// When devices were provisioned: all on one date (`provisioned =
/// "2024-01-15"`), or spread over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Provisioning {
    Once(When),
    Spread(GrowthSpec),
}

/// A fleet that grew: `initial_share` of it provisioned at `from`, the rest
/// spread evenly (at random) until `until`. Both relative (`"N days ago"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrowthSpec {
    pub from: When,
    pub until: When,
    #[serde(default, deserialize_with = "values::fraction")]
    pub initial_share: f64,
}

/// A kind of device, with its own firmware line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceTypeSpec {
    /// Written to `firmware_versions.device_type`, to the devices'
    /// metadata and into their ids (`{site}-{name}-{NN}`).
    #[serde(deserialize_with = "values::slug")]
    pub name: String,
    /// Share of every site's devices; the shares sum to 1.
    #[serde(deserialize_with = "values::fraction")]
    pub share: f64,
    /// Models drawn at random (from `--seed`) for each device.
    pub models: Vec<String>,
    pub firmware: FirmwareLine,
}

/// A device type's releases, oldest first: the listed ones, then the
/// generated ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirmwareLine {
    /// `file_url`, with `{version}` and `{device_type}` replaced.
    #[serde(default = "default_url")]
    pub url: String,
    #[serde(default)]
    pub releases: Vec<ReleaseSpec>,
    #[serde(default)]
    pub generated: Option<GeneratedReleases>,
}

fn default_url() -> String {
    "https://firmware.example.com/v{version}/firmware.bin".to_owned()
}

/// One release of a line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSpec {
    #[serde(deserialize_with = "values::version")]
    pub version: semver::Version,
    pub released: When,
    pub description: String,
    #[serde(deserialize_with = "values::bytes")]
    pub size_bytes: i64,
    /// Lowercase hex SHA-256; by default the digest of the release's
    /// manifest (docs/scenarios.md), so every build has a real checksum.
    #[serde(default)]
    pub checksum_sha256: Option<String>,
}

/// Releases made at a cadence after the listed ones (or from
/// `first_version` when none are listed): each bumps the minor version,
/// grows by `size_step_bytes`, and takes the next description of the pool
/// (`{version}` replaced).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratedReleases {
    /// How many; with `targets = "slices"` it may be left out: as many as
    /// the campaigns need.
    #[serde(default, deserialize_with = "optional_count")]
    pub count: Option<u64>,
    /// The first generated release's version, when no release is listed.
    #[serde(default, deserialize_with = "optional_version")]
    pub first_version: Option<semver::Version>,
    /// When the first generated release came out.
    pub first_released: When,
    /// Days between two releases (0: all on the same day).
    #[serde(deserialize_with = "values::days")]
    pub every_days: f64,
    /// The first generated release's size when no release is listed.
    #[serde(default, deserialize_with = "optional_bytes")]
    pub first_size_bytes: Option<i64>,
    #[serde(deserialize_with = "values::bytes")]
    pub size_step_bytes: i64,
    pub descriptions: Vec<String>,
}

fn optional_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    values::count(d).map(Some)
}
fn optional_version<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<semver::Version>, D::Error> {
    values::version(d).map(Some)
}
fn optional_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    values::bytes(d).map(Some)
}

/// How campaigns are made.
///
/// Read through `campaigns::CampaignsFile` (one table whose keys depend
/// on `targets`), so that a mistake in a key is reported at that key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "targets",
    rename_all = "snake_case",
    try_from = "campaigns::CampaignsFile"
)]
pub enum CampaignsSpec {
    /// The demo's shape: `per_tenant` campaigns, each on its own slice of
    /// the fleet, rolling out the single device type's releases after the
    /// first; they take COMPLETED, RUNNING, PAUSED, ABORTED, CREATED in turn.
    Slices(SliceCampaigns),
    /// A campaign for every release after the first of each line, targeting
    /// the devices of that type provisioned before the release (and not
    /// revoked before the campaign started).
    Releases(ReleaseCampaigns),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliceCampaigns {
    #[serde(deserialize_with = "values::at_least_one")]
    pub per_tenant: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseCampaigns {
    /// Days from a release to its campaign's start.
    #[serde(deserialize_with = "values::days")]
    pub lag_days: f64,
    /// Days a rollout takes; shorter than the gap between two releases of
    /// a line, so a device's updates never overlap.
    #[serde(deserialize_with = "values::days")]
    pub duration_days: f64,
    /// Share of a completed campaign's devices whose update failed.
    #[serde(deserialize_with = "values::fraction")]
    pub failure_rate: f64,
    /// `error_message`s of failed updates, used in turn at random.
    pub failure_messages: Vec<String>,
    #[serde(deserialize_with = "values::fraction")]
    pub abort_threshold: f64,
    /// Campaigns that were aborted (failures above the threshold).
    #[serde(default)]
    pub aborted: Vec<CampaignRef>,
    /// The state of each line's newest campaign now; the others are
    /// finished (COMPLETED, or ABORTED when listed above).
    #[serde(default)]
    pub now: Vec<NowState>,
}

/// A release's campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignRef {
    pub device_type: String,
    #[serde(deserialize_with = "values::version")]
    pub version: semver::Version,
}

/// The newest campaign of a line, now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NowState {
    pub device_type: String,
    pub state: NewestState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NewestState {
    /// Finished like the older ones.
    Completed,
    /// Rolling out now: some devices done, some in progress, some pending.
    Running,
    /// Stopped half-way by an operator.
    Paused,
    /// Created, not started (`CREATED`, every device `PENDING`).
    Scheduled,
}

impl Scenario {
    /// A built-in scenario by name (`demo`, `fleet`, `history`).
    pub fn builtin(name: &str) -> Option<Scenario> {
        let builtin = BUILTIN.iter().find(|b| b.name == name)?;
        // The built-ins are tested to read and check cleanly.
        Scenario::from_toml(builtin.text, &format!("built-in scenario {name}")).ok()
    }

    /// The platform's demo (docs/dataset.md): the default.
    pub fn demo() -> Scenario {
        Scenario::builtin("demo").expect("the built-in demo scenario reads and checks cleanly")
    }

    /// Reads a scenario from TOML text; `origin` names it in errors (a path).
    /// Errors: a key the format lacks, a value out of range, or a
    /// combination that cannot make a coherent world, with line and column.
    pub fn from_toml(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario =
            toml::from_str(text).map_err(|e| ScenarioError::from_toml(origin, text, &e))?;
        scenario.check_in(origin, text)?;
        Ok(scenario)
    }

    /// A built-in by name, or else a file by path.
    pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        if let Some(b) = BUILTIN.iter().find(|b| b.name == name_or_path) {
            return Scenario::from_toml(b.text, &format!("built-in scenario {}", b.name));
        }
        let text = std::fs::read_to_string(name_or_path)
            .map_err(|e| ScenarioError::unreadable(name_or_path, &e))?;
        Scenario::from_toml(&text, name_or_path)
    }

    /// Checks a scenario built or changed in code (as [`Scenario::from_toml`]
    /// does after reading), without positions.
    pub fn check(&self) -> Result<(), ScenarioError> {
        self.check_in(&self.name, "")
    }

    /// The tenants in all.
    pub fn tenant_count(&self) -> u64 {
        self.tenants.named.len() as u64 + self.tenants.generated
    }

    /// Sets the number of tenants in all: the first `n` named ones, then
    /// generated ones.
    pub fn set_tenant_count(&mut self, n: u64) {
        let named = self.tenants.named.len() as u64;
        if n < named {
            self.tenants.named.truncate(n as usize);
            self.tenants.generated = 0;
        } else {
            self.tenants.generated = n - named;
        }
    }
}
