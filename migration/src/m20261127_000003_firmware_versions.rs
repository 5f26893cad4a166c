use sea_orm_migration::prelude::*;

use crate::columns::{created_now, key_text, table_for};
use crate::m20261127_000001_tenants::Tenants;
use crate::row_level_security;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum FirmwareVersions {
    Table,
    Id,
    TenantId,
    Version,
    Description,
    FileUrl,
    FileSizeBytes,
    ChecksumSha256,
    DeviceType,
    CreatedAt,
    CreatedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // NULL device_types never conflict under this constraint on any of
        // the three backends, exactly as on the platform's PostgreSQL.
        manager
            .create_table(
                table_for(backend)
                    .table(FirmwareVersions::Table)
                    .col(
                        ColumnDef::new(FirmwareVersions::Id)
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(key_text(FirmwareVersions::TenantId, backend))
                    .col(
                        ColumnDef::new(FirmwareVersions::Version)
                            .string_len(50)
                            .not_null(),
                    )
                    .col(ColumnDef::new(FirmwareVersions::Description).text().null())
                    .col(ColumnDef::new(FirmwareVersions::FileUrl).text().not_null())
                    .col(
                        ColumnDef::new(FirmwareVersions::FileSizeBytes)
                            .big_integer()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(FirmwareVersions::ChecksumSha256)
                            .string_len(64)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(FirmwareVersions::DeviceType)
                            .string_len(50)
                            .null(),
                    )
                    .col(created_now(FirmwareVersions::CreatedAt, backend))
                    .col(ColumnDef::new(FirmwareVersions::CreatedBy).text().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("firmware_versions_tenant_id_fkey")
                            .from(FirmwareVersions::Table, FirmwareVersions::TenantId)
                            .to(Tenants::Table, Tenants::TenantId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .index(
                        Index::create()
                            .name("uq_firmware_tenant_version")
                            .col(FirmwareVersions::TenantId)
                            .col(FirmwareVersions::Version)
                            .col(FirmwareVersions::DeviceType)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_firmware_versions_tenant")
                    .table(FirmwareVersions::Table)
                    .col(FirmwareVersions::TenantId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_firmware_versions_tenant_device_type")
                    .table(FirmwareVersions::Table)
                    .col(FirmwareVersions::TenantId)
                    .col(FirmwareVersions::DeviceType)
                    .to_owned(),
            )
            .await?;
        row_level_security::enable(manager, "firmware_versions").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FirmwareVersions::Table).to_owned())
            .await
    }
}
