//! The platform's schema for the OTA tables and their prerequisites, one
//! migration per table in dependency order. PostgreSQL is the reference; the
//! other backends get the closest faithful form (see `columns`).

pub use sea_orm_migration::prelude::*;

mod columns;
pub mod example_add_column;
mod m20261127_000001_tenants;
mod m20261127_000002_device_registry;
mod m20261127_000003_firmware_versions;
mod m20261127_000004_ota_campaigns;
mod m20261127_000005_ota_device_status;
mod row_level_security;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_tenants::Migration),
            Box::new(m20261127_000002_device_registry::Migration),
            Box::new(m20261127_000003_firmware_versions::Migration),
            Box::new(m20261127_000004_ota_campaigns::Migration),
            Box::new(m20261127_000005_ota_device_status::Migration),
        ]
    }
}

/// Names of every migration this build knows, oldest first. The seeder uses
/// it to tell "schema missing" from "schema newer than this build".
pub fn known_migration_names() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}
