/// A tenant and the profile columns the demo uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSeed {
    pub tenant_id: String,
    pub name: String,
    pub country: String,
    pub region: String,
    pub contact_email: String,
    /// Site ids of the tenant's devices.
    pub sites: Vec<String>,
}

/// Ids of the dataset's fixed tenants, in order.
pub const DEMO_TENANT_IDS: [&str; 2] = ["tenant-a", "tenant-b"];

pub(super) fn demo_tenants() -> Vec<TenantSeed> {
    let tenant =
        |id: &str, name: &str, country: &str, region: &str, contact: &str, sites: [&str; 3]| {
            TenantSeed {
                tenant_id: id.to_owned(),
                name: name.to_owned(),
                country: country.to_owned(),
                region: region.to_owned(),
                contact_email: contact.to_owned(),
                sites: sites.iter().map(|s| (*s).to_owned()).collect(),
            }
        };
    vec![
        tenant(
            DEMO_TENANT_IDS[0],
            "Acme IoT Corp",
            "US",
            "us-east",
            "admin@acme-iot.example.com",
            ["warehouse-east", "warehouse-west", "cold-storage-1"],
        ),
        tenant(
            DEMO_TENANT_IDS[1],
            "Nordic Sensors AB",
            "SE",
            "eu-west",
            "ops@nordicsensors.example.com",
            ["factory-floor", "loading-dock", "office-hvac"],
        ),
    ]
}
