//! The per-tenant transaction and the lock that makes concurrent seeders of
//! one tenant take turns. `ota_campaigns` has no unique key to conflict on,
//! so "insert the campaigns that are missing" is only safe while no other
//! seeder of the tenant runs between our read and our insert.

use sea_orm::{
    AccessMode, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait,
    IsolationLevel, QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status};
use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};

use super::{ExistingRows, TenantScope};

pub async fn begin(db: &DatabaseConnection, tenant_id: &str) -> Result<DatabaseTransaction, DbErr> {
    let backend = db.get_database_backend();
    let options = TransactionOptions {
        // MySQL's default REPEATABLE READ would keep reading the snapshot
        // taken before another seeder's commit; each step must see the rows
        // committed up to the moment it reads (PostgreSQL's default).
        isolation_level: (backend == DbBackend::MySql).then_some(IsolationLevel::ReadCommitted),
        access_mode: Some(AccessMode::ReadWrite).filter(|_| backend != DbBackend::Sqlite),
        // SQLite: take the write lock at BEGIN, so concurrent seeders queue
        // on the busy timeout instead of failing with "database is locked".
        sqlite_transaction_mode: (backend == DbBackend::Sqlite)
            .then_some(SqliteTransactionMode::Immediate),
    };
    let txn = db.begin_with_options(options).await?;
    // Before any read or write: under the tenant-isolation policies the
    // transaction sees and may write this tenant's rows and no other's.
    crate::db::scope_to_tenant(&txn, tenant_id).await?;
    Ok(txn)
}

/// `SELECT ... FOR UPDATE` on the tenant's row; on SQLite the IMMEDIATE
/// transaction already excludes every other writer.
pub async fn lock_tenant(scope: &TenantScope<'_>) -> Result<(), DbErr> {
    if scope.backend == DbBackend::Sqlite {
        return Ok(());
    }
    entity::tenants::Entity::find_by_id(scope.tenant_id().to_owned())
        .lock_exclusive()
        .one(scope.txn)
        .await?;
    Ok(())
}

/// Counts the tenant's rows per table (under the lock, so they stay true
/// for the transaction). A table with none needs no conflict checks.
pub async fn existing_rows(scope: &TenantScope<'_>) -> Result<ExistingRows, DbErr> {
    let t = scope.tenant_id();
    Ok(ExistingRows {
        devices: device_registry::Entity::find()
            .filter(device_registry::Column::TenantId.eq(t))
            .count(scope.txn)
            .await?,
        firmware: firmware_versions::Entity::find()
            .filter(firmware_versions::Column::TenantId.eq(t))
            .count(scope.txn)
            .await?,
        campaigns: ota_campaigns::Entity::find()
            .filter(ota_campaigns::Column::TenantId.eq(t))
            .count(scope.txn)
            .await?,
        statuses: ota_device_status::Entity::find()
            .filter(ota_device_status::Column::TenantId.eq(t))
            .count(scope.txn)
            .await?,
    })
}
