//! Devices whose firmware does not follow their OTA history: checked by
//! `verify` (invariants 6 and 10) and corrected by the seeding step that
//! updates `fw_version` (invariant 6).

use sea_orm::{ConnectionTrait, DbErr};

use super::sql::{Query, flag};

/// A device whose latest finished update succeeded but whose fw_version is
/// not that update's firmware (invariant 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleDevice {
    pub tenant_id: String,
    pub device_id: String,
    pub expected_version: String,
    pub actual_version: Option<String>,
}

/// A device whose fw_version is not the firmware of its latest successful
/// update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffLatestSuccess {
    /// The device, and the firmware of its latest successful update.
    pub device: StaleDevice,
    /// Whether that success is also the device's latest finished update
    /// (which makes the device break invariant 6; otherwise a FAILED
    /// update came after it, and only invariant 10 asks about it).
    pub latest_finished: bool,
}

/// The devices breaking invariant 6.
pub async fn stale_device_firmware<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
) -> Result<Vec<StaleDevice>, DbErr> {
    Ok(off_latest_success(conn, tenants)
        .await?
        .into_iter()
        .filter(|d| d.latest_finished)
        .map(|d| d.device)
        .collect())
}

/// The devices whose fw_version is not the firmware of their latest
/// successful update (latest by completed_at, ties to the later row id),
/// in (tenant, device) order; among them, those whose latest finished
/// update is that success (invariant 6).
///
/// Both are found in one pass over the finished rows, sorted once: a
/// device's latest finished row is the first of its rows in that order,
/// and its latest success the first SUCCESS row, the one where the running
/// count of SUCCESS rows is 1.
pub async fn off_latest_success<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
) -> Result<Vec<OffLatestSuccess>, DbErr> {
    // The latest finished row per device is found by a window function
    // rather than a correlated NOT EXISTS: with fresh, unanalysed tables
    // MariaDB planned the latter as a nested scan (minutes at 20k devices),
    // whereas a sort per tenant costs the same on every backend. Rows
    // without completed_at go last on every backend (PostgreSQL sorts NULL
    // first in DESC); the others by instant, whatever their offset.
    //
    // Both windows are the same (the running count uses the default frame,
    // up to the current row and its peers; s.id makes every row its own
    // peer), so the rows are sorted once.
    let rows = Query::new(
        "SELECT x.tenant_id, x.device_id, x.expected_version, \
                CASE WHEN x.latest = 1 THEN 1 ELSE 0 END AS latest_finished, \
                d.fw_version AS actual_version \
         FROM ( \
           SELECT s.tenant_id, s.device_id, s.status, f.version AS expected_version, \
                  ROW_NUMBER() OVER ( \
                    PARTITION BY s.tenant_id, s.device_id \
                    ORDER BY CASE WHEN s.completed_at IS NULL THEN 1 ELSE 0 END, \
                             {instant:s.completed_at} DESC, s.id DESC) AS latest, \
                  COUNT(CASE WHEN s.status = 'SUCCESS' THEN 1 END) OVER ( \
                    PARTITION BY s.tenant_id, s.device_id \
                    ORDER BY CASE WHEN s.completed_at IS NULL THEN 1 ELSE 0 END, \
                             {instant:s.completed_at} DESC, s.id DESC) AS successes \
           FROM ota_device_status s \
           JOIN ota_campaigns c ON c.id = s.campaign_id AND c.tenant_id = s.tenant_id \
           JOIN firmware_versions f ON f.id = c.firmware_version_id \
               AND f.tenant_id = c.tenant_id \
           WHERE s.status IN ('SUCCESS', 'FAILED') AND {tenants:s}) x \
         JOIN device_registry d ON d.tenant_id = x.tenant_id AND d.device_id = x.device_id \
         WHERE x.status = 'SUCCESS' AND x.successes = 1 \
           AND (d.fw_version IS NULL OR d.fw_version <> x.expected_version) \
         ORDER BY x.tenant_id, x.device_id",
    )
    .tenants("s", tenants)
    .all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(OffLatestSuccess {
                device: StaleDevice {
                    tenant_id: r.try_get("", "tenant_id")?,
                    device_id: r.try_get("", "device_id")?,
                    expected_version: r.try_get("", "expected_version")?,
                    actual_version: r.try_get("", "actual_version")?,
                },
                latest_finished: flag(r, "latest_finished")?,
            })
        })
        .collect()
}
