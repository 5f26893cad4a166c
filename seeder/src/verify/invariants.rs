//! The invariants of docs/dataset.md as queries that return the rows breaking
//! them. Each check is a condition with a fixed description, so a violation
//! always says which row and what is wrong with it; the checks of one table
//! run as one query (one scan, each check a flag), which matters at fleet
//! scale.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr, RuntimeErr, sqlx};

use super::finding::Finding;
use super::firmware_lines::firmware_line_violations;
use super::history::{
    off_latest_success_violations, off_provisioned_firmware, several_unfinished_campaigns,
};
use crate::queries::sql::{Query, int};
use crate::report::{CampaignBreakdown, Violation, ViolationKind};

/// Whose rows a check returns, and so how a violating row is named.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Subject {
    StatusRow,
    Campaign,
}

struct Check {
    kind: ViolationKind,
    subject: Subject,
    problem: &'static str,
    /// What makes a row break the invariant, over the subject's table and
    /// its joins (see `Subject::tables_clause`). Timestamps are compared
    /// through `{instant:alias.column}` (see `sql::instant`): on SQLite
    /// they are text that may carry any UTC offset.
    condition: &'static str,
}

impl Subject {
    /// The subject's table and what its checks may look at: a status row's
    /// campaign `c`, that campaign's firmware `f` and registered device `d`,
    /// a campaign's firmware `f`. JSON keys are read through
    /// `{json_text:alias.column.key}` (see `sql::json_text`).
    /// LEFT JOINs, so a missing partner reads as NULLs (which the checks
    /// about missing partners test for, and every other check is false on).
    /// Partners are of the row's own tenant: a campaign or build of
    /// another tenant reads as missing, as it does to a role whose row
    /// level security hides other tenants' rows, and to each tenant's own
    /// check. Each join also names the checked tenants (`{tenants:c}`,
    /// true of every row the join can find): PostgreSQL carries a single
    /// tenant's `=` over a join, but not an `IN` list of several, and
    /// without it hashed or scanned the whole partner table for every
    /// batch of tenants, a cost that grew with tenants × rows.
    fn tables_clause(self) -> &'static str {
        match self {
            Subject::StatusRow => {
                "FROM ota_device_status s \
                 LEFT JOIN ota_campaigns c ON c.id = s.campaign_id \
                     AND c.tenant_id = s.tenant_id AND {tenants:c} \
                 LEFT JOIN firmware_versions f ON f.id = c.firmware_version_id \
                     AND f.tenant_id = c.tenant_id AND {tenants:f} \
                 LEFT JOIN device_registry d ON d.tenant_id = s.tenant_id AND d.device_id = s.device_id \
                     AND {tenants:d}"
            }
            Subject::Campaign => {
                "FROM ota_campaigns c LEFT JOIN firmware_versions f ON f.id = c.firmware_version_id \
                     AND f.tenant_id = c.tenant_id AND {tenants:f}"
            }
        }
    }

    /// The aliases whose `{tenants:…}` markers the clause holds, in the
    /// order of their values (the text's).
    fn joined(self) -> &'static [&'static str] {
        match self {
            Subject::StatusRow => &["c", "f", "d"],
            Subject::Campaign => &["f"],
        }
    }

    fn columns(self) -> &'static str {
        match self {
            Subject::StatusRow => "s.id, s.tenant_id, s.campaign_id, s.device_id, s.status",
            Subject::Campaign => "c.id, c.tenant_id, c.name",
        }
    }

    fn alias(self) -> &'static str {
        match self {
            Subject::StatusRow => "s",
            Subject::Campaign => "c",
        }
    }
}

const CHECKS: &[Check] = &[
    Check {
        kind: ViolationKind::FirmwareOfAnotherTenant,
        subject: Subject::Campaign,
        problem: "its firmware belongs to another tenant",
        // The foreign key guarantees the firmware exists: if the tenant
        // cannot see it, row level security hid another tenant's row.
        condition: "f.id IS NULL OR f.tenant_id <> c.tenant_id",
    },
    Check {
        kind: ViolationKind::CampaignOfAnotherTenant,
        subject: Subject::StatusRow,
        problem: "its campaign belongs to another tenant",
        condition: "c.id IS NULL OR s.tenant_id <> c.tenant_id",
    },
    Check {
        kind: ViolationKind::DeviceNotRegistered,
        subject: Subject::StatusRow,
        problem: "names a device that is not in device_registry for its tenant",
        condition: "d.device_id IS NULL",
    },
    Check {
        kind: ViolationKind::FailedWithoutError,
        subject: Subject::StatusRow,
        problem: "FAILED without an error_message",
        condition: "s.status = 'FAILED' AND s.error_message IS NULL",
    },
    Check {
        kind: ViolationKind::ErrorButNotFailed,
        subject: Subject::StatusRow,
        problem: "has an error_message but is not FAILED",
        condition: "s.status <> 'FAILED' AND s.error_message IS NOT NULL",
    },
    Check {
        kind: ViolationKind::FinalNotAt100,
        subject: Subject::StatusRow,
        problem: "terminal (SUCCESS/FAILED) with progress_pct other than 100",
        condition: "s.status IN ('SUCCESS', 'FAILED') AND s.progress_pct <> 100",
    },
    Check {
        kind: ViolationKind::FinalWithoutTimes,
        subject: Subject::StatusRow,
        problem: "terminal (SUCCESS/FAILED) without started_at or completed_at",
        condition: "s.status IN ('SUCCESS', 'FAILED') AND (s.started_at IS NULL OR s.completed_at IS NULL)",
    },
    Check {
        kind: ViolationKind::FinalCompletedBeforeStarted,
        subject: Subject::StatusRow,
        problem: "terminal (SUCCESS/FAILED) with completed_at before started_at",
        condition: "s.status IN ('SUCCESS', 'FAILED') AND {instant:s.completed_at} < {instant:s.started_at}",
    },
    Check {
        kind: ViolationKind::PendingWithProgress,
        subject: Subject::StatusRow,
        problem: "PENDING with progress_pct other than 0",
        condition: "s.status = 'PENDING' AND s.progress_pct <> 0",
    },
    Check {
        kind: ViolationKind::PendingStarted,
        subject: Subject::StatusRow,
        problem: "PENDING with a started_at",
        condition: "s.status = 'PENDING' AND s.started_at IS NOT NULL",
    },
    Check {
        kind: ViolationKind::UnfinishedRowInFinishedCampaign,
        subject: Subject::StatusRow,
        problem: "still PENDING, DOWNLOADING or INSTALLING in a COMPLETED or ABORTED campaign",
        condition: "c.status IN ('COMPLETED', 'ABORTED') \
                    AND s.status IN ('PENDING', 'DOWNLOADING', 'INSTALLING')",
    },
    Check {
        kind: ViolationKind::FinishedCampaignWithoutTimes,
        subject: Subject::Campaign,
        problem: "COMPLETED or ABORTED without started_at or completed_at",
        condition: "c.status IN ('COMPLETED', 'ABORTED') AND (c.started_at IS NULL OR c.completed_at IS NULL)",
    },
    Check {
        kind: ViolationKind::FinishedCampaignCompletedBeforeStarted,
        subject: Subject::Campaign,
        problem: "COMPLETED or ABORTED with completed_at before started_at",
        condition: "c.status IN ('COMPLETED', 'ABORTED') AND {instant:c.completed_at} < {instant:c.started_at}",
    },
    Check {
        kind: ViolationKind::StartedRowInCreatedCampaign,
        subject: Subject::StatusRow,
        problem: "not PENDING in a CREATED campaign",
        condition: "c.status = 'CREATED' AND s.status <> 'PENDING'",
    },
    Check {
        kind: ViolationKind::CreatedCampaignStarted,
        subject: Subject::Campaign,
        problem: "CREATED with a started_at",
        condition: "c.status = 'CREATED' AND c.started_at IS NOT NULL",
    },
    // Rows without started_at, or whose device or firmware is missing (2
    // names those), compare with NULL: not true, so they pass.
    Check {
        kind: ViolationKind::StartedBeforeProvisioning,
        subject: Subject::StatusRow,
        problem: "started before its device was provisioned",
        condition: "{instant:s.started_at} < {instant:d.provisioned_at}",
    },
    Check {
        kind: ViolationKind::StartedBeforeFirmware,
        subject: Subject::StatusRow,
        problem: "started before its campaign's firmware was created",
        condition: "{instant:s.started_at} < {instant:f.created_at}",
    },
    Check {
        kind: ViolationKind::WrongDeviceType,
        subject: Subject::StatusRow,
        problem: "its device's type is not its campaign's firmware's device_type",
        // A device without a `type` in its metadata is a sensor (the
        // platform's own demo devices carry none). A missing device is 2's
        // business, not a sensor.
        condition: "d.device_id IS NOT NULL AND f.device_type IS NOT NULL \
                    AND COALESCE({json_text:d.metadata.type}, 'sensor') <> f.device_type",
    },
];

/// What a status row that invariant 6 or 10 could be about looks like: a
/// success of a registered device whose firmware is not the device's
/// `fw_version`. A device breaks invariant 6 only if its latest finished
/// row is such a row, and the half of invariant 10 about devices with a
/// success only if its latest success is one (the query of
/// `off_latest_success` joins the same campaign, firmware and device, each
/// of the row's own tenant), so
/// when the status rows' scan finds none, no device breaks either and that
/// query (a sort of every finished row) need not run. Not a violation in
/// itself: an earlier success to other firmware is one too.
const MAYBE_STALE: &str = "s.status = 'SUCCESS' AND d.device_id IS NOT NULL AND f.id IS NOT NULL \
                           AND (d.fw_version IS NULL OR d.fw_version <> f.version)";

/// Status rows of other tenants counted in each campaign's breakdown, by
/// campaign id: rows and, of those, SUCCESS and FAILED ones.
pub(super) type ForeignRows = HashMap<i32, (i64, i64, i64)>;

/// The status rows that name a campaign of another tenant than their own
/// (each breaks invariant 2), counted by campaign, for every campaign:
/// they count in the campaign's breakdown, as every status row naming it
/// does, when the role sees them (the owner, a role whose policies show
/// every tenant; a role that sees one tenant at a time sees none). Asked
/// once, not in each tenant's transaction: no index leads with
/// `campaign_id`, so finding them takes a scan of the whole table, whereas
/// the breakdown of a tenant's own rows uses the `(tenant_id,
/// campaign_id)` index. No tenant ids are bound: tens of thousands would
/// pass the backends' limits on bound values.
///
/// A platform's policy that reads `app.tenant_id` without `missing_ok`
/// fails outside a tenant's scope: the caller takes that error (see
/// [`is_undefined_setting`]) as "none visible", which is what the role
/// would see scoped to any tenant.
pub(super) async fn foreign_status_rows<C: ConnectionTrait>(
    conn: &C,
) -> Result<ForeignRows, DbErr> {
    let rows = Query::new(
        "SELECT s.campaign_id, \
                COUNT(s.id) AS n_rows, \
                COUNT(CASE WHEN s.status = 'SUCCESS' THEN 1 END) AS n_success, \
                COUNT(CASE WHEN s.status = 'FAILED' THEN 1 END) AS n_failed \
         FROM ota_device_status s JOIN ota_campaigns c ON c.id = s.campaign_id \
         WHERE s.tenant_id <> c.tenant_id \
         GROUP BY s.campaign_id",
    )
    .all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("", "campaign_id")?,
                (
                    r.try_get("", "n_rows")?,
                    r.try_get("", "n_success")?,
                    r.try_get("", "n_failed")?,
                ),
            ))
        })
        .collect()
}

/// PostgreSQL's `undefined_object` (42704), which `current_setting` raises
/// for a setting that was never set.
pub(super) fn is_undefined_setting(err: &DbErr) -> bool {
    let (DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    matches!(e.as_ref(), sqlx::Error::Database(db) if db.code().as_deref() == Some("42704"))
}

/// The per-campaign breakdown of the `tenants`' campaigns: the campaign's
/// own tenant's status rows, counted here, plus `foreign` (see
/// [`foreign_status_rows`]).
pub(super) async fn campaign_breakdown<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
    foreign: &ForeignRows,
) -> Result<Vec<CampaignBreakdown>, DbErr> {
    // The status rows are counted by campaign first, then joined to the
    // few campaigns: at fleet scale joining each of a tenant's 100k rows
    // to its campaign before grouping cost a fifth more. The rows counted
    // are the same: those of a campaign's own tenant (`{tenants:s}` is
    // true of each, its tenant being the campaign's).
    let rows = Query::new(
        "SELECT c.id, c.tenant_id, c.name, c.status, c.abort_threshold, \
                c.total_devices, c.succeeded, c.failed, \
                COALESCE(x.n_rows, 0) AS n_rows, \
                COALESCE(x.n_success, 0) AS n_success, \
                COALESCE(x.n_failed, 0) AS n_failed \
         FROM ota_campaigns c \
         LEFT JOIN (SELECT s.tenant_id, s.campaign_id, COUNT(*) AS n_rows, \
                           COUNT(CASE WHEN s.status = 'SUCCESS' THEN 1 END) AS n_success, \
                           COUNT(CASE WHEN s.status = 'FAILED' THEN 1 END) AS n_failed \
                    FROM ota_device_status s \
                    WHERE {tenants:s} \
                    GROUP BY s.tenant_id, s.campaign_id) x \
           ON x.campaign_id = c.id AND x.tenant_id = c.tenant_id \
         WHERE {tenants:c} \
         ORDER BY c.tenant_id, c.name, c.id",
    )
    // `{tenants:s}` comes first in the text, so its values are bound first.
    .tenants("s", tenants)
    .tenants("c", tenants)
    .all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let id = r.try_get("", "id")?;
            let (more, more_success, more_failed) = foreign.get(&id).copied().unwrap_or_default();
            Ok(CampaignBreakdown {
                id,
                tenant_id: r.try_get("", "tenant_id")?,
                name: r.try_get("", "name")?,
                status: r.try_get("", "status")?,
                abort_threshold: r.try_get("", "abort_threshold")?,
                total_devices: r.try_get("", "total_devices")?,
                succeeded: r.try_get("", "succeeded")?,
                failed: r.try_get("", "failed")?,
                rows: r.try_get::<i64>("", "n_rows")? + more,
                rows_success: r.try_get::<i64>("", "n_success")? + more_success,
                rows_failed: r.try_get::<i64>("", "n_failed")? + more_failed,
            })
        })
        .collect()
}

/// Every invariant over the `tenants`' rows, `campaigns` being their
/// breakdown; `cross_tenant_rows` whether any status row the role sees
/// names another tenant's campaign (see [`foreign_status_rows`]). In the
/// order of the rules, each rule's findings in row order; every tenant's
/// share of them is what checking it alone finds, in the same order.
pub(super) async fn check_all<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
    campaigns: &[CampaignBreakdown],
    cross_tenant_rows: bool,
) -> Result<Vec<Finding>, DbErr> {
    let mut violations = Vec::new();
    for c in campaigns {
        let campaign = campaign_row(c.id, &c.tenant_id, &c.name);
        // 1: counters are the counts of the campaign's rows.
        if (
            i64::from(c.total_devices),
            i64::from(c.succeeded),
            i64::from(c.failed),
        ) != (c.rows, c.rows_success, c.rows_failed)
        {
            violations.push(Finding::new(
                &c.tenant_id,
                Violation::new(
                    ViolationKind::CountersDiffer,
                    campaign.clone(),
                    format!(
                        "counters say {} total / {} succeeded / {} failed, its status rows say {} / {} / {}",
                        c.total_devices, c.succeeded, c.failed, c.rows, c.rows_success, c.rows_failed
                    ),
                ),
            ));
        }
        // 5: an aborted campaign's failure ratio exceeded its threshold.
        if c.status == "ABORTED" {
            let ratio = if c.rows == 0 {
                0.0
            } else {
                c.rows_failed as f64 / c.rows as f64
            };
            if ratio <= c.abort_threshold {
                violations.push(Finding::new(
                    &c.tenant_id,
                    Violation::new(
                        ViolationKind::AbortBelowThreshold,
                        campaign,
                        format!(
                            "ABORTED, but its failure ratio {ratio:.3} ({} of {}) does not exceed abort_threshold {}",
                            c.rows_failed, c.rows, c.abort_threshold
                        ),
                    ),
                ));
            }
        }
    }
    // One scan per subject table finds every check's rows; they are then
    // reported check by check, each in id order, as the checks are listed.
    let stale_in_sample = maybe_stale_in_sample(conn, tenants).await?;
    let status_rows = run_checks(conn, tenants, Subject::StatusRow, !stale_in_sample).await?;
    let campaigns_found = run_checks(conn, tenants, Subject::Campaign, false).await?;
    for (i, check) in CHECKS.iter().enumerate() {
        let found = match check.subject {
            Subject::StatusRow => &status_rows.rows,
            Subject::Campaign => &campaigns_found.rows,
        };
        violations.extend(
            found
                .iter()
                .filter(|(_, _, broken)| broken.contains(&i))
                .map(|(tenant, row, _)| {
                    Finding::new(
                        tenant,
                        Violation::new(check.kind, row.clone(), check.problem),
                    )
                }),
        );
    }
    // 6, and 10 for devices with a success: a device runs the firmware of
    // its latest success. Only asked when the status rows' scan saw a row
    // it could be about.
    if stale_in_sample || status_rows.maybe_stale {
        violations.extend(off_latest_success_violations(conn, tenants).await?);
    }
    // 8: at most one unfinished campaign per device.
    violations.extend(several_unfinished_campaigns(conn, tenants, cross_tenant_rows).await?);
    // 10 for devices without a success: they run what they were
    // provisioned with.
    violations.extend(off_provisioned_firmware(conn, tenants).await?);
    // 11: firmware lines are real.
    violations.extend(firmware_line_violations(conn, tenants).await?);
    // In the order of the rules (stable: each rule's findings keep theirs).
    violations.sort_by_key(|f| f.violation.invariant);
    Ok(violations)
}

/// What the scan of a subject's table found.
struct Found {
    /// The rows that break at least one of the subject's checks, in id
    /// order: each one's tenant, the row named as a violation names it,
    /// and the indexes (into `CHECKS`) of the checks it breaks.
    rows: Vec<(String, String, Vec<usize>)>,
    /// Status rows: whether one of them is `MAYBE_STALE`.
    maybe_stale: bool,
}

/// How many of the tenants' first successes (in device order)
/// `maybe_stale_in_sample` looks at.
const STALE_SAMPLE: u32 = 1_000;

/// Whether one of the tenants' first `STALE_SAMPLE` successes, in the
/// order of the `(tenant_id, device_id)` index, is `MAYBE_STALE`. In a
/// fleet with a history of updates nearly every device has an earlier
/// success to other firmware than it runs, and one is found here at the
/// cost of a short index range; the status rows' scan then need not return
/// every such row (hundreds of thousands) only to say that one exists. A
/// fleet with one update per device finds none, and the scan asks as
/// before.
async fn maybe_stale_in_sample<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
) -> Result<bool, DbErr> {
    let rows = Query::new(&format!(
        "SELECT 1 AS hit \
         FROM (SELECT x.tenant_id, x.campaign_id, x.device_id, x.status \
               FROM ota_device_status x \
               WHERE {{tenants:x}} AND x.status = 'SUCCESS' \
               ORDER BY x.tenant_id, x.device_id LIMIT {STALE_SAMPLE}) s \
         LEFT JOIN ota_campaigns c ON c.id = s.campaign_id AND c.tenant_id = s.tenant_id \
         LEFT JOIN firmware_versions f ON f.id = c.firmware_version_id \
             AND f.tenant_id = c.tenant_id \
         LEFT JOIN device_registry d ON d.tenant_id = s.tenant_id AND d.device_id = s.device_id \
         WHERE {MAYBE_STALE} LIMIT 1"
    ))
    .tenants("x", tenants)
    .all(conn)
    .await?;
    Ok(!rows.is_empty())
}

/// Scans `subject`'s table once for every one of its checks (and, for
/// status rows when `ask_maybe_stale`, for `MAYBE_STALE`).
async fn run_checks<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
    subject: Subject,
    ask_maybe_stale: bool,
) -> Result<Found, DbErr> {
    let checks: Vec<(usize, &Check)> = CHECKS
        .iter()
        .enumerate()
        .filter(|(_, c)| c.subject == subject)
        .collect();
    let mut conditions: Vec<&str> = checks.iter().map(|(_, c)| c.condition).collect();
    if subject == Subject::StatusRow && ask_maybe_stale {
        conditions.push(MAYBE_STALE);
    }
    // Which conditions a row meets, as one integer (bit k: condition k):
    // one column to read per row rather than one per check, which counts
    // when many rows are only `MAYBE_STALE` (a fleet with a history of
    // updates). Bit 31 would overflow PostgreSQL's int4.
    debug_assert!(conditions.len() < 31, "too many checks for an int4 mask");
    let mask: Vec<String> = conditions
        .iter()
        .enumerate()
        .map(|(k, condition)| format!("CASE WHEN {condition} THEN {} ELSE 0 END", 1_i64 << k))
        .collect();
    let any: Vec<String> = conditions.iter().map(|c| format!("({c})")).collect();
    let alias = subject.alias();
    let sql = format!(
        "SELECT {}, {} AS broken {} WHERE {{tenants:{alias}}} AND ({}) ORDER BY {alias}.id",
        subject.columns(),
        mask.join(" + "),
        subject.tables_clause(),
        any.join(" OR "),
    );
    // The joins' markers come before `{tenants:alias}` in the text, so
    // their values are bound first.
    let mut query = Query::new(&sql);
    for joined in subject.joined() {
        query = query.tenants(joined, tenants);
    }
    let rows = query.tenants(alias, tenants).all(conn).await?;
    let stale_bit = 1_i64 << checks.len();
    let mut found = Found {
        rows: Vec::new(),
        maybe_stale: false,
    };
    for r in &rows {
        let mask = int(r, "broken")?;
        if conditions.len() > checks.len() && mask & stale_bit != 0 {
            found.maybe_stale = true;
        }
        let broken: Vec<usize> = checks
            .iter()
            .enumerate()
            .filter(|(k, _)| mask & (1_i64 << k) != 0)
            .map(|(_, (i, _))| *i)
            .collect();
        if broken.is_empty() {
            // Only `MAYBE_STALE`: no violation of its own.
            continue;
        }
        let tenant: String = r.try_get("", "tenant_id")?;
        let row = match subject {
            Subject::StatusRow => format!(
                "ota_device_status id={} ({tenant}, campaign {}, device {}, {})",
                r.try_get::<i64>("", "id")?,
                r.try_get::<i32>("", "campaign_id")?,
                r.try_get::<String>("", "device_id")?,
                r.try_get::<String>("", "status")?,
            ),
            Subject::Campaign => campaign_row(
                r.try_get("", "id")?,
                &tenant,
                &r.try_get::<String>("", "name")?,
            ),
        };
        found.rows.push((tenant, row, broken));
    }
    Ok(found)
}

fn campaign_row(id: i32, tenant_id: &str, name: &str) -> String {
    format!("ota_campaigns id={id} ({tenant_id}, {name:?})")
}
