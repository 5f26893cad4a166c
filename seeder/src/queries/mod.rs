//! Read queries shared by the seeding steps, the dry run and `verify`.

mod rows;
pub mod sql;
mod stale;

pub use rows::{CampaignCounters, DeviceIdSet, existing_device_ids};
pub use stale::{StaleDevice, off_latest_success, stale_device_firmware};
