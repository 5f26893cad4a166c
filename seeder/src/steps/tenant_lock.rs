//! The per-tenant transaction and the lock that makes concurrent seeders of
//! one tenant take turns. `ota_campaigns` has no unique key to conflict on,
//! so "insert the campaigns that are missing" is only safe while no other
//! seeder of the tenant runs between our read and our insert.
//!
//! On a MariaDB Galera cluster a row lock holds on one node only: there
//! the lock also writes the tenant row, so that the cluster's
//! certification lets one of two such transactions commit and aborts the
//! other (see `db::galera`).

use sea_orm::{DbBackend, DbErr, EntityTrait, QuerySelect};

use crate::db::{Access, Db, Txn, certified_lock_sql};
use sea_orm::{ConnectionTrait, Statement};

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
/// transaction already excludes every other writer. On a Galera node, the
/// row is also written and put back as it was, which makes the lock hold
/// across the cluster: a transaction of another node that took it too is
/// aborted (error 1213) when the first commits, and is retried.
pub async fn lock_tenant(scope: &TenantScope<'_>) -> Result<(), DbErr> {
    if scope.backend == DbBackend::Sqlite {
        return Ok(());
    }
    entity::tenants::Entity::find_by_id(scope.tenant_id().to_owned())
        .lock_exclusive()
        .one(scope.txn)
        .await?;
    if scope.galera {
        for sql in certified_lock_sql() {
            scope
                .txn
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::MySql,
                    sql,
                    [scope.tenant_id().into()],
                ))
                .await?;
        }
    }
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
