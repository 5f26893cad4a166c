//! A tenant's devices, produced one at a time: a million-device fleet is
//! never held in memory, and device `i` of the stream is device `i` in
//! device_id byte order (the order status rows are assigned in).
//!
//! Each site holds the scenario's device types in proportion: with
//! cumulative shares C₁ ≤ C₂ ≤ … = 1 and D devices per site, type k gets
//! round(Cₖ·D) − round(Cₖ₋₁·D) of them (halves rounded up). Device ids are
//! `{site}-{type}-{n}`, n from 1, zero-padded to one width.

use std::sync::Arc;

use rand::RngExt as _;
use sha2::{Digest, Sha256};

use super::Moment;
use super::campaigns::{CampaignSeed, DeviceFacts, DeviceStatusSeed, Target};
use super::random::unit_interval;
use entity::status::DeviceUpdateStatus;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSeed {
    pub device_id: String,
    pub site_id: String,
    pub device_type: Arc<str>,
    pub model: Arc<str>,
    /// Lowercase hex SHA-256 of `tok-{device_id}`.
    pub provision_token_hash: String,
    /// What the device runs after its tenant's campaigns.
    pub fw_version: String,
    /// What it was provisioned with.
    pub provisioned_version: Arc<str>,
    /// When the device was provisioned: before any campaign targets it.
    pub provisioned: Moment,
    /// `REVOKED` devices are skipped by campaigns that start after their
    /// revocation.
    pub revoked: bool,
    /// Which metadata keys the device carries (see `metadata`).
    pub(super) metadata_style: MetadataStyle,
}

/// A device's id with the metadata a scenario and `--seed` decide (its
/// type and model): what [`Fleet::device_models`] gives, without the rest of a
/// [`DeviceSeed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceModel {
    pub device_id: String,
    device_type: Arc<str>,
    model: Arc<str>,
    metadata_style: MetadataStyle,
}

impl DeviceModel {
    /// The "model" or "type" text of the device's metadata as seeded
    /// (`None` for other keys, and where the style has no such key).
    pub fn metadata_text(&self, key: &str) -> Option<&str> {
        match (key, self.metadata_style) {
            ("model", _) => Some(&self.model),
            ("type", MetadataStyle::Typed) => Some(&self.device_type),
            _ => None,
        }
    }
}

/// The demo's devices carry `{"model", "installed"}` (docs/dataset.md);
/// devices of a scenario with several types or a history also carry their
/// `type` and the firmware they were provisioned with, which `verify`
/// reads (invariants 9 and 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MetadataStyle {
    Installed(chrono::NaiveDate),
    Typed,
}

impl DeviceSeed {
    pub fn metadata(&self) -> serde_json::Value {
        match self.metadata_style {
            MetadataStyle::Installed(date) => serde_json::json!({
                "model": &*self.model,
                "installed": date.format("%Y-%m-%d").to_string(),
            }),
            MetadataStyle::Typed => serde_json::json!({
                "model": &*self.model,
                "type": &*self.device_type,
                "firmware": &*self.provisioned_version,
            }),
        }
    }

    pub fn status(&self) -> &'static str {
        if self.revoked { "REVOKED" } else { "ACTIVE" }
    }
}

/// A device type as the fleet needs it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FleetType {
    pub name: Arc<str>,
    pub models: Vec<Arc<str>>,
    /// Its line's releases: version and when, oldest first.
    pub releases: Vec<(Arc<str>, Moment)>,
}

/// When devices were provisioned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ProvisionPlan {
    Once(Moment),
    /// `initial_share` at `from_days` ago, the rest uniformly until
    /// `until_days` ago.
    Spread {
        from_days: f64,
        until_days: f64,
        initial_share: f64,
    },
}

/// Sites × types: one contiguous run of device ids.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Unit {
    site: usize,
    device_type: usize,
    count: usize,
    /// Ordinal of its first device in the tenant's byte order.
    start: usize,
}

/// Whose a device id is (see [`Fleet::classify_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdKind {
    Planned,
    OtherSize,
    Foreign,
}

// The status row's random draws take the fleet's seed and stream, so it
// is defined here rather than in `campaigns`, which knows no fleet.
impl CampaignSeed {
    /// The status row of a target of this campaign: `rank` among its
    /// targets, `slice_len` its slice's size (slice campaigns), `ordinal`
    /// the device's position in `fleet` (release campaigns' random draws).
    /// What the status step writes and the summary counts.
    pub fn row(
        &self,
        rank: usize,
        slice_len: usize,
        fleet: &Fleet,
        ordinal: usize,
    ) -> DeviceStatusSeed {
        match self.target {
            Target::Slice { .. } => self.outcome(rank, slice_len),
            Target::Release { .. } => {
                self.release_outcome(rank, fleet.seed(), fleet.stream(), ordinal)
            }
        }
    }
}

/// The devices of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    sites: Vec<String>,
    units: Vec<Unit>,
    types: Arc<Vec<FleetType>>,
    width: usize,
    len: usize,
    seed: u64,
    stream: u64,
    provisioning: ProvisionPlan,
    revoked_share: f64,
    metadata_style: MetadataStyle,
}

/// Why a fleet cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutError(pub String);

impl Fleet {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        sites: Vec<String>,
        devices_per_site: usize,
        shares: &[f64],
        types: Arc<Vec<FleetType>>,
        provisioning: ProvisionPlan,
        revoked_share: f64,
        metadata_style: MetadataStyle,
        seed: u64,
        stream: u64,
    ) -> Result<Fleet, LayoutError> {
        let per_site = per_site_counts(shares, devices_per_site);
        let width = per_site
            .iter()
            .max()
            .map_or(0, |m| m.to_string().len())
            .max(2);
        let mut units: Vec<Unit> = (0..sites.len())
            .flat_map(|site| {
                per_site
                    .iter()
                    .enumerate()
                    .filter(|(_, count)| **count > 0)
                    .map(move |(device_type, &count)| Unit {
                        site,
                        device_type,
                        count,
                        start: 0,
                    })
            })
            .collect();
        // Ordering the units by their ids' common prefix orders every id,
        // unless one prefix continues another with digits (checked below).
        let prefix = |u: &Unit| format!("{}-{}-", sites[u.site], types[u.device_type].name);
        units.sort_by_cached_key(prefix);
        let mut start = 0;
        for u in &mut units {
            u.start = start;
            start += u.count;
        }
        let fleet = Fleet {
            sites,
            units,
            types,
            width,
            len: start,
            seed,
            stream,
            provisioning,
            revoked_share,
            metadata_style,
        };
        for w in fleet.units.windows(2) {
            let last = fleet.id_in(&w[0], w[0].count);
            let first = fleet.id_in(&w[1], 1);
            if last >= first {
                return Err(LayoutError(format!(
                    "device ids {last} and {first} would not sort by site: rename the site so that no site id is another's followed by a device type and a number"
                )));
            }
        }
        Ok(fleet)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn id_in(&self, unit: &Unit, n: usize) -> String {
        format!(
            "{}-{}-{n:0w$}",
            self.sites[unit.site],
            self.types[unit.device_type].name,
            w = self.width
        )
    }

    /// The device ids in byte order, without the rest of the rows.
    pub fn device_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.units
            .iter()
            .flat_map(move |u| (1..=u.count).map(move |n| self.id_in(u, n)))
    }

    /// The id of the device at `ordinal` (byte order).
    pub fn device_id(&self, ordinal: usize) -> String {
        let u = self.unit_of(ordinal);
        self.id_in(u, ordinal - u.start + 1)
    }

    fn unit_of(&self, ordinal: usize) -> &Unit {
        let i = self.units.partition_point(|u| u.start + u.count <= ordinal);
        &self.units[i.min(self.units.len().saturating_sub(1))]
    }

    /// Whether `test` holds for every device id, asked in byte order until
    /// one fails. The ids are written into one buffer rather than
    /// allocated each: a rerun asks this of a million ids.
    pub fn every_device_id(&self, mut test: impl FnMut(&str) -> bool) -> bool {
        use std::fmt::Write as _;
        let mut id = String::new();
        for u in &self.units {
            let (site, name) = (&self.sites[u.site], &self.types[u.device_type].name);
            for n in 1..=u.count {
                id.clear();
                // Writing to a String cannot fail.
                let _ = write!(id, "{site}-{name}-{n:0w$}", w = self.width);
                if !test(&id) {
                    return false;
                }
            }
        }
        true
    }

    /// The device at `ordinal`, without its id or model.
    pub fn facts(&self, ordinal: usize) -> DeviceFacts {
        let unit = self.unit_of(ordinal);
        let device_type = unit.device_type;
        let key = device_key(unit, ordinal - unit.start + 1);
        let random = |salt| unit_interval(self.seed, self.stream, key, salt);
        let provisioned_days = match self.provisioning {
            ProvisionPlan::Once(Moment::FromNow(offset)) => {
                Some(-offset.num_seconds() as f64 / 86_400.0)
            }
            ProvisionPlan::Once(Moment::Date(_)) => None,
            ProvisionPlan::Spread {
                from_days,
                until_days,
                initial_share,
            } => {
                let u = random(1);
                Some(if u < initial_share || initial_share >= 1.0 {
                    from_days
                } else {
                    let along = (u - initial_share) / (1.0 - initial_share);
                    // Whole seconds, as the database keeps them.
                    ((from_days - (from_days - until_days) * along) * 86_400.0).round() / 86_400.0
                })
            }
        };
        let releases = &self.types[device_type].releases;
        let provisioned_release = match provisioned_days {
            // The newest release out when the device was provisioned.
            Some(days) => releases
                .iter()
                .rposition(|(_, when)| days_ago(*when).is_none_or(|r| r >= days))
                .unwrap_or(0),
            None => 0,
        };
        let revoked_days =
            (self.revoked_share > 0.0 && random(2) < self.revoked_share).then(|| {
                let since = provisioned_days.unwrap_or(0.0);
                ((since * (1.0 - random(3))) * 86_400.0).round() / 86_400.0
            });
        DeviceFacts {
            device_type,
            provisioned_days,
            provisioned_release,
            revoked_days,
        }
    }

    /// Draws each device's model; asked for every device in byte order
    /// of device_id (the demo's come from one random stream in that order).
    fn model_draw(&self) -> impl FnMut(&Unit, usize) -> Arc<str> + '_ {
        let mut rng = super::random::rng(self.seed, self.stream);
        move |u, n| {
            let t = &self.types[u.device_type];
            match self.metadata_style {
                // The demo's models, as docs/dataset.md has always drawn
                // them: in id order from the tenant's stream.
                MetadataStyle::Installed(_) => {
                    t.models[rng.random_range(0..t.models.len())].clone()
                }
                // Keyed by the device, so that a fleet grown later (more
                // devices per site, more sites) keeps the models of the
                // devices it had.
                MetadataStyle::Typed => {
                    let u = unit_interval(self.seed, self.stream, device_key(u, n), 4);
                    t.models[(u * t.models.len() as f64) as usize % t.models.len()].clone()
                }
            }
        }
    }

    /// Every device's id, type and model, in byte order of device_id, as
    /// [`Fleet::devices`] gives them, at a fraction of its cost (no token
    /// hash, no firmware): what the check for another world compares.
    pub(crate) fn device_models(&self) -> impl Iterator<Item = DeviceModel> + '_ {
        let mut model = self.model_draw();
        self.units
            .iter()
            .flat_map(|u| (1..=u.count).map(move |n| (u, n)))
            .map(move |(u, n)| DeviceModel {
                device_id: self.id_in(u, n),
                device_type: self.types[u.device_type].name.clone(),
                model: model(u, n),
                metadata_style: self.metadata_style,
            })
    }

    /// Every device, in byte order of device_id, with the firmware its
    /// campaigns leave it on.
    pub fn devices<'a>(
        &'a self,
        campaigns: &'a [CampaignSeed],
    ) -> impl Iterator<Item = DeviceSeed> + 'a {
        let mut draw_model = self.model_draw();
        // Per campaign: how many devices it targeted so far (a device's
        // rank in a campaign decides its outcome there).
        let mut ranks = vec![0usize; campaigns.len()];
        let count = self.len;
        self.units
            .iter()
            .flat_map(move |u| (1..=u.count).map(move |n| (u, n)))
            .enumerate()
            .map(move |(ordinal, (u, n))| {
                let t = &self.types[u.device_type];
                let model = draw_model(u, n);
                let facts = self.facts(ordinal);
                let provisioned_version = t.releases[facts.provisioned_release].0.clone();
                let fw_version =
                    running_version(ordinal, count, &facts, campaigns, &mut ranks, self)
                        .unwrap_or_else(|| provisioned_version.to_string());
                let device_id = self.id_in(u, n);
                DeviceSeed {
                    provision_token_hash: hex::encode(Sha256::digest(format!("tok-{device_id}"))),
                    site_id: self.sites[u.site].clone(),
                    device_type: t.name.clone(),
                    model,
                    fw_version,
                    provisioned_version,
                    provisioned: match facts.provisioned_days {
                        Some(days) => Moment::days_ago(days),
                        None => match self.provisioning {
                            ProvisionPlan::Once(m) => m,
                            ProvisionPlan::Spread { from_days, .. } => Moment::days_ago(from_days),
                        },
                    },
                    revoked: facts.revoked_days.is_some(),
                    metadata_style: self.metadata_style,
                    device_id,
                }
            })
    }

    /// Whether `id` is a planned device's, another size's of this dataset
    /// (a planned site and type, but a number out of range or padded to
    /// another width), or none of its own (added by hand).
    pub(crate) fn classify_id(&self, id: &str) -> IdKind {
        let Some(dash) = id.rfind('-') else {
            return IdKind::Foreign;
        };
        let (prefix, digits) = (&id[..=dash], &id[dash + 1..]);
        let Ok(n) = digits.parse::<usize>() else {
            return IdKind::Foreign;
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return IdKind::Foreign;
        }
        let unit_prefix =
            |u: &Unit| format!("{}-{}-", self.sites[u.site], self.types[u.device_type].name);
        if let Ok(i) = self
            .units
            .binary_search_by(|u| unit_prefix(u).as_str().cmp(prefix))
        {
            let u = &self.units[i];
            // Another width is another size's numbering; a number past the
            // site's devices at the same width may as well be a device
            // added by hand under the same naming (a shrunk fleet is not
            // told from that).
            return if digits.len() != self.width {
                IdKind::OtherSize
            } else if (1..=u.count).contains(&n) {
                IdKind::Planned
            } else {
                IdKind::Foreign
            };
        }
        // A planned site and a planned type with no devices of that type
        // there at this size.
        let ours = self.types.iter().any(|t| {
            prefix
                .strip_suffix(&format!("-{}-", t.name))
                .is_some_and(|site| self.sites.iter().any(|s| s == site))
        });
        if ours && digits.len() != self.width {
            IdKind::OtherSize
        } else {
            IdKind::Foreign
        }
    }

    /// Whether devices' models are drawn in device order (the demo's way),
    /// so that growing the fleet changes them.
    pub(crate) fn models_follow_order(&self) -> bool {
        matches!(self.metadata_style, MetadataStyle::Installed(_))
    }

    /// The random seed and stream of the fleet's devices.
    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }
    pub(crate) fn stream(&self) -> u64 {
        self.stream
    }

    /// The planned devices campaign `c` targets, as (ordinal, rank) in
    /// byte order.
    pub fn targets<'a>(
        &'a self,
        campaigns: &'a [CampaignSeed],
        c: usize,
    ) -> Box<dyn Iterator<Item = (usize, usize)> + Send + 'a> {
        let campaign = &campaigns[c];
        match campaign.target {
            Target::Slice { index, of } => {
                let slice = CampaignSeed::slice(index, of, self.len);
                Box::new(slice.clone().map(move |o| (o, o - slice.start)))
            }
            Target::Release { device_type, .. } => {
                let units = self
                    .units
                    .iter()
                    .filter(move |u| u.device_type == device_type);
                Box::new(
                    units
                        .flat_map(|u| u.start..u.start + u.count)
                        .filter(move |&o| campaign.targets(&self.facts(o)))
                        .enumerate()
                        .map(|(rank, o)| (o, rank)),
                )
            }
        }
    }
}

/// What a device's random draws are keyed by: its site, type and number,
/// which do not change when the fleet grows (its position does).
fn device_key(unit: &Unit, n: usize) -> u64 {
    ((unit.site as u64) << 36) ^ ((unit.device_type as u64) << 28) ^ n as u64
}

/// The version a device's campaigns leave it on; `None`: the version it was
/// provisioned with. Slices: its campaign's if its update there succeeded
/// (a device is in one slice). Releases: its latest successful update.
fn running_version(
    ordinal: usize,
    count: usize,
    facts: &DeviceFacts,
    campaigns: &[CampaignSeed],
    ranks: &mut [usize],
    fleet: &Fleet,
) -> Option<String> {
    let mut version = None;
    for (c, campaign) in campaigns.iter().enumerate() {
        let row = match campaign.target {
            Target::Slice { index, of } => {
                let slice = CampaignSeed::slice(index, of, count);
                if !slice.contains(&ordinal) {
                    continue;
                }
                campaign.outcome(ordinal - slice.start, slice.len())
            }
            Target::Release { .. } => {
                if !campaign.targets(facts) {
                    continue;
                }
                let rank = ranks[c];
                ranks[c] += 1;
                campaign.release_outcome(rank, fleet.seed, fleet.stream, ordinal)
            }
        };
        if row.status == DeviceUpdateStatus::Success {
            version = Some(campaign.firmware_version.clone());
        }
    }
    version
}

fn days_ago(m: Moment) -> Option<f64> {
    match m {
        Moment::FromNow(offset) => Some(-offset.num_seconds() as f64 / 86_400.0),
        Moment::Date(_) => None,
    }
}

/// Devices of each type in a site of `devices` (see the module's doc).
fn per_site_counts(shares: &[f64], devices: usize) -> Vec<usize> {
    let mut cumulative = 0.0;
    let mut before = 0usize;
    shares
        .iter()
        .enumerate()
        .map(|(k, share)| {
            cumulative += share;
            let upto = if k + 1 == shares.len() {
                devices
            } else {
                ((cumulative * devices as f64) + 0.5).floor() as usize
            }
            .min(devices)
            .max(before);
            let n = upto - before;
            before = upto;
            n
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_hold_the_types_in_proportion() {
        assert_eq!(per_site_counts(&[1.0], 5), [5]);
        assert_eq!(per_site_counts(&[0.6, 0.15, 0.25], 10), [6, 2, 2]);
        assert_eq!(per_site_counts(&[0.6, 0.15, 0.25], 40), [24, 6, 10]);
        assert_eq!(per_site_counts(&[0.6, 0.15, 0.25], 1), [1, 0, 0]);
        assert_eq!(per_site_counts(&[0.5, 0.5], 3), [2, 1]);
    }
}
