use fake::Fake as _;
use fake::faker::address::en::CountryCode;
use fake::faker::company::en::CompanyName;
use rand::RngExt as _;
use rand_chacha::ChaCha8Rng;

/// A tenant and the profile columns the demo uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSeed {
    pub tenant_id: String,
    pub name: String,
    pub country: String,
    pub region: String,
    pub contact_email: String,
}

/// Ids of the dataset's fixed tenants, in order.
pub const DEMO_TENANT_IDS: [&str; 2] = ["tenant-a", "tenant-b"];

const REGIONS: [&str; 5] = [
    "us-east",
    "us-west",
    "eu-west",
    "eu-central",
    "ap-southeast",
];
const SITE_KINDS: [&str; 8] = [
    "warehouse",
    "plant",
    "depot",
    "cold-storage",
    "loading-dock",
    "office-hvac",
    "lab",
    "yard",
];

/// Tenant `index` (0-based) and its site ids: the two demo tenants, then
/// tenants with generated ids (`tenant-0003`, ...) and profiles drawn from
/// `rng`.
pub(super) fn tenant(
    index: usize,
    sites: usize,
    rng: &mut ChaCha8Rng,
) -> (TenantSeed, Vec<String>) {
    let demo = |id: &str,
                name: &str,
                country: &str,
                region: &str,
                contact: &str,
                demo_sites: [&str; 3]| {
        let tenant = TenantSeed {
            tenant_id: id.to_owned(),
            name: name.to_owned(),
            country: country.to_owned(),
            region: region.to_owned(),
            contact_email: contact.to_owned(),
        };
        (tenant, site_ids(&demo_sites, sites))
    };
    match index {
        0 => demo(
            DEMO_TENANT_IDS[0],
            "Acme IoT Corp",
            "US",
            "us-east",
            "admin@acme-iot.example.com",
            ["warehouse-east", "warehouse-west", "cold-storage-1"],
        ),
        1 => demo(
            DEMO_TENANT_IDS[1],
            "Nordic Sensors AB",
            "SE",
            "eu-west",
            "ops@nordicsensors.example.com",
            ["factory-floor", "loading-dock", "office-hvac"],
        ),
        _ => {
            let name: String = CompanyName().fake_with_rng(rng);
            let country: String = CountryCode().fake_with_rng(rng);
            let region = REGIONS[rng.random_range(0..REGIONS.len())];
            let slug: String = name
                .to_lowercase()
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty() && *w != "and")
                .collect::<Vec<_>>()
                .join("-");
            let kind = SITE_KINDS[rng.random_range(0..SITE_KINDS.len())];
            let tenant = TenantSeed {
                tenant_id: format!("tenant-{:04}", index + 1),
                contact_email: format!("ops@{slug}.example.com"),
                name,
                country,
                region: region.to_owned(),
            };
            (
                tenant,
                site_ids(&[], sites)
                    .into_iter()
                    .map(|s| format!("{kind}-{s}"))
                    .collect(),
            )
        }
    }
}

/// `count` site ids: the named ones first, then `site-NNNN`.
fn site_ids(named: &[&str], count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            named
                .get(i)
                .map_or_else(|| format!("site-{:04}", i + 1), |s| (*s).to_owned())
        })
        .collect()
}
