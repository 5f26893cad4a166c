//! The per-tenant transaction and the lock that makes concurrent seeders of
//! one tenant take turns. `ota_campaigns` has no unique key to conflict on,
//! so "insert the campaigns that are missing" is only safe while no other
//! seeder of the tenant runs between our read and our insert.

use sea_orm::{DbBackend, DbErr, EntityTrait, QuerySelect};

use crate::db::{Access, Db, Txn};

use entity::device_registry;
use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};

use super::{ExistingRows, TenantScope};

/// The tenant's write transaction, scoped to it for PostgreSQL's
/// tenant-isolation policies before any read or write: under them the
/// transaction sees and may write this tenant's rows and no other's.
pub async fn begin(db: &Db, tenant_id: &str) -> Result<Txn, DbErr> {
    db.begin(Access::Write, Some(tenant_id)).await
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

/// Counts the tenant's devices (under the lock, so the count stays true
/// for the transaction) when `count_devices`: the devices step, when it
/// runs, counts them by reading their ids instead, and the status step
/// counts status rows per campaign anyway. Nothing is sent otherwise.
pub async fn existing_rows(
    scope: &TenantScope<'_>,
    count_devices: bool,
) -> Result<ExistingRows, DbErr> {
    let t = scope.tenant_id();
    let devices = if count_devices {
        device_registry::Entity::find()
            .filter(device_registry::Column::TenantId.eq(t))
            .count(scope.txn)
            .await?
    } else {
        0
    };
    Ok(ExistingRows { devices })
}
