//! Devices whose firmware does not follow their OTA history: checked by
//! `verify` (invariant 6) and corrected by the seeding step that updates
//! `fw_version`.

use sea_orm::{ConnectionTrait, DbErr};

use super::sql::Query;

/// A device whose latest finished update succeeded but whose fw_version is
/// not that update's firmware (invariant 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleDevice {
    pub tenant_id: String,
    pub device_id: String,
    pub expected_version: String,
    pub actual_version: Option<String>,
}

pub async fn stale_device_firmware<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
) -> Result<Vec<StaleDevice>, DbErr> {
    // The latest finished row per device is found by a window function
    // rather than a correlated NOT EXISTS: with fresh, unanalysed tables
    // MariaDB planned the latter as a nested scan (minutes at 20k devices),
    // whereas a sort per tenant costs the same on every backend. Rows
    // without completed_at go last on every backend (PostgreSQL sorts NULL
    // first in DESC); the others by instant, whatever their offset.
    let rows = Query::new(
        "SELECT x.tenant_id, x.device_id, x.expected_version, d.fw_version AS actual_version \
         FROM ( \
           SELECT s.tenant_id, s.device_id, s.status, f.version AS expected_version, \
                  ROW_NUMBER() OVER ( \
                    PARTITION BY s.tenant_id, s.device_id \
                    ORDER BY CASE WHEN s.completed_at IS NULL THEN 1 ELSE 0 END, \
                             {instant:s.completed_at} DESC, s.id DESC) AS latest \
           FROM ota_device_status s \
           JOIN ota_campaigns c ON c.id = s.campaign_id \
           JOIN firmware_versions f ON f.id = c.firmware_version_id \
           WHERE s.status IN ('SUCCESS', 'FAILED') AND {tenants:s}) x \
         JOIN device_registry d ON d.tenant_id = x.tenant_id AND d.device_id = x.device_id \
         WHERE x.latest = 1 AND x.status = 'SUCCESS' \
           AND (d.fw_version IS NULL OR d.fw_version <> x.expected_version) \
         ORDER BY x.tenant_id, x.device_id",
    )
    .tenants("s", tenants)
    .all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StaleDevice {
                tenant_id: r.try_get("", "tenant_id")?,
                device_id: r.try_get("", "device_id")?,
                expected_version: r.try_get("", "expected_version")?,
                actual_version: r.try_get("", "actual_version")?,
            })
        })
        .collect()
}
