//! An example schema change: adding a column to a table the platform
//! already has. It is written like the migrations above but is **not** in
//! [`crate::Migrator`]: the README's "Changing the schema" guide copies it
//! to `src/m<yyyymmdd>_<nnnnnn>_<name>.rs` and lists it there.
//! `tests/tests/schema_change.rs` applies it to scratch databases on every
//! backend, regenerates the entities from it and seeds.
//!
//! The column is NOT NULL **with** a default, so existing rows get the
//! default and the seeder (which does not know the column) keeps working
//! unchanged. A NOT NULL column without a default is refused by the seeder
//! before it writes anything, naming the code that must give it a value.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OtaCampaigns {
    Table,
    RolloutWindowMinutes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OtaCampaigns::Table)
                    .add_column(
                        ColumnDef::new(OtaCampaigns::RolloutWindowMinutes)
                            .integer()
                            .not_null()
                            .default(60),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OtaCampaigns::Table)
                    .drop_column(OtaCampaigns::RolloutWindowMinutes)
                    .to_owned(),
            )
            .await
    }
}
