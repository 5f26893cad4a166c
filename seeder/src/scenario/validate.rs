//! What makes a scenario impossible, found after reading it: combinations
//! no single value shows (shares that do not sum to 1, a campaign naming an
//! unknown device type, releases out of order, rollouts that overlap). Each
//! problem is reported at the key it is about, with line and column.

use std::collections::HashSet;
use std::fmt;

use super::{CampaignsSpec, NewestState, Provisioning, Scenario, When};

/// A scenario that cannot be used: where, and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file's path, or `built-in scenario NAME`.
    pub origin: String,
    /// 1-based, when the problem has a place in a file.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "{}:{line}:{column}: {}", self.origin, self.message)
            }
            _ => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

impl ScenarioError {
    pub(super) fn from_toml(origin: &str, text: &str, e: &toml::de::Error) -> ScenarioError {
        let (line, column) = e
            .span()
            .map(|s| line_column(text, s.start))
            .map_or((None, None), |(l, c)| (Some(l), Some(c)));
        ScenarioError {
            origin: origin.to_owned(),
            line,
            column,
            message: e.message().trim_end().replace('\n', " "),
        }
    }

    pub(super) fn unreadable(path: &str, e: &std::io::Error) -> ScenarioError {
        ScenarioError {
            origin: path.to_owned(),
            line: None,
            column: None,
            message: format!(
                "cannot read the scenario file ({e}); `seeder scenarios` lists the built-in ones"
            ),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A step of a path into the file: a key, or an index in an array.
#[derive(Debug, Clone)]
pub(super) enum Seg {
    Key(&'static str),
    Index(usize),
}

/// Where a path's value starts in `text`, if it is there.
fn locate(text: &str, path: &[Seg]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let root = DeTable::parse(text).ok()?;
    let mut span = root.span();
    let mut table = Some(root.get_ref());
    let mut array: Option<&[toml::Spanned<DeValue>]> = None;
    for seg in path {
        let value = match seg {
            Seg::Key(k) => {
                let t = table?;
                let (key, value) = t.iter().find(|(key, _)| key.get_ref().as_ref() == *k)?;
                span = key.span();
                value
            }
            Seg::Index(i) => {
                let value = array?.get(*i)?;
                span = value.span();
                value
            }
        };
        table = None;
        array = None;
        match value.get_ref() {
            DeValue::Table(t) => table = Some(t),
            DeValue::Array(a) => array = Some(&a[..]),
            _ => {}
        }
    }
    Some(span.start)
}

struct Problems<'a> {
    origin: &'a str,
    text: &'a str,
    found: Option<ScenarioError>,
}

impl Problems<'_> {
    /// Keeps the first problem (a file is fixed one error at a time).
    fn add(&mut self, path: &[Seg], message: String) {
        if self.found.is_some() {
            return;
        }
        let place = locate(self.text, path).map(|o| line_column(self.text, o));
        self.found = Some(ScenarioError {
            origin: self.origin.to_owned(),
            line: place.map(|p| p.0),
            column: place.map(|p| p.1),
            message,
        });
    }
}

use Seg::{Index, Key};

impl Scenario {
    pub(super) fn check_in(&self, origin: &str, text: &str) -> Result<(), ScenarioError> {
        let mut p = Problems {
            origin,
            text,
            found: None,
        };
        self.check_tenants(&mut p);
        self.check_types(&mut p);
        // The checks below expand the lines: only once they are sane (a
        // generated count of billions would take that long).
        if let Some(e) = p.found {
            return Err(e);
        }
        self.check_campaigns(&mut p);
        self.check_order_in_time(&mut p);
        match p.found {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn check_tenants(&self, p: &mut Problems<'_>) {
        let mut ids = HashSet::new();
        for (i, t) in self.tenants.named.iter().enumerate() {
            let at = [Key("tenants"), Key("named"), Index(i), Key("id")];
            if !ids.insert(t.id.as_str()) {
                p.add(&at, format!("tenant {:?} is named twice", t.id));
            }
            if is_generated_id(&t.id) {
                p.add(
                    &at,
                    format!(
                        "{:?} is the form of a generated tenant's id (tenant-NNNN): name it otherwise",
                        t.id
                    ),
                );
            }
            let mut sites = HashSet::new();
            for (s, site) in t.sites.iter().enumerate() {
                let at = [
                    Key("tenants"),
                    Key("named"),
                    Index(i),
                    Key("sites"),
                    Index(s),
                ];
                if !sites.insert(site.as_str()) {
                    p.add(
                        &at,
                        format!("site {site:?} is listed twice for tenant {:?}", t.id),
                    );
                }
                if let Err(message) = super::values::check_slug(site) {
                    p.add(&at, message);
                }
            }
            if t.country.len() != 2 || !t.country.chars().all(|c| c.is_ascii_uppercase()) {
                p.add(
                    &[Key("tenants"), Key("named"), Index(i), Key("country")],
                    format!(
                        "{:?} is not a two-letter country code like \"US\"",
                        t.country
                    ),
                );
            }
        }
        if self.tenant_count() == 0 {
            p.add(
                &[Key("tenants")],
                "no tenants: name one under [[tenants.named]] or set tenants.generated".to_owned(),
            );
        }
        if self.tenant_count() > 100_000 {
            p.add(
                &[Key("tenants"), Key("generated")],
                "at most 100000 tenants in all".to_owned(),
            );
        }
        let devices = self
            .fleet
            .sites_per_tenant
            .saturating_mul(self.fleet.devices_per_site);
        if devices > 50_000_000 {
            p.add(
                &[Key("fleet"), Key("devices_per_site")],
                format!("{devices} devices per tenant: at most 50000000"),
            );
        }
    }

    fn check_types(&self, p: &mut Problems<'_>) {
        if self.device_types.is_empty() {
            p.add(
                &[],
                "no device types: add at least one [[device_type]]".to_owned(),
            );
            return;
        }
        let mut names = HashSet::new();
        for (i, t) in self.device_types.iter().enumerate() {
            let at = |key| [Key("device_type"), Index(i), Key(key)];
            if !names.insert(t.name.as_str()) {
                p.add(
                    &at("name"),
                    format!("device type {:?} is defined twice", t.name),
                );
            }
            if t.models.is_empty() || t.models.iter().any(|m| m.trim().is_empty()) {
                p.add(&at("models"), "at least one model, none empty".to_owned());
            }
            if t.share <= 0.0 {
                p.add(
                    &at("share"),
                    "a device type's share must be above 0".to_owned(),
                );
            }
            self.check_line(p, i);
        }
        let sum: f64 = self.device_types.iter().map(|t| t.share).sum();
        if (sum - 1.0).abs() > 1e-6 {
            p.add(
                &[Key("device_type"), Index(0), Key("share")],
                format!(
                    "the device types' shares sum to {}, not 1",
                    (sum * 1e6).round() / 1e6
                ),
            );
        }
    }

    fn check_line(&self, p: &mut Problems<'_>, i: usize) {
        let line = &self.device_types[i].firmware;
        let at = |rest: &[Seg]| {
            let mut path = vec![Key("device_type"), Index(i), Key("firmware")];
            path.extend_from_slice(rest);
            path
        };
        if line.releases.is_empty() && line.generated.is_none() {
            p.add(
                &at(&[]),
                "a firmware line needs releases: list [[device_type.firmware.releases]] or add [device_type.firmware.generated]".to_owned(),
            );
        }
        if !line.url.contains("{version}") {
            p.add(
                &at(&[Key("url")]),
                "the url must contain {version}, so each release has its own file".to_owned(),
            );
        }
        for (r, w) in line.releases.windows(2).enumerate() {
            let (a, b) = (&w[0], &w[1]);
            if b.version <= a.version {
                p.add(
                    &at(&[Key("releases"), Index(r + 1), Key("version")]),
                    format!(
                        "releases are listed oldest first: {} comes after {}, so its version must be higher",
                        b.version, a.version
                    ),
                );
            }
            if let (Some(da), Some(db)) = (a.released.days_ago(), b.released.days_ago())
                && db > da
            {
                p.add(
                    &at(&[Key("releases"), Index(r + 1), Key("released")]),
                    format!(
                        "releases are listed oldest first: {} ({}) was released before {} ({})",
                        b.version, b.released, a.version, a.released
                    ),
                );
            }
            if b.size_bytes <= a.size_bytes {
                p.add(
                    &at(&[Key("releases"), Index(r + 1), Key("size_bytes")]),
                    format!(
                        "sizes grow along a line: {} is {} bytes, not more than {}'s {}",
                        b.version, b.size_bytes, a.version, a.size_bytes
                    ),
                );
            }
        }
        for (r, release) in line.releases.iter().enumerate() {
            if let Some(sum) = &release.checksum_sha256
                && (sum.len() != 64
                    || !sum
                        .chars()
                        .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)))
            {
                p.add(
                    &at(&[Key("releases"), Index(r), Key("checksum_sha256")]),
                    "a checksum is 64 lowercase hex characters (or left out: then it is computed)"
                        .to_owned(),
                );
            }
        }
        if let Some(g) = &line.generated {
            if line.releases.is_empty()
                && (g.first_version.is_none() || g.first_size_bytes.is_none())
            {
                p.add(
                    &at(&[Key("generated")]),
                    "with no listed releases, generated releases need first_version and first_size_bytes".to_owned(),
                );
            }
            if g.count.is_some_and(|c| c > 1_000) {
                p.add(
                    &at(&[Key("generated"), Key("count")]),
                    "at most 1000 generated releases per line".to_owned(),
                );
            }
            if g.descriptions.is_empty() {
                p.add(
                    &at(&[Key("generated"), Key("descriptions")]),
                    "at least one description".to_owned(),
                );
            }
            if let (Some(last), Some(first)) = (line.releases.last(), &g.first_version)
                && first <= &last.version
            {
                p.add(
                    &at(&[Key("generated"), Key("first_version")]),
                    format!(
                        "generated releases come after the listed ones: {first} is not above {}",
                        last.version
                    ),
                );
            }
        }
    }

    fn check_campaigns(&self, p: &mut Problems<'_>) {
        match &self.campaigns {
            CampaignsSpec::Slices(s) => {
                if let Some(t) = self.device_types.first() {
                    let releases = (t.firmware.releases.len() as u64).saturating_add(
                        t.firmware
                            .generated
                            .as_ref()
                            .map_or(0, |g| g.count.unwrap_or(u64::MAX)),
                    );
                    if releases < s.per_tenant.saturating_add(1) {
                        // Only a line that counts its generated releases
                        // can lift the limit by not counting them.
                        let counted = t
                            .firmware
                            .generated
                            .as_ref()
                            .is_some_and(|g| g.count.is_some());
                        p.add(
                            &[Key("campaigns"), Key("per_tenant")],
                            format!(
                                "{} campaigns need {} releases (each rolls out the next one), the {} line has {releases}: add releases{}",
                                s.per_tenant,
                                s.per_tenant + 1,
                                t.name,
                                if counted { " or leave generated.count out" } else { "" }
                            ),
                        );
                    }
                }
                if self.device_types.len() != 1 {
                    p.add(
                        &[Key("campaigns"), Key("targets")],
                        "targets = \"slices\" needs exactly one device type (use \"releases\" for several)".to_owned(),
                    );
                }
                if s.per_tenant > 1_000 {
                    p.add(
                        &[Key("campaigns"), Key("per_tenant")],
                        "at most 1000 campaigns per tenant".to_owned(),
                    );
                }
            }
            CampaignsSpec::Releases(r) => self.check_release_campaigns(p, r),
        }
    }

    fn check_release_campaigns(&self, p: &mut Problems<'_>, r: &super::ReleaseCampaigns) {
        let known: Vec<&str> = self.device_types.iter().map(|t| t.name.as_str()).collect();
        let unknown = |name: &str| {
            format!(
                "unknown device type {name:?}: the scenario defines {}",
                known
                    .iter()
                    .map(|k| format!("{k:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let from = match &self.fleet.provisioned {
            Provisioning::Spread(g) => {
                for (key, when) in [("from", g.from), ("until", g.until)] {
                    if when.days_ago().is_none() {
                        p.add(
                            &[Key("fleet"), Key("provisioned"), Key(key)],
                            "with targets = \"releases\", times are relative: write \"N days ago\""
                                .to_owned(),
                        );
                    }
                }
                if let (Some(f), Some(u)) = (g.from.days_ago(), g.until.days_ago())
                    && u > f
                {
                    p.add(
                        &[Key("fleet"), Key("provisioned"), Key("until")],
                        format!(
                            "the fleet grows forward in time: until ({}) is before from ({})",
                            g.until, g.from
                        ),
                    );
                }
                g.from.days_ago()
            }
            Provisioning::Once(when) => {
                if when.days_ago().is_none() {
                    p.add(
                        &[Key("fleet"), Key("provisioned")],
                        "with targets = \"releases\", times are relative: write \"N days ago\""
                            .to_owned(),
                    );
                }
                when.days_ago()
            }
        };
        if r.failure_rate > 0.0 && r.failure_messages.is_empty() {
            p.add(
                &[Key("campaigns"), Key("failure_messages")],
                "failed updates need at least one failure message".to_owned(),
            );
        }
        let mut listed = HashSet::new();
        for (i, a) in r.aborted.iter().enumerate() {
            let at = [
                Key("campaigns"),
                Key("aborted"),
                Index(i),
                Key("device_type"),
            ];
            let Some(t) = self.device_types.iter().find(|t| t.name == a.device_type) else {
                p.add(&at, unknown(&a.device_type));
                continue;
            };
            if !listed.insert((a.device_type.as_str(), a.version.to_string())) {
                p.add(
                    &at,
                    format!("{} {} is listed as aborted twice", a.device_type, a.version),
                );
            }
            let releases = release_versions(t);
            let newest_has_state = r
                .now
                .iter()
                .any(|n| n.device_type == a.device_type && n.state != NewestState::Completed);
            if newest_has_state && releases.last().is_some_and(|v| *v == a.version.to_string()) {
                p.add(
                    &at,
                    format!(
                        "{} {} is its line's newest campaign, whose state [[campaigns.now]] gives: an aborted campaign is finished, so it cannot be both",
                        a.device_type, a.version
                    ),
                );
            }
            if !releases.iter().skip(1).any(|v| *v == a.version.to_string()) {
                p.add(
                    &[Key("campaigns"), Key("aborted"), Index(i), Key("version")],
                    format!(
                        "{} {} has no campaign: campaigns roll out the releases after a line's first",
                        a.device_type, a.version
                    ),
                );
            }
        }
        if !r.aborted.is_empty() && r.abort_threshold >= 0.25 {
            p.add(
                &[Key("campaigns"), Key("abort_threshold")],
                "an aborted campaign fails a quarter of its devices: abort_threshold must be below 0.25".to_owned(),
            );
        }
        let mut seen = HashSet::new();
        for (i, n) in r.now.iter().enumerate() {
            let at = [Key("campaigns"), Key("now"), Index(i), Key("device_type")];
            if !known.contains(&n.device_type.as_str()) {
                p.add(&at, unknown(&n.device_type));
            } else if !seen.insert(n.device_type.as_str()) {
                p.add(&at, format!("{:?} has two states now", n.device_type));
            }
        }
        for (i, t) in self.device_types.iter().enumerate() {
            let times: Vec<Option<f64>> = release_times(t);
            if let Some(k) = times.iter().position(Option::is_none) {
                p.add(
                    &self.released_at(i, k),
                    "with targets = \"releases\", release times are relative: write \"N days ago\""
                        .to_owned(),
                );
                continue;
            }
            let times: Vec<f64> = times.into_iter().flatten().collect();
            if let (Some(first), Some(from)) = (times.first(), from)
                && *first < from
            {
                p.add(
                    &self.released_at(i, 0),
                    format!(
                        "the {} line's first release ({first} days ago) comes after the first devices were provisioned ({from} days ago): devices need firmware to start with",
                        t.name
                    ),
                );
            }
            for (k, w) in times.windows(2).enumerate() {
                if w[0] - w[1] <= r.lag_days + r.duration_days {
                    p.add(
                        &self.released_at(i, k + 1),
                        format!(
                            "two {} releases {} days apart: a rollout (lag_days {} + duration_days {}) must end before the next release",
                            t.name,
                            w[0] - w[1],
                            r.lag_days,
                            r.duration_days
                        ),
                    );
                    break;
                }
            }
            let state = r
                .now
                .iter()
                .find(|n| n.device_type == t.name)
                .map_or(NewestState::Completed, |n| n.state);
            for (k, days) in times.iter().enumerate().skip(1) {
                let newest = k + 1 == times.len();
                let needed = match (newest, state) {
                    (true, NewestState::Scheduled) => None,
                    (true, NewestState::Running | NewestState::Paused) => Some(r.lag_days),
                    _ => Some(r.lag_days + r.duration_days),
                };
                if let Some(needed) = needed
                    && *days < needed
                    && *days >= 0.0
                {
                    p.add(
                        &self.released_at(i, k),
                        format!(
                            "the {} campaign for its release of {days} days ago cannot have {} by now (it needs {needed} days): release it earlier or make it the newest with state = \"scheduled\"",
                            t.name,
                            if newest && state != NewestState::Completed { "started" } else { "finished" },
                        ),
                    );
                    break;
                }
            }
        }
    }
}

impl Scenario {
    /// Where release `k` of device type `i`'s line (listed ones first, then
    /// generated ones) gets its time: its `released`, or for a generated
    /// one the line's `generated.first_released`.
    fn released_at(&self, i: usize, k: usize) -> Vec<Seg> {
        let line = &self.device_types[i].firmware;
        let mut path = vec![Key("device_type"), Index(i), Key("firmware")];
        if k < line.releases.len() {
            path.extend([Key("releases"), Index(k), Key("released")]);
        } else if line.generated.is_some() {
            path.extend([Key("generated"), Key("first_released")]);
        }
        path
    }

    /// Things happen in order: tenants join before their firmware and
    /// devices exist; a line starts before the devices it equips; with
    /// `slices`, what the demo's campaigns roll out (from three days ago)
    /// exists before they start. Dates are compared with today.
    fn check_order_in_time(&self, p: &mut Problems<'_>) {
        let created = days_ago_today(self.tenants.created);
        let provisioned = match &self.fleet.provisioned {
            Provisioning::Once(w) => days_ago_today(*w),
            Provisioning::Spread(g) => days_ago_today(g.from),
        };
        if provisioned > created {
            p.add(
                &[Key("tenants"), Key("created")],
                format!(
                    "the tenants join ({}) after their first devices were provisioned: make created earlier",
                    self.tenants.created
                ),
            );
        }
        for (i, t) in self.device_types.iter().enumerate() {
            let line = t.releases(2);
            let Some(first) = line.first() else { continue };
            let first_days = moment_days_ago(first.released);
            if first_days > created {
                p.add(
                    &self.released_at(i, 0),
                    format!(
                        "the {} line's first release {} comes before the tenants joined ({}): make tenants.created earlier",
                        t.name, first.version, self.tenants.created
                    ),
                );
            }
            if first_days < provisioned {
                p.add(
                    &self.released_at(i, 0),
                    format!(
                        "the {} line's first release {} comes after the devices were provisioned: devices need firmware to start with",
                        t.name, first.version
                    ),
                );
            }
            if let Some(newest) = line.last()
                && moment_days_ago(newest.released) < 0.0
            {
                p.add(
                    &self.released_at(i, line.len() - 1),
                    format!(
                        "the {} line's release {} would come out in the future: release it earlier (for generated releases: fewer, or an earlier first_released)",
                        t.name, newest.version
                    ),
                );
            }
            if matches!(self.campaigns, CampaignsSpec::Slices(_)) {
                // The demo's campaigns start up to 3 days before the run.
                if provisioned < 3.0 {
                    p.add(
                        &[Key("fleet"), Key("provisioned")],
                        "with targets = \"slices\", devices are provisioned at least 3 days ago (the campaigns start then)".to_owned(),
                    );
                }
                if let Some((k, late)) = line
                    .iter()
                    .enumerate()
                    .skip(1)
                    .find(|(_, r)| moment_days_ago(r.released) < 3.0)
                {
                    p.add(
                        &self.released_at(i, k),
                        format!(
                            "with targets = \"slices\", releases come out at least 3 days ago (the campaigns start then): {} does not",
                            late.version
                        ),
                    );
                }
            }
        }
    }
}

/// Days before today (fractional; a date is its midnight UTC).
fn days_ago_today(when: When) -> f64 {
    moment_days_ago(when.moment())
}

fn moment_days_ago(m: super::Moment) -> f64 {
    let now = chrono::Utc::now().fixed_offset();
    (now - m.at(now)).num_seconds() as f64 / 86_400.0
}

/// Tenant ids of the generated form.
fn is_generated_id(id: &str) -> bool {
    id.strip_prefix("tenant-")
        .is_some_and(|n| n.len() >= 4 && n.chars().all(|c| c.is_ascii_digit()))
}

/// A line's versions, listed then generated (as many as known).
fn release_versions(t: &super::DeviceTypeSpec) -> Vec<String> {
    t.releases(0).into_iter().map(|r| r.version).collect()
}

/// A line's release times in days ago, `None` for a date.
fn release_times(t: &super::DeviceTypeSpec) -> Vec<Option<f64>> {
    let mut times: Vec<Option<f64>> = t
        .firmware
        .releases
        .iter()
        .map(|r| r.released.days_ago())
        .collect();
    if let Some(g) = &t.firmware.generated {
        let count = g.count.unwrap_or(0);
        for k in 0..count {
            times.push(
                g.first_released
                    .days_ago()
                    .map(|d| d - g.every_days * k as f64),
            );
        }
    }
    times
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
