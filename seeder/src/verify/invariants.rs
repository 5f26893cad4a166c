//! The invariants of docs/dataset.md as queries that return the rows breaking
//! them. Each check is one small query with a fixed description, so a
//! violation always says which row and what is wrong with it.

use sea_orm::{ConnectionTrait, DbErr};

use crate::queries::sql::Query;
use crate::queries::stale_device_firmware;
use crate::report::{CampaignBreakdown, Violation};

/// Whose rows a check returns, and so how a violating row is named.
#[derive(Clone, Copy)]
enum Subject {
    StatusRow,
    Campaign,
}

struct Check {
    invariant: u8,
    subject: Subject,
    problem: &'static str,
    /// Joins and conditions after `FROM ota_device_status s` (or
    /// `FROM ota_campaigns c`); must end in a `WHERE` clause. Timestamps
    /// are compared through `{instant:alias.column}` (see `sql::instant`):
    /// on SQLite they are text that may carry any UTC offset.
    tail: &'static str,
}

const CHECKS: &[Check] = &[
    Check {
        invariant: 2,
        subject: Subject::Campaign,
        problem: "its firmware belongs to another tenant",
        // The foreign key guarantees the firmware exists: if the tenant
        // cannot see it, row level security hid another tenant's row.
        tail: "LEFT JOIN firmware_versions f ON f.id = c.firmware_version_id \
               WHERE f.id IS NULL OR f.tenant_id <> c.tenant_id",
    },
    Check {
        invariant: 2,
        subject: Subject::StatusRow,
        problem: "its campaign belongs to another tenant",
        tail: "LEFT JOIN ota_campaigns c ON c.id = s.campaign_id \
               WHERE c.id IS NULL OR s.tenant_id <> c.tenant_id",
    },
    Check {
        invariant: 2,
        subject: Subject::StatusRow,
        problem: "names a device that is not in device_registry for its tenant",
        tail: "LEFT JOIN device_registry d ON d.tenant_id = s.tenant_id AND d.device_id = s.device_id \
               WHERE d.device_id IS NULL",
    },
    Check {
        invariant: 3,
        subject: Subject::StatusRow,
        problem: "FAILED without an error_message",
        tail: "WHERE s.status = 'FAILED' AND s.error_message IS NULL",
    },
    Check {
        invariant: 3,
        subject: Subject::StatusRow,
        problem: "has an error_message but is not FAILED",
        tail: "WHERE s.status <> 'FAILED' AND s.error_message IS NOT NULL",
    },
    Check {
        invariant: 3,
        subject: Subject::StatusRow,
        problem: "terminal (SUCCESS/FAILED) with progress_pct other than 100",
        tail: "WHERE s.status IN ('SUCCESS', 'FAILED') AND s.progress_pct <> 100",
    },
    Check {
        invariant: 3,
        subject: Subject::StatusRow,
        problem: "terminal (SUCCESS/FAILED) without started_at or completed_at",
        tail: "WHERE s.status IN ('SUCCESS', 'FAILED') AND (s.started_at IS NULL OR s.completed_at IS NULL)",
    },
    Check {
        invariant: 3,
        subject: Subject::StatusRow,
        problem: "terminal (SUCCESS/FAILED) with completed_at before started_at",
        tail: "WHERE s.status IN ('SUCCESS', 'FAILED') AND {instant:s.completed_at} < {instant:s.started_at}",
    },
    Check {
        invariant: 3,
        subject: Subject::StatusRow,
        problem: "PENDING with progress_pct other than 0",
        tail: "WHERE s.status = 'PENDING' AND s.progress_pct <> 0",
    },
    Check {
        invariant: 3,
        subject: Subject::StatusRow,
        problem: "PENDING with a started_at",
        tail: "WHERE s.status = 'PENDING' AND s.started_at IS NOT NULL",
    },
    Check {
        invariant: 4,
        subject: Subject::StatusRow,
        problem: "still PENDING, DOWNLOADING or INSTALLING in a COMPLETED or ABORTED campaign",
        tail: "JOIN ota_campaigns c ON c.id = s.campaign_id \
               WHERE c.status IN ('COMPLETED', 'ABORTED') AND s.status IN ('PENDING', 'DOWNLOADING', 'INSTALLING')",
    },
    Check {
        invariant: 4,
        subject: Subject::Campaign,
        problem: "COMPLETED or ABORTED without started_at or completed_at",
        tail: "WHERE c.status IN ('COMPLETED', 'ABORTED') AND (c.started_at IS NULL OR c.completed_at IS NULL)",
    },
    Check {
        invariant: 4,
        subject: Subject::Campaign,
        problem: "COMPLETED or ABORTED with completed_at before started_at",
        tail: "WHERE c.status IN ('COMPLETED', 'ABORTED') AND {instant:c.completed_at} < {instant:c.started_at}",
    },
    Check {
        invariant: 4,
        subject: Subject::StatusRow,
        problem: "not PENDING in a CREATED campaign",
        tail: "JOIN ota_campaigns c ON c.id = s.campaign_id WHERE c.status = 'CREATED' AND s.status <> 'PENDING'",
    },
    Check {
        invariant: 4,
        subject: Subject::Campaign,
        problem: "CREATED with a started_at",
        tail: "WHERE c.status = 'CREATED' AND c.started_at IS NOT NULL",
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
    for check in CHECKS {
        violations.extend(run_check(conn, tenants, check).await?);
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

async fn run_check<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
    check: &Check,
) -> Result<Vec<Violation>, DbErr> {
    let (select, alias, order) = match check.subject {
        Subject::StatusRow => (
            "SELECT s.id, s.tenant_id, s.campaign_id, s.device_id, s.status FROM ota_device_status s",
            "s",
            "s.id",
        ),
        Subject::Campaign => (
            "SELECT c.id, c.tenant_id, c.name FROM ota_campaigns c",
            "c",
            "c.id",
        ),
    };
    let sql = format!(
        "{select} {} AND {{tenants:{alias}}} ORDER BY {order}",
        check.tail
    );
    let rows = Query::new(&sql).tenants(alias, tenants).all(conn).await?;
    rows.iter()
        .map(|r| {
            let row = match check.subject {
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
            Ok(Violation {
                invariant: check.invariant,
                row,
                problem: check.problem.to_owned(),
            })
        })
        .collect()
}

fn campaign_row(id: i32, tenant_id: &str, name: &str) -> String {
    format!("ota_campaigns id={id} ({tenant_id}, {name:?})")
}
