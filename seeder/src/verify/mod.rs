//! Read-only verification of any database with this schema (seeded by us or
//! not): per-table counts, the platform's per-campaign breakdown, and the
//! eleven invariants of the dataset, each violation naming its row.

mod firmware_lines;
mod history;
mod invariants;

use crate::report::VerifyReport;
use crate::table::Table;

use futures_util::StreamExt as _;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use crate::db::{Access, Db};
use crate::queries::sql::Query;

/// Tenants checked at once on a server (each on a connection of its own):
/// the checks are read-only, and at fleet scale each tenant's queries keep
/// one server core busy.
const TENANTS_AT_ONCE: usize = 2;

/// Checks the named tenants, each in a read-only transaction scoped to it:
/// a role subject to PostgreSQL's tenant-isolation policies sees each
/// tenant's rows only while `app.tenant_id` names it. On PostgreSQL and
/// MySQL/MariaDB two tenants are checked at once when the pool has two
/// connections; the report lists them in the order given.
pub async fn verify(db: &Db, tenants: &[String]) -> Result<VerifyReport, DbErr> {
    let mut report = VerifyReport {
        counts: Table::ALL.iter().map(|t| (t.table_name(), 0)).collect(),
        campaigns: Vec::new(),
        violations: Vec::new(),
    };
    // Never more than the caller's pool can serve at once: a check waiting
    // for a connection would run into the pool's acquire timeout.
    let at_once = TENANTS_AT_ONCE.min(db.concurrent_transactions());
    // Not scoped to a tenant: a role whose policies hide other tenants'
    // rows sees none of them here, as in each tenant's transaction; a role
    // they let see every tenant (the owner, a support role) sees them all,
    // as it would there.
    let foreign = {
        let txn = db.begin(Access::Read, None).await?;
        match invariants::foreign_status_rows(&txn).await {
            Ok(foreign) => {
                txn.commit().await?;
                foreign
            }
            // A strict tenant policy, unscoped: the role sees none.
            Err(e) if invariants::is_undefined_setting(&e) => {
                txn.rollback().await?;
                invariants::ForeignRows::new()
            }
            Err(e) => return Err(e),
        }
    };
    let foreign = &foreign;
    let mut checked = futures_util::stream::iter(tenants)
        .map(|tenant| async move {
            let txn = db.begin(Access::Read, Some(tenant)).await?;
            if txn.get_database_backend() == DbBackend::Postgres {
                // One server process per tenant checked at once, no parallel
                // workers: they would compete with the other tenant's
                // process for the cores, and parallel plans take the status
                // rows' devices from a scan of the whole device_registry
                // shared among the workers rather than from the tenant's
                // range of its primary key.
                txn.execute_unprepared("SET LOCAL max_parallel_workers_per_gather = 0")
                    .await?;
                // The status rows' checks hash the tenant's devices (about
                // 9 MB for 100k): in the default 4 MB of work_mem the join
                // spills to temporary files.
                // Only raised: a role's or database's larger setting stays.
                txn.execute_unprepared(
                    "SELECT set_config('work_mem', '32MB', true) \
                     WHERE pg_size_bytes(current_setting('work_mem')) < 32 * 1024 * 1024",
                )
                .await?;
            }
            let one = verify_scope(&txn, Some(std::slice::from_ref(tenant)), foreign).await?;
            txn.commit().await?;
            Ok::<VerifyReport, DbErr>(one)
        })
        .buffered(at_once);
    while let Some(one) = checked.next().await {
        let one = one?;
        for ((_, total), (_, n)) in report.counts.iter_mut().zip(one.counts) {
            *total += n;
        }
        report.campaigns.extend(one.campaigns);
        report.violations.extend(one.violations);
    }
    Ok(report)
}

/// Checks the named tenants (all when `None`) through `conn` as it is,
/// `foreign` being the status rows of other tenants their campaigns count.
async fn verify_scope<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
    foreign: &invariants::ForeignRows,
) -> Result<VerifyReport, DbErr> {
    let mut counts = Vec::new();
    for table in Table::ALL.map(Table::table_name) {
        // `table` is one of our constants; tenant ids are bound values.
        let rows = Query::new(&format!(
            "SELECT COUNT(*) AS n FROM {table} t WHERE {{tenants:t}}"
        ))
        .tenants("t", tenants)
        .all(conn)
        .await?;
        let n: i64 = rows
            .first()
            .map(|r| r.try_get("", "n"))
            .transpose()?
            .unwrap_or(0);
        counts.push((table, n));
    }
    let campaigns = invariants::campaign_breakdown(conn, tenants, foreign).await?;
    let violations = invariants::check_all(conn, tenants, &campaigns, !foreign.is_empty()).await?;
    Ok(VerifyReport {
        counts,
        campaigns,
        violations,
    })
}
