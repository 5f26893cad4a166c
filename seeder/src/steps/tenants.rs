use entity::tenants;
use sea_orm::{ActiveValue::Set, DbBackend, DbErr, EntityTrait, SqlErr};

use super::TenantScope;
use super::batch::{Conflicts, insert_rows};
use super::differing;
use crate::report::DifferingRow;
use crate::report::TableCounts;
use crate::table::Table;

/// `tenants`: the tenant's row with its demo profile. An existing row is
/// left as it is, and reported when its profile differs from the dataset's.
pub struct TenantStep;

impl TenantStep {
    pub async fn run(
        &self,
        scope: &TenantScope<'_>,
    ) -> Result<(TableCounts, Option<DifferingRow>), DbErr> {
        let t = &scope.plan.tenant;
        if let Some(stored) = tenants::Entity::find_by_id(t.tenant_id.clone())
            .one(scope.txn)
            .await?
        {
            let counts = TableCounts {
                present: 1,
                ..TableCounts::default()
            };
            return Ok((counts, differing::tenant(&stored, t)));
        }
        // Every column is set today; the update stays so that a column
        // added to the platform's table (and regenerated into the entity)
        // keeps its default rather than breaking the build.
        #[allow(clippy::needless_update)]
        let row = tenants::ActiveModel {
            tenant_id: Set(t.tenant_id.clone()),
            name: Set(t.name.clone()),
            status: Set("ACTIVE".to_owned()),
            contact_email: Set(Some(t.contact_email.clone())),
            country: Set(Some(t.country.clone())),
            data_residency_region: Set(Some(t.region.clone())),
            created_at: Set(t.created.at(scope.now)),
            ..Default::default()
        };
        // No lock protects the tenant row itself: a concurrent seeder may
        // insert it between our read and our insert. On PostgreSQL and SQLite
        // the on-conflict clause absorbs that; on MySQL the duplicate-key
        // error does (a failed statement leaves a MySQL transaction usable).
        let progress = scope.progress.step(scope.tenant_id(), Table::Tenants, 1);
        let inserted = match insert_rows(
            scope.txn,
            [row],
            Conflicts::SkipOn(&[tenants::Column::TenantId]),
            &progress,
            scope.interrupt,
        )
        .await
        {
            Ok(n) => n,
            // On Galera the duplicate may come from another node's commit
            // applied into a transaction it has just rolled back: then the
            // error stands (and the tenant is retried, see `seed_tenant`).
            Err(e)
                if scope.backend == DbBackend::MySql
                    && matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
                    && !(scope.galera && crate::db::rolled_back_by_cluster(scope.txn).await) =>
            {
                0
            }
            Err(e) => return Err(e),
        };
        let counts = TableCounts {
            inserted,
            present: 1 - inserted,
            updated: 0,
        };
        progress.finish(counts);
        Ok((counts, None))
    }
}
