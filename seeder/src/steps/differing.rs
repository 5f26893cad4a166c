//! Rows that exist under a natural key of the dataset but whose contents
//! differ from it (firmware `1.1.0` already present with another checksum,
//! say). The seeder never overwrites them: someone put them there on
//! purpose, and campaigns may already point at them. It reports them.

use entity::{firmware_versions, tenants};

use crate::dataset::{FirmwareSeed, TenantSeed};
use crate::report::DifferingRow;

pub fn tenant(stored: &tenants::Model, planned: &TenantSeed) -> Option<DifferingRow> {
    let mut columns = Vec::new();
    if stored.name != planned.name {
        columns.push("name");
    }
    if stored.contact_email.as_deref() != Some(planned.contact_email.as_str()) {
        columns.push("contact_email");
    }
    if stored.country.as_deref() != Some(planned.country.as_str()) {
        columns.push("country");
    }
    if stored.data_residency_region.as_deref() != Some(planned.region.as_str()) {
        columns.push("data_residency_region");
    }
    (!columns.is_empty()).then(|| DifferingRow {
        table: "tenants",
        tenant_id: stored.tenant_id.clone(),
        key: format!("{:?}", stored.tenant_id),
        columns,
    })
}

pub fn firmware(stored: &firmware_versions::Model, planned: &FirmwareSeed) -> Option<DifferingRow> {
    let mut columns = Vec::new();
    if stored.description.as_deref() != Some(planned.description.as_str()) {
        columns.push("description");
    }
    if stored.file_url != planned.file_url {
        columns.push("file_url");
    }
    if stored.file_size_bytes != Some(planned.file_size_bytes) {
        columns.push("file_size_bytes");
    }
    if stored.checksum_sha256.as_deref() != Some(planned.checksum_sha256.as_str()) {
        columns.push("checksum_sha256");
    }
    (!columns.is_empty()).then(|| DifferingRow {
        table: "firmware_versions",
        tenant_id: stored.tenant_id.clone(),
        key: format!("{} ({})", stored.version, planned.device_type),
        columns,
    })
}
