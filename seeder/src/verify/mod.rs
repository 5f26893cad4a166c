//! Read-only verification of any database with this schema (seeded by us or
//! not): per-table counts, the platform's per-campaign breakdown, and the six
//! invariants of the dataset, each violation naming its row.

mod invariants;
mod report;
mod sql;

pub use invariants::{StaleDevice, stale_device_firmware};
pub use report::{CampaignBreakdown, VerifyReport, Violation};

use sea_orm::{ConnectionTrait, DbErr};

use sql::Query;

/// Checks the named tenants (all when `None`).
pub async fn verify<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
) -> Result<VerifyReport, DbErr> {
    let mut counts = Vec::new();
    for table in [
        "tenants",
        "device_registry",
        "firmware_versions",
        "ota_campaigns",
        "ota_device_status",
    ] {
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
    let campaigns = invariants::campaign_breakdown(conn, tenants).await?;
    let violations = invariants::check_all(conn, tenants, &campaigns).await?;
    Ok(VerifyReport {
        counts,
        campaigns,
        violations,
    })
}
