//! Read queries shared by the seeding steps, the dry run and `verify`.

mod rows;
pub mod sql;
mod stale;

pub use rows::{
    CampaignCounters, campaign_device_ids, count_status_rows, device_provisioning,
    existing_device_ids, existing_firmware,
};
pub use stale::{StaleDevice, off_latest_success, stale_device_firmware};
