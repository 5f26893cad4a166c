//! The invariants of docs/dataset.md as queries that return the rows breaking
//! them. Each check is a condition with a fixed description, so a violation
//! always says which row and what is wrong with it; the checks of one table
//! run as one query (one scan, each check a flag), which matters at fleet
//! scale.

use sea_orm::{ConnectionTrait, DbErr};

use crate::queries::sql::Query;
use crate::queries::stale_device_firmware;
use crate::report::{CampaignBreakdown, Violation};

/// Whose rows a check returns, and so how a violating row is named.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Subject {
    StatusRow,
    Campaign,
}

struct Check {
    invariant: u8,
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
    /// campaign `c` and registered device `d`, a campaign's firmware `f`.
    /// LEFT JOINs, so a missing partner reads as NULLs (which the checks
    /// about missing partners test for, and every other check is false on).
    fn tables_clause(self) -> &'static str {
        match self {
            Subject::StatusRow => {
                "FROM ota_device_status s \
                 LEFT JOIN ota_campaigns c ON c.id = s.campaign_id \
                 LEFT JOIN device_registry d ON d.tenant_id = s.tenant_id AND d.device_id = s.device_id"
            }
            Subject::Campaign => {
                "FROM ota_campaigns c LEFT JOIN firmware_versions f ON f.id = c.firmware_version_id"
            }
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
        invariant: 2,
        subject: Subject::Campaign,
        problem: "its firmware belongs to another tenant",
        // The foreign key guarantees the firmware exists: if the tenant
        // cannot see it, row level security hid another tenant's row.
        condition: "f.id IS NULL OR f.tenant_id <> c.tenant_id",
    },
    Check {
        invariant: 2,
        subject: Subject::StatusRow,
        problem: "its campaign belongs to another tenant",
        condition: "c.id IS NULL OR s.tenant_id <> c.tenant_id",
    },
    Check {
        invariant: 2,
        subject: Subject::StatusRow,
        problem: "names a device that is not in device_registry for its tenant",
        condition: "d.device_id IS NULL",
    },
    Check {
        invariant: 3,
        subject: Subject::StatusRow,
        problem: "FAILED without an error_message",
        condition: "s.status = 'FAILED' AND s.error_message IS NULL",
    },
    Check {
        invariant: 3,
        subject: Subject::StatusRow,
        problem: "has an error_message but is not FAILED",
        condition: "s.status <> 'FAILED' AND s.error_message IS NOT NULL",
    },
    Check {
        invariant: 3,
        subject: Subject::StatusRow,
        problem: "terminal (SUCCESS/FAILED) with progress_pct other than 100",
        condition: "s.status IN ('SUCCESS', 'FAILED') AND s.progress_pct <> 100",
    },
    Check {
        invariant: 3,
        subject: Subject::StatusRow,
        problem: "terminal (SUCCESS/FAILED) without started_at or completed_at",
        condition: "s.status IN ('SUCCESS', 'FAILED') AND (s.started_at IS NULL OR s.completed_at IS NULL)",
    },
    Check {
        invariant: 3,
        subject: Subject::StatusRow,
        problem: "terminal (SUCCESS/FAILED) with completed_at before started_at",
        condition: "s.status IN ('SUCCESS', 'FAILED') AND {instant:s.completed_at} < {instant:s.started_at}",
    },
    Check {
        invariant: 3,
        subject: Subject::StatusRow,
        problem: "PENDING with progress_pct other than 0",
        condition: "s.status = 'PENDING' AND s.progress_pct <> 0",
    },
    Check {
        invariant: 3,
        subject: Subject::StatusRow,
        problem: "PENDING with a started_at",
        condition: "s.status = 'PENDING' AND s.started_at IS NOT NULL",
    },
    Check {
        invariant: 4,
        subject: Subject::StatusRow,
        problem: "still PENDING, DOWNLOADING or INSTALLING in a COMPLETED or ABORTED campaign",
        condition: "c.status IN ('COMPLETED', 'ABORTED') \
                    AND s.status IN ('PENDING', 'DOWNLOADING', 'INSTALLING')",
    },
    Check {
        invariant: 4,
        subject: Subject::Campaign,
        problem: "COMPLETED or ABORTED without started_at or completed_at",
        condition: "c.status IN ('COMPLETED', 'ABORTED') AND (c.started_at IS NULL OR c.completed_at IS NULL)",
    },
    Check {
        invariant: 4,
        subject: Subject::Campaign,
        problem: "COMPLETED or ABORTED with completed_at before started_at",
        condition: "c.status IN ('COMPLETED', 'ABORTED') AND {instant:c.completed_at} < {instant:c.started_at}",
    },
    Check {
        invariant: 4,
        subject: Subject::StatusRow,
        problem: "not PENDING in a CREATED campaign",
        condition: "c.status = 'CREATED' AND s.status <> 'PENDING'",
    },
    Check {
        invariant: 4,
        subject: Subject::Campaign,
        problem: "CREATED with a started_at",
        condition: "c.status = 'CREATED' AND c.started_at IS NOT NULL",
    },
];

pub(super) async fn campaign_breakdown<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
) -> Result<Vec<CampaignBreakdown>, DbErr> {
    let rows = Query::new(
        "SELECT c.id, c.tenant_id, c.name, c.status, c.abort_threshold, \
                c.total_devices, c.succeeded, c.failed, \
                COUNT(s.id) AS n_rows, \
                COUNT(CASE WHEN s.status = 'SUCCESS' THEN 1 END) AS n_success, \
                COUNT(CASE WHEN s.status = 'FAILED' THEN 1 END) AS n_failed \
         FROM ota_campaigns c LEFT JOIN ota_device_status s ON s.campaign_id = c.id \
         WHERE {tenants:c} \
         GROUP BY c.id, c.tenant_id, c.name, c.status, c.abort_threshold, c.total_devices, c.succeeded, c.failed \
         ORDER BY c.tenant_id, c.name, c.id",
    )
    .tenants("c", tenants)
    .all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(CampaignBreakdown {
                id: r.try_get("", "id")?,
                tenant_id: r.try_get("", "tenant_id")?,
                name: r.try_get("", "name")?,
                status: r.try_get("", "status")?,
                abort_threshold: r.try_get("", "abort_threshold")?,
                total_devices: r.try_get("", "total_devices")?,
                succeeded: r.try_get("", "succeeded")?,
                failed: r.try_get("", "failed")?,
                rows: r.try_get("", "n_rows")?,
                rows_success: r.try_get("", "n_success")?,
                rows_failed: r.try_get("", "n_failed")?,
            })
        })
        .collect()
}

pub(super) async fn check_all<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
    campaigns: &[CampaignBreakdown],
) -> Result<Vec<Violation>, DbErr> {
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
            violations.push(Violation {
                invariant: 1,
                row: campaign.clone(),
                problem: format!(
                    "counters say {} total / {} succeeded / {} failed, its status rows say {} / {} / {}",
                    c.total_devices, c.succeeded, c.failed, c.rows, c.rows_success, c.rows_failed
                ),
            });
        }
        // 5: an aborted campaign's failure ratio exceeded its threshold.
        if c.status == "ABORTED" {
            let ratio = if c.rows == 0 {
                0.0
            } else {
                c.rows_failed as f64 / c.rows as f64
            };
            if ratio <= c.abort_threshold {
                violations.push(Violation {
                    invariant: 5,
                    row: campaign,
                    problem: format!(
                        "ABORTED, but its failure ratio {ratio:.3} ({} of {}) does not exceed abort_threshold {}",
                        c.rows_failed, c.rows, c.abort_threshold
                    ),
                });
            }
        }
    }
    // One scan per subject table finds every check's rows; they are then
    // reported check by check, each in id order, as the checks are listed.
    let status_rows = run_checks(conn, tenants, Subject::StatusRow).await?;
    let campaigns_found = run_checks(conn, tenants, Subject::Campaign).await?;
    for (i, check) in CHECKS.iter().enumerate() {
        let found = match check.subject {
            Subject::StatusRow => &status_rows,
            Subject::Campaign => &campaigns_found,
        };
        violations.extend(found.iter().filter(|(_, broken)| broken.contains(&i)).map(
            |(row, _)| Violation {
                invariant: check.invariant,
                row: row.clone(),
                problem: check.problem.to_owned(),
            },
        ));
    }
    // 6: a device whose latest finished update succeeded runs that firmware.
    for d in stale_device_firmware(conn, tenants).await? {
        violations.push(Violation {
            invariant: 6,
            row: format!("device_registry ({}, {})", d.tenant_id, d.device_id),
            problem: format!(
                "its latest finished update installed {} but fw_version is {}",
                d.expected_version,
                d.actual_version
                    .as_deref()
                    .map_or("NULL".to_owned(), |v| format!("{v:?}"))
            ),
        });
    }
    Ok(violations)
}

/// The rows of `subject`'s table that break at least one of its checks, in
/// id order, each named as a violation names it, with the indexes (into
/// `CHECKS`) of the checks it breaks.
async fn run_checks<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
    subject: Subject,
) -> Result<Vec<(String, Vec<usize>)>, DbErr> {
    let checks: Vec<(usize, &Check)> = CHECKS
        .iter()
        .enumerate()
        .filter(|(_, c)| c.subject == subject)
        .collect();
    let flags: Vec<String> = checks
        .iter()
        .map(|(i, c)| format!("CASE WHEN {} THEN 1 ELSE 0 END AS broken_{i}", c.condition))
        .collect();
    let any: Vec<String> = checks
        .iter()
        .map(|(_, c)| format!("({})", c.condition))
        .collect();
    let alias = subject.alias();
    let sql = format!(
        "SELECT {}, {} {} WHERE {{tenants:{alias}}} AND ({}) ORDER BY {alias}.id",
        subject.columns(),
        flags.join(", "),
        subject.tables_clause(),
        any.join(" OR "),
    );
    let rows = Query::new(&sql).tenants(alias, tenants).all(conn).await?;
    rows.iter()
        .map(|r| {
            let row = match subject {
                Subject::StatusRow => format!(
                    "ota_device_status id={} ({}, campaign {}, device {}, {})",
                    r.try_get::<i64>("", "id")?,
                    r.try_get::<String>("", "tenant_id")?,
                    r.try_get::<i32>("", "campaign_id")?,
                    r.try_get::<String>("", "device_id")?,
                    r.try_get::<String>("", "status")?,
                ),
                Subject::Campaign => campaign_row(
                    r.try_get("", "id")?,
                    &r.try_get::<String>("", "tenant_id")?,
                    &r.try_get::<String>("", "name")?,
                ),
            };
            let mut broken = Vec::new();
            for (i, _) in &checks {
                let column = format!("broken_{i}");
                // An integer literal is int4 on PostgreSQL, 64-bit elsewhere.
                let flag = r
                    .try_get::<i32>("", &column)
                    .map(i64::from)
                    .or_else(|_| r.try_get::<i64>("", &column))?;
                if flag != 0 {
                    broken.push(*i);
                }
            }
            Ok((row, broken))
        })
        .collect()
}

fn campaign_row(id: i32, tenant_id: &str, name: &str) -> String {
    format!("ota_campaigns id={id} ({tenant_id}, {name:?})")
}
