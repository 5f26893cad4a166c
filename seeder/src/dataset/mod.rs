//! The pure, deterministic dataset generator: which rows should exist, from
//! `--seed` and the size knobs. It touches no database; the seeding steps
//! persist what it describes and the verification checks the result.
//!
//! Each tenant draws from its own random stream (derived from the seed and
//! the tenant's position), so seeding one tenant with `--tenant` gives the
//! same rows as seeding all of them.

mod campaigns;
mod firmware;
mod fleet;
mod plan;
mod random;
#[cfg(test)]
mod scenario_tests;
mod summary;
mod targets;
mod tenants;

pub use crate::scenario::Moment;
pub use campaigns::{CampaignSeed, DeviceStatusSeed, Target};
pub use firmware::{FirmwareSeed, manifest, manifest_digest};
pub(crate) use fleet::IdKind;
pub use fleet::{DeviceSeed, Fleet};
pub use plan::TenantPlan;
pub use targets::{
    DeviceList, campaign_slices, campaign_target_count, campaign_targets, fleet_is_planned,
};
pub use tenants::TenantSeed;

pub(crate) use firmware::line_releases;

use std::sync::Arc;

use crate::scenario::{CampaignsSpec, Provisioning, Scenario, ScenarioError, When};
use fleet::{FleetType, MetadataStyle, ProvisionPlan};
use random::rng;

/// Default `--seed`.
pub const DEFAULT_SEED: u64 = 42;

/// The demo scenario at other sizes (the size options of `seeder`). The
/// defaults give exactly the demo dataset (docs/dataset.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSpec {
    /// Seed of the random parts (device models, generated tenant profiles):
    /// same seed, same rows, on every backend.
    pub seed: u64,
    /// Tenants: `tenant-a` and `tenant-b`, then generated `tenant-0003`, ...
    pub tenants: usize,
    pub sites_per_tenant: usize,
    pub devices_per_site: usize,
    /// Campaign 0 is the demo's completed rollout; the next take RUNNING,
    /// PAUSED, ABORTED, CREATED in turn, each on its own slice of the fleet.
    pub campaigns_per_tenant: usize,
}

impl Default for DatasetSpec {
    fn default() -> Self {
        DatasetSpec {
            seed: DEFAULT_SEED,
            tenants: 2,
            sites_per_tenant: 3,
            devices_per_site: 5,
            campaigns_per_tenant: 1,
        }
    }
}

impl DatasetSpec {
    /// Sites × devices per site.
    pub fn devices_per_tenant(&self) -> usize {
        self.sites_per_tenant * self.devices_per_site
    }

    /// The demo scenario at these sizes.
    pub fn scenario(&self) -> Scenario {
        let mut s = Scenario::demo();
        s.set_tenant_count(self.tenants as u64);
        s.fleet.sites_per_tenant = self.sites_per_tenant.max(1) as u64;
        s.fleet.devices_per_site = self.devices_per_site.max(1) as u64;
        if let CampaignsSpec::Slices(c) = &mut s.campaigns {
            c.per_tenant = self.campaigns_per_tenant.max(1) as u64;
        }
        s
    }
}

/// The rows that should exist, tenant by tenant: a plan, generated without
/// a database; devices are produced as they are written, so a plan of
/// millions of devices takes little memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub(crate) tenants: Vec<TenantPlan>,
    /// The scenario's name (`demo`, `history`, a file's).
    pub(crate) scenario: String,
    /// The `--seed` it was generated with.
    pub(crate) seed: u64,
}

impl Dataset {
    /// The platform's demo: two tenants of 15 devices, two firmware
    /// versions each, one completed campaign (docs/dataset.md).
    pub fn demo() -> Dataset {
        Dataset::generate(&DatasetSpec::default())
    }

    /// A dataset of the given size (see [`DatasetSpec`]).
    pub fn fleet(spec: &DatasetSpec) -> Dataset {
        Dataset::generate(spec)
    }

    /// The demo scenario at the spec's sizes. Sizes are clamped to at
    /// least 1; the scenario's other limits are not checked here (see
    /// [`Dataset::from_scenario`]).
    pub fn generate(spec: &DatasetSpec) -> Dataset {
        // The demo's sites sort by site, whatever the sizes: no layout
        // error is possible.
        build(&spec.scenario(), spec.seed).unwrap_or_else(|_| Dataset {
            tenants: Vec::new(),
            scenario: "demo".to_owned(),
            seed: spec.seed,
        })
    }

    /// The rows of `scenario` for `seed`. Cheap even for huge fleets:
    /// devices are generated later, as they are written.
    ///
    /// Errors: the scenario's own checks ([`Scenario::check`]), or sites
    /// whose device ids would not sort by site.
    pub fn from_scenario(scenario: &Scenario, seed: u64) -> Result<Dataset, ScenarioError> {
        scenario.check()?;
        build(scenario, seed)
    }

    /// The tenants' ids, in dataset order.
    pub fn tenant_ids(&self) -> Vec<&str> {
        self.tenants
            .iter()
            .map(|t| t.tenant.tenant_id.as_str())
            .collect()
    }

    /// The scenario's name.
    pub fn scenario_name(&self) -> &str {
        &self.scenario
    }

    /// The seed of its random parts.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

fn build(s: &Scenario, seed: u64) -> Result<Dataset, ScenarioError> {
    let needed = match &s.campaigns {
        CampaignsSpec::Slices(c) => c.per_tenant as usize + 1,
        CampaignsSpec::Releases(_) => 0,
    };
    let lines: Vec<Vec<FirmwareSeed>> = s
        .device_types
        .iter()
        .map(|t| line_releases(t, needed))
        .collect();
    let campaigns = match &s.campaigns {
        CampaignsSpec::Slices(c) => campaigns::slice_campaigns(
            c.per_tenant as usize,
            lines.first().map_or(&[][..], Vec::as_slice),
        ),
        CampaignsSpec::Releases(r) => campaigns::release_campaigns(r, &lines),
    };
    let firmware: Vec<FirmwareSeed> = lines.iter().flatten().cloned().collect();
    let types = Arc::new(
        s.device_types
            .iter()
            .zip(&lines)
            .map(|(t, line)| FleetType {
                name: Arc::from(t.name.as_str()),
                models: t.models.iter().map(|m| Arc::from(m.as_str())).collect(),
                releases: line
                    .iter()
                    .map(|f| (Arc::from(f.version.as_str()), f.released))
                    .collect(),
            })
            .collect::<Vec<_>>(),
    );
    let shares: Vec<f64> = s.device_types.iter().map(|t| t.share).collect();
    let provisioning = match &s.fleet.provisioned {
        Provisioning::Once(when) => ProvisionPlan::Once(when.moment()),
        Provisioning::Spread(g) => ProvisionPlan::Spread {
            from_days: g.from.days_ago().unwrap_or(0.0),
            until_days: g.until.days_ago().unwrap_or(0.0),
            initial_share: g.initial_share,
        },
    };
    let metadata_style = match (&s.fleet.provisioned, s.device_types.len(), &s.campaigns) {
        (Provisioning::Once(When::Date(date)), 1, CampaignsSpec::Slices(_)) => {
            MetadataStyle::Installed(*date)
        }
        _ => MetadataStyle::Typed,
    };
    let mut tenants = Vec::with_capacity(s.tenant_count() as usize);
    for index in 0..s.tenant_count() as usize {
        // Two streams per tenant: its profile, and its devices' random parts.
        let (tenant, sites) = tenants::tenant(
            index,
            &s.tenants.named,
            s.tenants.created.moment(),
            s.fleet.sites_per_tenant as usize,
            &mut rng(seed, 2 * index as u64),
        );
        let fleet = Fleet::new(
            sites,
            s.fleet.devices_per_site as usize,
            &shares,
            types.clone(),
            provisioning,
            s.fleet.revoked_share,
            metadata_style,
            seed,
            2 * index as u64 + 1,
        )
        .map_err(|e| ScenarioError {
            origin: s.name.clone(),
            line: None,
            column: None,
            message: format!("tenant {}: {}", tenant.tenant_id, e.0),
        })?;
        let mut campaigns = campaigns.clone();
        // An abort needs failures: a release campaign that found no device
        // of its type in this tenant (a small fleet, all provisioned later)
        // finished with nothing to do instead.
        let idle: Vec<usize> = (0..campaigns.len())
            .filter(|&c| {
                campaigns[c].status == entity::status::CampaignStatus::Aborted
                    && matches!(campaigns[c].target, Target::Release { .. })
                    && fleet.targets(&campaigns, c).next().is_none()
            })
            .collect();
        for c in idle {
            campaigns[c].status = entity::status::CampaignStatus::Completed;
        }
        tenants.push(TenantPlan {
            tenant,
            fleet,
            firmware: firmware.clone(),
            campaigns,
        });
    }
    Ok(Dataset {
        tenants,
        scenario: s.name.clone(),
        seed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The world check compares device models with stored metadata: they must
    /// be the devices' own, in order, in both metadata styles.
    #[test]
    fn device_models_are_the_devices_ids_and_metadata() {
        let history = crate::scenario::Scenario::builtin("history").expect("built in");
        for dataset in [
            Dataset::demo(),
            Dataset::from_scenario(&history, 1).expect("history builds"),
        ] {
            for plan in &dataset.tenants {
                let models: Vec<_> = plan.fleet.device_models().collect();
                let devices: Vec<_> = plan.devices().collect();
                assert_eq!(models.len(), devices.len());
                for (model, device) in models.iter().zip(&devices) {
                    assert_eq!(model.device_id, device.device_id);
                    let written = device.metadata();
                    for key in ["model", "type", "installed"] {
                        let expected = match written.get(key) {
                            Some(serde_json::Value::String(s)) if key != "installed" => {
                                Some(s.as_str())
                            }
                            _ => None,
                        };
                        assert_eq!(model.metadata_text(key), expected, "{key} of {written}");
                    }
                }
            }
        }
    }

    #[test]
    fn same_seed_same_dataset_other_seed_other_models() {
        let a = Dataset::generate(&DatasetSpec::default());
        let b = Dataset::generate(&DatasetSpec::default());
        assert_eq!(a, b);
        let c = Dataset::generate(&DatasetSpec {
            seed: 7,
            ..DatasetSpec::default()
        });
        let models = |d: &Dataset| -> Vec<std::sync::Arc<str>> {
            d.tenants
                .iter()
                .flat_map(|t| t.devices().map(|d| d.model))
                .collect()
        };
        assert_ne!(models(&a), models(&c), "the seed drives the random models");
        let ids = |d: &Dataset| -> Vec<String> {
            d.tenants
                .iter()
                .flat_map(|t| t.devices().map(|d| d.device_id))
                .collect()
        };
        assert_eq!(ids(&a), ids(&c), "the seed changes only the random parts");
    }

    #[test]
    fn demo_dataset_has_the_documented_shape() {
        let d = Dataset::generate(&DatasetSpec::default());
        assert_eq!(d.tenant_ids(), ["tenant-a", "tenant-b"]);
        let a = &d.tenants[0];
        let devices: Vec<DeviceSeed> = a.devices().collect();
        assert_eq!(devices.len(), 15);
        assert_eq!(devices[0].device_id, "cold-storage-1-sensor-01");
        assert_eq!(devices[0].site_id, "cold-storage-1");
        assert_eq!(devices[14].device_id, "warehouse-west-sensor-05");
        assert_eq!(
            devices[0].fw_version, "1.0.0",
            "the failed device still runs 1.0.0"
        );
        assert!(devices[1..].iter().all(|d| d.fw_version == "1.1.0"));
        assert_eq!(a.created_by(), "demo-admin-tenant-a");
        assert_eq!(a.firmware.len(), 2);
        assert_eq!(
            d.tenants[1]
                .devices()
                .next()
                .map(|d| d.device_id)
                .as_deref(),
            Some("factory-floor-sensor-01")
        );
    }

    #[test]
    fn devices_come_out_in_byte_order_at_any_size() {
        let spec = DatasetSpec {
            tenants: 4,
            sites_per_tenant: 12,
            devices_per_site: 150,
            ..DatasetSpec::default()
        };
        for t in &Dataset::generate(&spec).tenants {
            let ids: Vec<String> = t.fleet.device_ids().collect();
            let mut sorted = ids.clone();
            sorted.sort();
            assert_eq!(ids, sorted, "tenant {}", t.tenant.tenant_id);
            assert_eq!(ids.len(), 1_800);

            // The allocation-free walk asks the same ids in the same order,
            // and stops at the first that fails.
            let mut asked = Vec::new();
            assert!(t.fleet.every_device_id(|id| {
                asked.push(id.to_owned());
                true
            }));
            assert_eq!(asked, ids);
            let mut seen = 0;
            assert!(!t.fleet.every_device_id(|id| {
                seen += 1;
                id != ids[700]
            }));
            assert_eq!(seen, 701);
        }
    }

    #[test]
    fn generated_tenants_have_realistic_profiles() {
        let spec = DatasetSpec {
            tenants: 4,
            ..DatasetSpec::default()
        };
        let d = Dataset::generate(&spec);
        assert_eq!(
            d.tenant_ids(),
            ["tenant-a", "tenant-b", "tenant-0003", "tenant-0004"]
        );
        let t = &d.tenants[2].tenant;
        assert!(!t.name.is_empty() && t.name != d.tenants[3].tenant.name);
        assert!(
            t.contact_email.starts_with("ops@") && t.contact_email.ends_with(".example.com"),
            "{}",
            t.contact_email
        );
        assert_eq!(t.country.len(), 2);
    }
}
