use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

use crate::columns::{created_now, key_text, key_varchar, one_of, table_for, timestamptz};
use crate::m20261127_000004_ota_campaigns::OtaCampaigns;
use crate::row_level_security;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone)]
pub enum OtaDeviceStatus {
    Table,
    Id,
    TenantId,
    CampaignId,
    DeviceId,
    Status,
    ProgressPct,
    ErrorMessage,
    StartedAt,
    CompletedAt,
    CreatedAt,
}

pub const DEVICE_STATUSES: [&str; 6] = [
    "PENDING",
    "DOWNLOADING",
    "INSTALLING",
    "SUCCESS",
    "FAILED",
    "SKIPPED",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // As on the platform: tenant_id has no foreign key here, and device_id
        // none to device_registry (the entity crate adds that relation by hand).
        manager
            .create_table(
                table_for(backend)
                    .table(OtaDeviceStatus::Table)
                    .col(
                        ColumnDef::new(OtaDeviceStatus::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(key_text(OtaDeviceStatus::TenantId, backend))
                    .col(
                        ColumnDef::new(OtaDeviceStatus::CampaignId)
                            .integer()
                            .not_null(),
                    )
                    .col(key_varchar(OtaDeviceStatus::DeviceId, backend))
                    .col(
                        ColumnDef::new(OtaDeviceStatus::Status)
                            .string_len(20)
                            .not_null()
                            .default("PENDING")
                            .check(one_of(OtaDeviceStatus::Status, &DEVICE_STATUSES)),
                    )
                    .col(
                        ColumnDef::new(OtaDeviceStatus::ProgressPct)
                            .integer()
                            .not_null()
                            .default(0)
                            .check(Expr::col(OtaDeviceStatus::ProgressPct).between(0, 100)),
                    )
                    .col(ColumnDef::new(OtaDeviceStatus::ErrorMessage).text().null())
                    .col(timestamptz(OtaDeviceStatus::StartedAt, backend).null())
                    .col(timestamptz(OtaDeviceStatus::CompletedAt, backend).null())
                    .col(created_now(OtaDeviceStatus::CreatedAt, backend))
                    .foreign_key(
                        ForeignKey::create()
                            .name("ota_device_status_campaign_id_fkey")
                            .from(OtaDeviceStatus::Table, OtaDeviceStatus::CampaignId)
                            .to(OtaCampaigns::Table, OtaCampaigns::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .index(
                        Index::create()
                            .name("uq_ota_device_campaign")
                            .col(OtaDeviceStatus::TenantId)
                            .col(OtaDeviceStatus::CampaignId)
                            .col(OtaDeviceStatus::DeviceId)
                            .unique(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ota_device_status_tenant_campaign")
                    .table(OtaDeviceStatus::Table)
                    .col(OtaDeviceStatus::TenantId)
                    .col(OtaDeviceStatus::CampaignId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ota_device_status_tenant_device")
                    .table(OtaDeviceStatus::Table)
                    .col(OtaDeviceStatus::TenantId)
                    .col(OtaDeviceStatus::DeviceId)
                    .to_owned(),
            )
            .await?;
        let mut pending = Index::create();
        pending
            .name("idx_ota_device_status_pending")
            .table(OtaDeviceStatus::Table)
            .col(OtaDeviceStatus::TenantId)
            .col(OtaDeviceStatus::CampaignId)
            .col(OtaDeviceStatus::Status);
        // MySQL/MariaDB have no partial indexes: there the index covers every
        // row, which serves the same lookups at a larger size.
        if backend != DbBackend::MySql {
            pending.and_where(Expr::col(OtaDeviceStatus::Status).eq("PENDING"));
        }
        manager.create_index(pending.to_owned()).await?;
        row_level_security::enable(manager, "ota_device_status").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OtaDeviceStatus::Table).to_owned())
            .await
    }
}
