//! A preview of a dataset without a database (`seeder scenario show NAME
//! --summary`): per tenant, its device types (devices, models, firmware
//! releases) and its campaigns (state, targets, and the status rows a run
//! writes for them, so the success rate is the one a run will produce).
//!
//! It streams every planned device once, and every campaign's targets once
//! more, holding none of them: a few seconds per million devices (5 s for
//! the 1M-device fleet in a debug build), fine for a preview, slow for the
//! largest fleets the seeder accepts.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use entity::status::DeviceUpdateStatus;
use serde::Serialize;

use super::{CampaignSeed, Dataset, Moment, TenantPlan};
use super::{DeviceList, campaign_targets};
use crate::scenario::When;

/// What a dataset holds, tenant by tenant. Its `Display` is the human
/// preview; it serializes to the same as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetSummary {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario's description; empty unless the caller, who has the
    /// scenario, fills it in (the dataset keeps only the name).
    pub description: String,
    /// The `--seed` the random parts were drawn from.
    pub seed: u64,
    /// Whether every tenant has the same devices, firmware and campaigns
    /// (then the preview shows them once, for each tenant).
    pub same_shape: bool,
    pub tenants: Vec<TenantSummary>,
}

/// One tenant's part of the preview.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantSummary {
    pub tenant_id: String,
    pub name: String,
    #[serde(flatten)]
    pub shape: TenantShape,
}

/// A tenant's rows apart from who it is: what two tenants compare on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantShape {
    pub sites: u64,
    pub devices: u64,
    /// Devices that are `REVOKED`.
    pub revoked: u64,
    /// In the order of the firmware lines.
    pub device_types: Vec<DeviceTypeSummary>,
    /// In the dataset's order.
    pub campaigns: Vec<CampaignSummary>,
}

/// A device type of a tenant, with its firmware line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceTypeSummary {
    pub name: String,
    pub devices: u64,
    pub revoked: u64,
    /// The models its devices drew, sorted.
    pub models: Vec<String>,
    /// Oldest first.
    pub releases: Vec<ReleaseSummary>,
}

/// One firmware release.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseSummary {
    pub version: String,
    /// `2024-01-08`, or relative to the run: `7 days ago`.
    pub released: String,
}

/// A campaign and the status rows a run writes for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignSummary {
    pub name: String,
    pub device_type: String,
    pub firmware_version: String,
    /// `COMPLETED`, `RUNNING`, ...
    pub status: String,
    /// Devices targeted: one status row each.
    pub targets: u64,
    /// Rows in `SUCCESS`.
    pub succeeded: u64,
    /// `succeeded / targets` (0 without targets).
    pub success_rate: f64,
    /// Rows per device status (`SUCCESS`, `FAILED`, `PENDING`, ...).
    pub statuses: BTreeMap<&'static str, u64>,
}

impl Dataset {
    /// The preview of the tenants `tenants` names (every tenant when it is
    /// empty), in dataset order. Generates every planned device and every
    /// campaign's rows, in memory only: see the module's note on cost.
    pub fn summary(&self, tenants: &[String]) -> DatasetSummary {
        let tenants: Vec<TenantSummary> = self
            .tenants
            .iter()
            .filter(|p| tenants.is_empty() || tenants.contains(&p.tenant.tenant_id))
            .map(TenantPlan::summary)
            .collect();
        let same_shape = tenants.windows(2).all(|w| w[0].shape == w[1].shape);
        DatasetSummary {
            scenario: self.scenario.clone(),
            description: String::new(),
            seed: self.tenants.first().map_or(0, |p| p.fleet.seed()),
            same_shape,
            tenants,
        }
    }
}

impl TenantPlan {
    /// This tenant's part of [`Dataset::summary`].
    pub fn summary(&self) -> TenantSummary {
        // Device types in the order of their firmware lines.
        let mut types: Vec<DeviceTypeSummary> = Vec::new();
        for f in &self.firmware {
            let i = match types.iter().position(|t| t.name == f.device_type) {
                Some(i) => i,
                None => {
                    types.push(DeviceTypeSummary {
                        name: f.device_type.clone(),
                        devices: 0,
                        revoked: 0,
                        models: Vec::new(),
                        releases: Vec::new(),
                    });
                    types.len() - 1
                }
            };
            types[i].releases.push(ReleaseSummary {
                version: f.version.clone(),
                released: released(f.released),
            });
        }
        let mut sites = HashSet::new();
        let mut models: Vec<BTreeSet<String>> = vec![BTreeSet::new(); types.len()];
        let (mut devices, mut revoked) = (0, 0);
        for d in self.devices() {
            let i = match types.iter().position(|t| *t.name == *d.device_type) {
                Some(i) => i,
                // A type without a firmware line cannot be planned; counted
                // all the same rather than lost.
                None => {
                    types.push(DeviceTypeSummary {
                        name: d.device_type.to_string(),
                        devices: 0,
                        revoked: 0,
                        models: Vec::new(),
                        releases: Vec::new(),
                    });
                    models.push(BTreeSet::new());
                    types.len() - 1
                }
            };
            if !sites.contains(&d.site_id) {
                sites.insert(d.site_id.clone());
            }
            if !models[i].contains(&*d.model) {
                models[i].insert(d.model.to_string());
            }
            devices += 1;
            types[i].devices += 1;
            if d.revoked {
                revoked += 1;
                types[i].revoked += 1;
            }
        }
        for (t, m) in types.iter_mut().zip(models) {
            t.models = m.into_iter().collect();
        }
        let campaigns = (0..self.campaigns.len())
            .map(|c| self.campaign_summary(c))
            .collect();
        TenantSummary {
            tenant_id: self.tenant.tenant_id.clone(),
            name: self.tenant.name.clone(),
            shape: TenantShape {
                sites: sites.len() as u64,
                devices,
                revoked,
                device_types: types,
                campaigns,
            },
        }
    }

    /// Campaign `c`'s targets and their rows, found as the status step
    /// finds them on a database holding exactly the planned fleet.
    fn campaign_summary(&self, c: usize) -> CampaignSummary {
        let seed = &self.campaigns[c];
        let fleet = &self.fleet;
        let slice = CampaignSeed::slice(c, self.campaigns.len(), fleet.len());
        let mut statuses: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut targets = 0;
        // The moment a run started now would resolve relative times with
        // (a planned fleet's targets do not depend on it).
        let now = chrono::Utc::now().fixed_offset();
        let planned = DeviceList::Planned;
        for (_, rank, ordinal) in campaign_targets(self, c, slice.clone(), &planned, now) {
            let row = seed.row(rank, slice.len(), fleet, ordinal);
            *statuses.entry(row.status.as_str()).or_default() += 1;
            targets += 1;
        }
        let succeeded = statuses
            .get(DeviceUpdateStatus::Success.as_str())
            .copied()
            .unwrap_or(0);
        CampaignSummary {
            name: seed.name.clone(),
            device_type: seed.device_type.clone(),
            firmware_version: seed.firmware_version.clone(),
            status: seed.status.as_str().to_owned(),
            targets,
            succeeded,
            success_rate: if targets == 0 {
                0.0
            } else {
                succeeded as f64 / targets as f64
            },
            statuses,
        }
    }
}

/// A release time as a scenario file writes it.
fn released(moment: Moment) -> String {
    match moment {
        Moment::Date(date) => When::Date(date).to_string(),
        Moment::FromNow(offset) if offset <= chrono::Duration::zero() => {
            When::DaysAgo(-offset.num_seconds() as f64 / 86_400.0).to_string()
        }
        Moment::FromNow(offset) => format!("in {} days", offset.num_seconds() as f64 / 86_400.0),
    }
}

/// The order device statuses are listed in: outcomes first.
const STATUS_ORDER: [DeviceUpdateStatus; 6] = [
    DeviceUpdateStatus::Success,
    DeviceUpdateStatus::Failed,
    DeviceUpdateStatus::Downloading,
    DeviceUpdateStatus::Installing,
    DeviceUpdateStatus::Pending,
    DeviceUpdateStatus::Skipped,
];

/// Tenants listed by name before the list is cut short.
const TENANTS_LISTED: usize = 12;

/// Where a line of releases is wrapped.
const WIDTH: usize = 100;

impl fmt::Display for DatasetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "scenario {} (seed {})", self.scenario, self.seed)?;
        if self.description.is_empty() {
            writeln!(f)?;
        } else {
            writeln!(f, ": {}", self.description)?;
        }
        match self.tenants.as_slice() {
            [] => writeln!(f, "no tenants"),
            [first, ..] if self.same_shape => {
                writeln!(f, "tenants ({}):", self.tenants.len())?;
                let width = id_width(&self.tenants);
                let shown = if self.tenants.len() > TENANTS_LISTED {
                    TENANTS_LISTED - 2
                } else {
                    self.tenants.len()
                };
                for t in &self.tenants[..shown] {
                    writeln!(f, "  {:width$}  {}", t.tenant_id, t.name)?;
                }
                if shown < self.tenants.len() {
                    let last = &self.tenants[self.tenants.len() - 1];
                    writeln!(
                        f,
                        "  ... and {} more, up to {}",
                        self.tenants.len() - shown,
                        last.tenant_id
                    )?;
                }
                write!(f, "each tenant: ")?;
                first.shape.fmt(f)
            }
            tenants => {
                for t in tenants {
                    write!(f, "{} ({}): ", t.tenant_id, t.name)?;
                    t.shape.fmt(f)?;
                }
                Ok(())
            }
        }
    }
}

fn id_width(tenants: &[TenantSummary]) -> usize {
    tenants
        .iter()
        .take(TENANTS_LISTED)
        .map(|t| t.tenant_id.chars().count())
        .max()
        .unwrap_or(0)
}

impl fmt::Display for TenantShape {
    /// Goes on from a line's start (`each tenant: `, `tenant-a (...): `).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} sites, {} devices", self.sites, self.devices)?;
        if self.revoked > 0 {
            write!(f, " ({} revoked)", self.revoked)?;
        }
        writeln!(f)?;
        let width = self
            .device_types
            .iter()
            .map(|t| t.name.chars().count())
            .max()
            .unwrap_or(0);
        for t in &self.device_types {
            write!(f, "  {:width$}  {} devices", t.name, t.devices)?;
            if t.revoked > 0 {
                write!(f, " ({} revoked)", t.revoked)?;
            }
            if !t.models.is_empty() {
                write!(f, ", models {}", t.models.join(", "))?;
            }
            writeln!(f)?;
            let releases: Vec<String> = t
                .releases
                .iter()
                .map(|r| format!("{} ({})", r.version, r.released))
                .collect();
            wrapped(f, "    releases: ", &releases)?;
        }
        if self.campaigns.is_empty() {
            return writeln!(f, "  no campaigns");
        }
        writeln!(
            f,
            "  campaigns ({}): state, firmware, targets and the status rows a run writes",
            self.campaigns.len()
        )?;
        let name_width = column(&self.campaigns, |c| c.name.chars().count());
        let state_width = column(&self.campaigns, |c| c.status.len());
        let firmware = |c: &CampaignSummary| format!("{} {}", c.device_type, c.firmware_version);
        let firmware_width = column(&self.campaigns, |c| firmware(c).chars().count());
        for c in &self.campaigns {
            write!(
                f,
                "    {:name_width$}  {:state_width$}  {:firmware_width$}  {} devices",
                c.name,
                c.status,
                firmware(c),
                c.targets
            )?;
            if c.targets > 0 {
                write!(f, ": {} SUCCESS ({})", c.succeeded, percent(c))?;
                for status in STATUS_ORDER.iter().skip(1) {
                    if let Some(n) = c.statuses.get(status.as_str()) {
                        write!(f, ", {n} {status}")?;
                    }
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

fn column(campaigns: &[CampaignSummary], width: impl Fn(&CampaignSummary) -> usize) -> usize {
    campaigns.iter().map(width).max().unwrap_or(0)
}

/// The success rate to a tenth of a percent; 100% only when every device
/// succeeds.
fn percent(c: &CampaignSummary) -> String {
    let targets = c.targets.max(1);
    let mut tenths = (c.succeeded * 1000 + targets / 2) / targets;
    if tenths == 1000 && c.succeeded < c.targets {
        tenths = 999;
    }
    if tenths.is_multiple_of(10) {
        format!("{}%", tenths / 10)
    } else {
        format!("{}.{}%", tenths / 10, tenths % 10)
    }
}

/// `items` after `lead`, comma-separated, wrapped under the first item.
fn wrapped(f: &mut fmt::Formatter<'_>, lead: &str, items: &[String]) -> fmt::Result {
    let indent = lead.chars().count();
    let mut column = indent;
    write!(f, "{lead}")?;
    for (i, item) in items.iter().enumerate() {
        let last = i + 1 == items.len();
        let text = if last {
            item.clone()
        } else {
            format!("{item},")
        };
        if column > indent && column + 1 + text.chars().count() > WIDTH {
            write!(f, "\n{:indent$}", "")?;
            column = indent;
        } else if column > indent {
            write!(f, " ")?;
            column += 1;
        }
        write!(f, "{text}")?;
        column += text.chars().count();
    }
    writeln!(f)
}

#[cfg(test)]
mod tests {
    use crate::{Dataset, Scenario};

    #[test]
    fn the_demo_is_one_shape_for_both_tenants() {
        let summary = Dataset::demo().summary(&[]);
        assert!(summary.same_shape);
        let shape = &summary.tenants[0].shape;
        assert_eq!((shape.sites, shape.devices, shape.revoked), (3, 15, 0));
        let campaign = &shape.campaigns[0];
        assert_eq!(
            (
                campaign.status.as_str(),
                campaign.targets,
                campaign.succeeded
            ),
            ("COMPLETED", 15, 14)
        );
    }

    #[test]
    fn history_differs_per_tenant_and_counts_every_target_once() {
        let scenario = Scenario::builtin("history").expect("built-in");
        let dataset = Dataset::from_scenario(&scenario, 42).expect("history builds");
        let summary = dataset.summary(&["tenant-b".to_owned()]);
        assert_eq!(summary.tenants.len(), 1);
        let shape = &summary.tenants[0].shape;
        assert_eq!(shape.devices, 120);
        let types: Vec<&str> = shape.device_types.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(types, ["sensor", "gateway", "camera"]);
        for c in &shape.campaigns {
            assert_eq!(c.statuses.values().sum::<u64>(), c.targets, "{c:?}");
        }
    }
}
