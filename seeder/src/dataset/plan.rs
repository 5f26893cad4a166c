//! The plan of one tenant: its row, fleet, firmware and campaigns.

use super::{CampaignSeed, DeviceSeed, FirmwareSeed, Fleet, TenantSeed};

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
