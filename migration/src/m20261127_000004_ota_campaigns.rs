use sea_orm_migration::prelude::*;

use crate::columns::{created_now, key_text, one_of, table_for, timestamptz};
use crate::m20261127_000001_tenants::Tenants;
use crate::m20261127_000003_firmware_versions::FirmwareVersions;
use crate::row_level_security;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone)]
pub enum OtaCampaigns {
    Table,
    Id,
    TenantId,
    Name,
    FirmwareVersionId,
    TargetGroupId,
    RolloutStrategy,
    RolloutRate,
    AbortThreshold,
    Status,
    TotalDevices,
    Succeeded,
    Failed,
    StartedAt,
    CompletedAt,
    CreatedAt,
    CreatedBy,
}

pub const ROLLOUT_STRATEGIES: [&str; 2] = ["linear", "canary"];
pub const CAMPAIGN_STATUSES: [&str; 5] = ["CREATED", "RUNNING", "PAUSED", "COMPLETED", "ABORTED"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        // No unique key on (tenant_id, name): the platform has none. The
        // seeder keeps campaign names unique per tenant under a tenant lock.
        manager
            .create_table(
                table_for(backend)
                    .table(OtaCampaigns::Table)
                    .col(
                        ColumnDef::new(OtaCampaigns::Id)
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(key_text(OtaCampaigns::TenantId, backend))
                    .col(
                        ColumnDef::new(OtaCampaigns::Name)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OtaCampaigns::FirmwareVersionId)
                            .integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OtaCampaigns::TargetGroupId)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(OtaCampaigns::RolloutStrategy)
                            .string_len(20)
                            .not_null()
                            .default("linear")
                            .check(one_of(OtaCampaigns::RolloutStrategy, &ROLLOUT_STRATEGIES)),
                    )
                    .col(
                        ColumnDef::new(OtaCampaigns::RolloutRate)
                            .integer()
                            .not_null()
                            .default(10),
                    )
                    .col(
                        ColumnDef::new(OtaCampaigns::AbortThreshold)
                            .double()
                            .not_null()
                            .default(0.1),
                    )
                    .col(
                        ColumnDef::new(OtaCampaigns::Status)
                            .string_len(20)
                            .not_null()
                            .default("CREATED")
                            .check(one_of(OtaCampaigns::Status, &CAMPAIGN_STATUSES)),
                    )
                    .col(
                        ColumnDef::new(OtaCampaigns::TotalDevices)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(OtaCampaigns::Succeeded)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(OtaCampaigns::Failed)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(timestamptz(OtaCampaigns::StartedAt, backend).null())
                    .col(timestamptz(OtaCampaigns::CompletedAt, backend).null())
                    .col(created_now(OtaCampaigns::CreatedAt, backend))
                    .col(ColumnDef::new(OtaCampaigns::CreatedBy).text().null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("ota_campaigns_tenant_id_fkey")
                            .from(OtaCampaigns::Table, OtaCampaigns::TenantId)
                            .to(Tenants::Table, Tenants::TenantId)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("ota_campaigns_firmware_version_id_fkey")
                            .from(OtaCampaigns::Table, OtaCampaigns::FirmwareVersionId)
                            .to(FirmwareVersions::Table, FirmwareVersions::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ota_campaigns_tenant")
                    .table(OtaCampaigns::Table)
                    .col(OtaCampaigns::TenantId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ota_campaigns_tenant_status")
                    .table(OtaCampaigns::Table)
                    .col(OtaCampaigns::TenantId)
                    .col(OtaCampaigns::Status)
                    .to_owned(),
            )
            .await?;
        row_level_security::enable(manager, "ota_campaigns").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OtaCampaigns::Table).to_owned())
            .await
    }
}
