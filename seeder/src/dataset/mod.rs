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
mod tenants;

pub use campaigns::CampaignSeed;
pub use firmware::FirmwareSeed;
pub use fleet::{DeviceSeed, Fleet};
pub use tenants::TenantSeed;

use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;

/// Default `--seed`.
pub const DEFAULT_SEED: u64 = 42;

/// What to generate. The defaults give exactly the demo dataset
/// (docs/dataset.md); larger values scale it into a fleet.
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
}

/// Everything that should exist for one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantPlan {
    pub tenant: TenantSeed,
    /// Produced on demand, in device_id byte order (the order status rows
    /// are assigned in).
    pub fleet: Fleet,
    pub firmware: Vec<FirmwareSeed>,
    pub campaigns: Vec<CampaignSeed>,
}

impl TenantPlan {
    /// The demo admin user that creates everything seeded for the tenant.
    pub fn created_by(&self) -> String {
        format!("demo-admin-{}", self.tenant.tenant_id)
    }

    /// The tenant's devices, generated as they are consumed.
    pub fn devices(&self) -> impl Iterator<Item = DeviceSeed> + '_ {
        self.fleet.devices(&self.campaigns)
    }
}

/// The rows that should exist, tenant by tenant: a plan, generated without
/// a database; devices are produced as they are written, so a plan of
/// millions of devices takes little memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub(crate) tenants: Vec<TenantPlan>,
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

    /// The plan of every tenant. Cheap even for huge fleets: devices are
    /// generated later, as they are written.
    pub fn generate(spec: &DatasetSpec) -> Dataset {
        let tenants = (0..spec.tenants)
            .map(|index| plan_tenant(spec, index))
            .collect();
        Dataset { tenants }
    }

    /// The tenants' ids, in dataset order.
    pub fn tenant_ids(&self) -> Vec<&str> {
        self.tenants
            .iter()
            .map(|t| t.tenant.tenant_id.as_str())
            .collect()
    }
}

fn plan_tenant(spec: &DatasetSpec, index: usize) -> TenantPlan {
    // Two streams per tenant: its profile, and its devices' random parts.
    let (tenant, sites) = tenants::tenant(
        index,
        spec.sites_per_tenant,
        &mut rng(spec.seed, 2 * index as u64),
    );
    TenantPlan {
        tenant,
        fleet: Fleet::new(
            sites,
            spec.devices_per_site,
            spec.seed,
            2 * index as u64 + 1,
        ),
        firmware: firmware::firmware_for(spec.campaigns_per_tenant),
        campaigns: campaigns::campaigns_for(spec.campaigns_per_tenant),
    }
}

/// ChaCha8 rather than `StdRng`: its output is fixed across rand versions
/// and platforms, so a seed means the same rows forever.
pub(crate) fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_dataset_other_seed_other_models() {
        let a = Dataset::generate(&DatasetSpec::default());
        let b = Dataset::generate(&DatasetSpec::default());
        assert_eq!(a, b);
        let c = Dataset::generate(&DatasetSpec {
            seed: 7,
            ..DatasetSpec::default()
        });
        let models = |d: &Dataset| -> Vec<&str> {
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
