//! `ota_device_status` → `device_registry` over `(tenant_id, device_id)`.
//!
//! The platform's schema has no foreign key here (status rows may outlive a
//! device), so sea-orm-cli cannot derive this relation; it is declared by
//! hand so application code can still `find_also_related` a status row's
//! device, or load a device's update history.

use sea_orm::entity::prelude::*;

use crate::{device_registry, ota_device_status};

/// The device a status row names, within the row's tenant.
pub fn status_to_device() -> RelationDef {
    ota_device_status::Entity::belongs_to(device_registry::Entity)
        .from((
            ota_device_status::Column::TenantId,
            ota_device_status::Column::DeviceId,
        ))
        .to((
            device_registry::Column::TenantId,
            device_registry::Column::DeviceId,
        ))
        .into()
}

impl Related<device_registry::Entity> for ota_device_status::Entity {
    fn to() -> RelationDef {
        status_to_device()
    }
}

impl Related<ota_device_status::Entity> for device_registry::Entity {
    fn to() -> RelationDef {
        status_to_device().rev()
    }
}
