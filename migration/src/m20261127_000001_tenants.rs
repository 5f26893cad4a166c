use sea_orm_migration::prelude::*;

use crate::columns::{created_now, key_text, table_for};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub enum Tenants {
    Table,
    TenantId,
    Name,
    Status,
    CreatedAt,
    // Profile columns of the platform's table that the demo data uses.
    ContactEmail,
    Country,
    DataResidencyRegion,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_table(
                table_for(backend)
                    .table(Tenants::Table)
                    .col(key_text(Tenants::TenantId, backend).primary_key())
                    .col(ColumnDef::new(Tenants::Name).text().not_null())
                    .col(
                        ColumnDef::new(Tenants::Status)
                            .text()
                            .not_null()
                            .default("ACTIVE"),
                    )
                    .col(created_now(Tenants::CreatedAt, backend))
                    .col(ColumnDef::new(Tenants::ContactEmail).text().null())
                    .col(ColumnDef::new(Tenants::Country).text().null())
                    .col(ColumnDef::new(Tenants::DataResidencyRegion).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Tenants::Table).to_owned())
            .await
    }
}
