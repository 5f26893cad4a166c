//! Read-only verification of any database with this schema (seeded by us or
//! not): per-table counts, the platform's per-campaign breakdown, and the
//! eleven invariants of the dataset, each violation naming its row.

mod finding;
mod firmware_lines;
mod history;
mod invariants;

use finding::Finding;

use std::collections::HashMap;

use crate::report::{CampaignBreakdown, VerifyReport, Violation};
use crate::table::Table;

use futures_util::StreamExt as _;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use crate::db::{Access, Db};
use crate::queries::sql::Query;

/// Transactions checking tenants at once on a server (each on a connection
/// of its own): the checks are read-only, and at fleet scale each
/// transaction's queries keep one server core busy.
const TENANTS_AT_ONCE: usize = 2;

/// Most tenants one transaction checks. Their ids are bound values, up to
/// four times in one query (the status rows' scan names them for each
/// join), and an `IN` list of a thousand is
/// still planned as one index condition; tens of thousands would approach
/// the backends' limits on bound values (SQLite's 32,766).
const TENANTS_PER_BATCH: usize = 1_000;

/// Most status rows (as the tenants' campaigns count them) one transaction
/// checks, unless a single tenant has more. The status rows' checks hash
/// the batch's devices: 100k fit in the `work_mem` verify sets (a tenant
/// of the 1M fleet, about 14 MB); five such tenants at once spilled to
/// temporary files and took longer than one at a time. Batching big
/// tenants gains nothing anyway: their queries cost their rows, not their
/// number.
const ROWS_PER_BATCH: u64 = 100_000;

/// What checking some tenants in one transaction found.
struct ScopeReport {
    /// Rows per table, of all the tenants together.
    counts: Vec<(&'static str, i64)>,
    campaigns: Vec<CampaignBreakdown>,
    /// In the order of the rules, each rule's findings in its own order.
    findings: Vec<Finding>,
}

/// What one tenant contributes to the report beyond its counts.
#[derive(Default)]
struct TenantFindings {
    campaigns: Vec<CampaignBreakdown>,
    violations: Vec<Violation>,
}

/// What one transaction found, split by tenant.
struct BatchReport {
    counts: Vec<(&'static str, i64)>,
    /// The batch's tenants' findings, in the batch's order.
    tenants: Vec<TenantFindings>,
}

/// Checks the named tenants (distinct ids) in read-only transactions, each
/// for a batch of tenants with one set-based query per check. A role
/// subject to PostgreSQL's row level security sees a tenant's rows only
/// while `app.tenant_id` names it: for such a role each tenant is checked
/// in a transaction scoped to it, as the platform's code reads them. On
/// PostgreSQL and MySQL/MariaDB two transactions run at once when the pool
/// has two connections. The report is what checking each tenant alone
/// would give, in the order given: the same counts, breakdown and
/// violations, in the same order.
pub async fn verify(db: &Db, tenants: &[String]) -> Result<VerifyReport, DbErr> {
    // Never more than the caller's pool can serve at once: a check waiting
    // for a connection would run into the pool's acquire timeout.
    let at_once = TENANTS_AT_ONCE.min(db.concurrent_transactions());
    // Not scoped to a tenant: a role whose policies hide other tenants'
    // rows sees none of them here, as in each tenant's transaction; a role
    // they let see every tenant (the owner, a support role) sees them all,
    // as it would there.
    let (foreign, planned) = {
        let txn = db.begin(Access::Read, None).await?;
        // Under row level security each tenant is checked alone, and the
        // unscoped role may not see the campaigns the sizes come from.
        let planned = if row_security_applies(&txn).await? {
            None
        } else {
            Some(planned_rows(&txn).await?)
        };
        match invariants::foreign_status_rows(&txn).await {
            Ok(foreign) => {
                txn.commit().await?;
                (foreign, planned)
            }
            // A strict tenant policy, unscoped: the role sees none.
            Err(e) if invariants::is_undefined_setting(&e) => {
                txn.rollback().await?;
                (invariants::ForeignRows::new(), planned)
            }
            Err(e) => return Err(e),
        }
    };
    let foreign = &foreign;
    let batches = batches(tenants, at_once, planned.as_ref());
    let mut checked = futures_util::stream::iter(&batches)
        .map(|batch| async move { (batch, check_batch(db, batch, tenants, foreign).await) })
        .buffered(at_once);
    let mut report = VerifyReport {
        counts: Table::ALL.iter().map(|t| (t.table_name(), 0)).collect(),
        campaigns: Vec::new(),
        violations: Vec::new(),
    };
    // Each tenant's findings by its place in `tenants`.
    let mut by_place: Vec<TenantFindings> = Vec::new();
    by_place.resize_with(tenants.len(), TenantFindings::default);
    while let Some((batch, one)) = checked.next().await {
        let one = one?;
        for ((_, total), (_, n)) in report.counts.iter_mut().zip(one.counts) {
            *total += n;
        }
        for (&place, found) in batch.iter().zip(one.tenants) {
            by_place[place] = found;
        }
    }
    for found in by_place {
        report.campaigns.extend(found.campaigns);
        report.violations.extend(found.violations);
    }
    Ok(report)
}

/// Whether PostgreSQL's row level security applies to the connected role
/// on one of the OTA tables (asked once per run): then a query sees at
/// most the tenant `app.tenant_id` names, whatever its own filter, and
/// tenants are checked one per transaction. Never on the other backends.
async fn row_security_applies<C: ConnectionTrait>(conn: &C) -> Result<bool, DbErr> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    // All five tables, not only those the platform's policies protect: a
    // platform may add policies of its own. The names are our constants;
    // `to_regclass` resolves them through the run's search_path.
    let names: Vec<String> = Table::ALL
        .iter()
        .map(|t| format!("'{}'", t.table_name()))
        .collect();
    let rows = Query::new(&format!(
        "SELECT COUNT(*) AS n FROM unnest(ARRAY[{}]) AS t(name) \
         WHERE row_security_active(to_regclass(t.name))",
        names.join(", ")
    ))
    .all(conn)
    .await?;
    let n: i64 = rows
        .first()
        .map(|r| r.try_get("", "n"))
        .transpose()?
        .unwrap_or(0);
    Ok(n > 0)
}

/// Each tenant's status rows as its campaigns' `total_devices` count them:
/// what sizes the batches (a wrong counter only makes a batch larger or
/// smaller). One read of the campaigns, which are few beside their rows.
async fn planned_rows<C: ConnectionTrait>(conn: &C) -> Result<HashMap<String, u64>, DbErr> {
    // A sum is DECIMAL on MySQL/MariaDB: cast to each backend's integer.
    let integer = match conn.get_database_backend() {
        DbBackend::MySql => "SIGNED",
        DbBackend::Postgres => "BIGINT",
        _ => "INTEGER",
    };
    let rows = Query::new(&format!(
        "SELECT c.tenant_id, CAST(SUM(c.total_devices) AS {integer}) AS n \
         FROM ota_campaigns c GROUP BY c.tenant_id"
    ))
    .all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let n: Option<i64> = r.try_get("", "n")?;
            Ok((
                r.try_get("", "tenant_id")?,
                u64::try_from(n.unwrap_or(0)).unwrap_or(0),
            ))
        })
        .collect()
}

/// The transactions' tenants, as places in `tenants`. Without `planned`
/// rows (row level security applies), each tenant alone. Otherwise
/// consecutive tenants up to [`TENANTS_PER_BATCH`] and [`ROWS_PER_BATCH`]
/// planned rows, in batches small enough that `at_once` transactions
/// share the work. A tenant whose id a case-insensitive collation
/// (MySQL/MariaDB's) could confuse with another's, or that is not plain
/// ASCII, is checked alone, so that no row can be counted under two
/// tenants of one batch.
fn batches(
    tenants: &[String],
    at_once: usize,
    planned: Option<&HashMap<String, u64>>,
) -> Vec<Vec<usize>> {
    let Some(planned) = planned else {
        return (0..tenants.len()).map(|place| vec![place]).collect();
    };
    let mut folded: HashMap<String, usize> = HashMap::new();
    for t in tenants {
        *folded.entry(t.to_ascii_lowercase()).or_default() += 1;
    }
    let shares = |t: &String| {
        folded.get(&t.to_ascii_lowercase()) == Some(&1)
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    };
    let (shared, alone): (Vec<usize>, Vec<usize>) =
        (0..tenants.len()).partition(|&place| tenants.get(place).is_some_and(shares));
    let rows_of = |place: usize| {
        tenants
            .get(place)
            .and_then(|t| planned.get(t))
            .copied()
            .unwrap_or(0)
    };
    let at_once = at_once.max(1);
    let total: u64 = shared.iter().map(|&place| rows_of(place)).sum();
    let max_rows = ROWS_PER_BATCH.min(total.div_ceil(at_once as u64).max(1));
    let max_tenants = TENANTS_PER_BATCH.min(shared.len().div_ceil(at_once).max(1));
    let mut out: Vec<Vec<usize>> = alone.into_iter().map(|place| vec![place]).collect();
    let mut batch: Vec<usize> = Vec::new();
    let mut rows = 0;
    for place in shared {
        let more = rows_of(place);
        if !batch.is_empty() && (batch.len() == max_tenants || rows + more > max_rows) {
            out.push(std::mem::take(&mut batch));
            rows = 0;
        }
        batch.push(place);
        rows += more;
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    // In the order of the tenants' first places: the first tenants'
    // findings are ready first.
    out.sort_by_key(|batch| batch.first().copied());
    out
}

/// Checks the tenants at `places` in one read-only transaction: scoped to
/// the tenant when there is one, unscoped for several (only done where no
/// row level security applies).
async fn check_batch(
    db: &Db,
    places: &[usize],
    tenants: &[String],
    foreign: &invariants::ForeignRows,
) -> Result<BatchReport, DbErr> {
    let batch: Vec<String> = places
        .iter()
        .filter_map(|&place| tenants.get(place).cloned())
        .collect();
    let scope = match batch.as_slice() {
        [one] => Some(one.as_str()),
        _ => None,
    };
    let txn = db.begin(Access::Read, scope).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        // One server process per transaction at once, no parallel workers:
        // they would compete with the other transaction's process for the
        // cores, and parallel plans take the status rows' devices from a
        // scan of the whole device_registry shared among the workers
        // rather than from the tenants' ranges of its primary key.
        txn.execute_unprepared("SET LOCAL max_parallel_workers_per_gather = 0")
            .await?;
        // The status rows' checks hash the tenants' devices (about 9 MB
        // for 100k): in the default 4 MB of work_mem the join spills to
        // temporary files.
        // Only raised: a role's or database's larger setting stays.
        txn.execute_unprepared(
            "SELECT set_config('work_mem', '32MB', true) \
             WHERE pg_size_bytes(current_setting('work_mem')) < 32 * 1024 * 1024",
        )
        .await?;
    }
    let found = verify_scope(&txn, Some(&batch), foreign).await?;
    txn.commit().await?;
    match split(&batch, found) {
        Some(tenants) => Ok(tenants),
        // A row of a tenant not in the batch, which a case- or
        // accent-insensitive collation matched to one that is: whose it
        // is, each tenant's own check says.
        None => {
            let mut report = BatchReport {
                counts: Table::ALL.iter().map(|t| (t.table_name(), 0)).collect(),
                tenants: Vec::new(),
            };
            for &place in places {
                let one = Box::pin(check_batch(db, &[place], tenants, foreign)).await?;
                for ((_, total), (_, n)) in report.counts.iter_mut().zip(one.counts) {
                    *total += n;
                }
                report.tenants.extend(one.tenants);
            }
            Ok(report)
        }
    }
}

/// `found` split among the `batch`'s tenants (in its order), each tenant's
/// campaigns and violations in the order `found` lists them; `None` when
/// a row's tenant is not one of the batch (see `check_batch`). A single
/// tenant takes everything: the rows its transaction saw are its own.
fn split(batch: &[String], found: ScopeReport) -> Option<BatchReport> {
    let mut tenants: Vec<TenantFindings> = Vec::new();
    tenants.resize_with(batch.len(), TenantFindings::default);
    if let [_] = batch {
        tenants[0] = TenantFindings {
            campaigns: found.campaigns,
            violations: found.findings.into_iter().map(|f| f.violation).collect(),
        };
        return Some(BatchReport {
            counts: found.counts,
            tenants,
        });
    }
    let place: HashMap<&str, usize> = batch
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i))
        .collect();
    for c in found.campaigns {
        let i = *place.get(c.tenant_id.as_str())?;
        tenants[i].campaigns.push(c);
    }
    for f in found.findings {
        let i = *place.get(f.tenant.as_str())?;
        tenants[i].violations.push(f.violation);
    }
    Some(BatchReport {
        counts: found.counts,
        tenants,
    })
}

/// Checks the named tenants (all when `None`) through `conn` as it is,
/// `foreign` being the status rows of other tenants their campaigns count.
async fn verify_scope<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
    foreign: &invariants::ForeignRows,
) -> Result<ScopeReport, DbErr> {
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
    let findings = invariants::check_all(conn, tenants, &campaigns, !foreign.is_empty()).await?;
    Ok(ScopeReport {
        counts,
        campaigns,
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("tenant-{i}")).collect()
    }

    /// Every tenant planned with `rows` status rows.
    fn plan(tenants: &[String], rows: u64) -> HashMap<String, u64> {
        tenants.iter().map(|t| (t.clone(), rows)).collect()
    }

    fn sizes(batches: &[Vec<usize>]) -> Vec<usize> {
        batches.iter().map(Vec::len).collect()
    }

    /// Every place exactly once, batches in order of their first place.
    fn assert_partition(batches: &[Vec<usize>], n: usize) {
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
        let firsts: Vec<usize> = batches.iter().map(|b| b[0]).collect();
        assert!(firsts.is_sorted(), "{firsts:?}");
    }

    #[test]
    fn tenants_of_the_1m_fleet_are_checked_one_at_a_time() {
        let t = ids(10);
        let b = batches(&t, 2, Some(&plan(&t, 100_000)));
        assert_eq!(b, (0..10).map(|i| vec![i]).collect::<Vec<_>>());
    }

    #[test]
    fn small_tenants_share_batches_over_both_connections() {
        let t = ids(1_000);
        let b = batches(&t, 2, Some(&plan(&t, 10)));
        assert_eq!(sizes(&b), [500, 500]);
        assert_partition(&b, 1_000);
        let t = ids(20_000);
        let b = batches(&t, 2, Some(&plan(&t, 5)));
        assert_eq!(b.len(), 20);
        assert!(b.iter().all(|b| b.len() == 1_000));
        assert_partition(&b, 20_000);
    }

    #[test]
    fn a_batch_holds_at_most_its_rows_unless_one_tenant_has_more() {
        let t = ids(6);
        let mut p = plan(&t, 30_000);
        p.insert(t[2].clone(), 250_000);
        let b = batches(&t, 2, Some(&p));
        assert_eq!(b, vec![vec![0, 1], vec![2], vec![3, 4, 5]]);
    }

    #[test]
    fn one_connection_takes_one_batch() {
        let t = ids(300);
        assert_eq!(sizes(&batches(&t, 1, Some(&plan(&t, 2)))), [300]);
        // Tenants without campaigns plan no rows.
        let none = HashMap::new();
        assert_eq!(sizes(&batches(&ids(300), 2, Some(&none))), [150, 150]);
        assert_eq!(sizes(&batches(&ids(1), 2, Some(&none))), [1]);
        assert!(batches(&[], 2, Some(&none)).is_empty());
    }

    #[test]
    fn under_row_level_security_each_tenant_is_alone() {
        let b = batches(&ids(5), 2, None);
        assert_eq!(b, [[0], [1], [2], [3], [4]]);
    }

    #[test]
    fn ids_a_collation_could_confuse_are_checked_alone() {
        let tenants: Vec<String> = ["a", "Tenant-B", "tenant-b", "c", "d é", "e"]
            .map(str::to_owned)
            .to_vec();
        let b = batches(&tenants, 1, Some(&HashMap::new()));
        assert_eq!(b, vec![vec![0, 3, 5], vec![1], vec![2], vec![4]]);
    }
}
