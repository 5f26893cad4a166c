use sea_orm_migration::prelude::*;

use crate::columns::{created_now, json_object, key_text, table_for};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum DeviceRegistry {
    Table,
    TenantId,
    DeviceId,
    SiteId,
    Status,
    ProvisionedAt,
    ProvisionTokenHash,
    DevicePubkey,
    FwVersion,
    Metadata,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // The platform has no foreign key from device_registry to tenants;
        // we reproduce that rather than invent one.
        manager
            .create_table(
                table_for(backend)
                    .table(DeviceRegistry::Table)
                    .col(key_text(DeviceRegistry::TenantId, backend))
                    .col(key_text(DeviceRegistry::DeviceId, backend))
                    .col(ColumnDef::new(DeviceRegistry::SiteId).text().not_null())
                    .col(
                        ColumnDef::new(DeviceRegistry::Status)
                            .text()
                            .not_null()
                            .default("ACTIVE"),
                    )
                    .col(created_now(DeviceRegistry::ProvisionedAt, backend))
                    .col(
                        ColumnDef::new(DeviceRegistry::ProvisionTokenHash)
                            .text()
                            .null(),
                    )
                    .col(ColumnDef::new(DeviceRegistry::DevicePubkey).text().null())
                    .col(ColumnDef::new(DeviceRegistry::FwVersion).text().null())
                    .col(json_object(DeviceRegistry::Metadata, backend))
                    .primary_key(
                        Index::create()
                            .col(DeviceRegistry::TenantId)
                            .col(DeviceRegistry::DeviceId),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(DeviceRegistry::Table).to_owned())
            .await
    }
}
