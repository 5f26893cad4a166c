use fake::Fake as _;
use fake::faker::address::en::CountryCode;
use fake::faker::company::en::CompanyName;
use rand::RngExt as _;
use rand_chacha::ChaCha8Rng;

use super::Moment;
use crate::scenario::NamedTenant;

/// A tenant and the profile columns the demo uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSeed {
    pub tenant_id: String,
    /// When the tenant joined the platform: before anything of its own.
    pub created: super::Moment,
    pub name: String,
    pub country: String,
    pub region: String,
    pub contact_email: String,
}

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

/// Tenant `index` (0-based) and its site ids: the scenario's named
/// tenants, then tenants with generated ids (`tenant-0003`, ...) and
/// profiles drawn from `rng`.
pub(super) fn tenant(
    index: usize,
    named: &[NamedTenant],
    created: Moment,
    sites: usize,
    rng: &mut ChaCha8Rng,
) -> (TenantSeed, Vec<String>) {
    if let Some(t) = named.get(index) {
        let tenant = TenantSeed {
            tenant_id: t.id.clone(),
            created,
            name: t.name.clone(),
            country: t.country.clone(),
            region: t.region.clone(),
            contact_email: t.contact_email.clone(),
        };
        let named_sites: Vec<&str> = t.sites.iter().map(String::as_str).collect();
        return (tenant, site_ids(&named_sites, sites));
    }
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
        created,
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
