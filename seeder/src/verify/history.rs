//! The invariants about a device's history across campaigns: at most one
//! unfinished campaign at a time (8), and the firmware it reports against
//! its latest success or its provisioning (10, with 6 beside it).

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DbErr};

use super::Finding;
use crate::queries::sql::Query;
use crate::queries::{StaleDevice, off_latest_success};
use crate::report::{Violation, ViolationKind};

/// The campaign states in which a campaign is not finished.
const UNFINISHED: &str = "('CREATED', 'RUNNING', 'PAUSED')";

/// The devices (per tenant) with status rows in more than one unfinished
/// campaign, as `SELECT tenant_id, device_id`; `{tenants:m}` picks the
/// tenants. The rows of the unfinished campaigns are read through the
/// `(tenant_id, campaign_id)` index and grouped by device.
fn in_several_unfinished() -> String {
    format!(
        "SELECT m.tenant_id, m.device_id \
         FROM ota_device_status m JOIN ota_campaigns mc ON mc.id = m.campaign_id \
         WHERE {{tenants:m}} AND mc.status IN {UNFINISHED} \
         GROUP BY m.tenant_id, m.device_id \
         HAVING COUNT(*) > 1"
    )
}

/// Whether two unfinished campaigns of one tenant have status rows whose
/// device_id ranges (first to last in the database's order) overlap. A
/// device in both would be in both ranges, so when none overlap no device
/// is in two. Two index probes per unfinished campaign, on the unique
/// `(tenant_id, campaign_id, device_id)` index: a fleet whose campaigns
/// each target their own slice of it (the `fleet` scenario, issue 11's
/// benchmark) is cleared without reading its rows. Ranges are compared in
/// SQL, in the database's collation, as the probes found them.
async fn unfinished_ranges_overlap<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
) -> Result<bool, DbErr> {
    let rows = Query::new(&format!(
        "WITH r AS ( \
           SELECT c.id, c.tenant_id, \
                  (SELECT MIN(s.device_id) FROM ota_device_status s \
                   WHERE s.tenant_id = c.tenant_id AND s.campaign_id = c.id) AS lo, \
                  (SELECT MAX(s.device_id) FROM ota_device_status s \
                   WHERE s.tenant_id = c.tenant_id AND s.campaign_id = c.id) AS hi \
           FROM ota_campaigns c \
           WHERE {{tenants:c}} AND c.status IN {UNFINISHED}) \
         SELECT 1 AS overlap FROM r r1 JOIN r r2 \
           ON r2.tenant_id = r1.tenant_id AND r1.id < r2.id \
          AND r1.lo <= r2.hi AND r2.lo <= r1.hi \
         LIMIT 1"
    ))
    .tenants("c", tenants)
    .all(conn)
    .await?;
    Ok(!rows.is_empty())
}

/// Invariant 8: the devices in more than one unfinished campaign, each
/// named with those campaigns. `cross_tenant_rows`: whether a status row
/// may name another tenant's campaign, which the tenants' own campaigns'
/// ranges would not show.
pub(super) async fn several_unfinished_campaigns<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
    cross_tenant_rows: bool,
) -> Result<Vec<Finding>, DbErr> {
    if !cross_tenant_rows && !unfinished_ranges_overlap(conn, tenants).await? {
        return Ok(Vec::new());
    }
    // First only whether any device is, which on a sound fleet is the whole
    // cost; the campaigns are asked for when there is something to name.
    let found = Query::new(&format!("{} LIMIT 1", in_several_unfinished()))
        .tenants("m", tenants)
        .all(conn)
        .await?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    // `{tenants:m}` comes before `{tenants:s}` in the text, so its values
    // are bound first.
    let rows = Query::new(&format!(
        "SELECT s.tenant_id, s.device_id, c.id AS campaign_id, c.name \
         FROM ({}) x \
         JOIN ota_device_status s ON s.tenant_id = x.tenant_id AND s.device_id = x.device_id \
         JOIN ota_campaigns c ON c.id = s.campaign_id \
         WHERE {{tenants:s}} AND c.status IN {UNFINISHED} \
         ORDER BY s.tenant_id, s.device_id, c.id",
        in_several_unfinished()
    ))
    .tenants("m", tenants)
    .tenants("s", tenants)
    .all(conn)
    .await?;
    let mut by_device: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for r in &rows {
        let id: i32 = r.try_get("", "campaign_id")?;
        let name: String = r.try_get("", "name")?;
        by_device
            .entry((r.try_get("", "tenant_id")?, r.try_get("", "device_id")?))
            .or_default()
            .push(format!("id={id} ({name:?})"));
    }
    Ok(by_device
        .into_iter()
        .map(|((tenant_id, device_id), campaigns)| {
            let v = Violation::new(
                ViolationKind::SeveralUnfinishedCampaigns,
                device_row(&tenant_id, &device_id),
                format!(
                    "in more than one unfinished (CREATED, RUNNING or PAUSED) campaign: {}",
                    campaigns.join(", ")
                ),
            );
            Finding::new(tenant_id, v)
        })
        .collect())
}

/// Invariants 6 and 10 for the devices with a successful update: the
/// devices whose fw_version is not the firmware of their latest success.
/// Under 6 when that success is also their latest finished update (both
/// rules ask the same of such a device: it is named once), under 10 when
/// a FAILED update came after it.
///
/// The caller asks only when the status rows' scan saw a success to other
/// firmware than its device's fw_version: the latest success of every
/// device named here is such a row.
pub(super) async fn off_latest_success_violations<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
) -> Result<Vec<Finding>, DbErr> {
    Ok(off_latest_success(conn, tenants)
        .await?
        .into_iter()
        .map(|d| {
            let (kind, update) = if d.latest_finished {
                (
                    ViolationKind::OffLatestFinishedUpdate,
                    "latest finished update",
                )
            } else {
                (ViolationKind::OffLatestSuccess, "latest successful update")
            };
            let StaleDevice {
                tenant_id,
                device_id,
                expected_version,
                actual_version,
            } = d.device;
            let v = Violation::new(
                kind,
                device_row(&tenant_id, &device_id),
                format!(
                    "its {update} installed {expected_version} but fw_version is {}",
                    shown(actual_version.as_deref())
                ),
            );
            Finding::new(tenant_id, v)
        })
        .collect())
}

/// Invariant 10 for the devices without a successful update: those whose
/// metadata names the firmware they were provisioned with (`firmware`) and
/// whose fw_version is another.
///
/// Any SUCCESS row counts as a successful update here, even one whose
/// campaign or firmware the tenant cannot see (invariant 2 names it): such
/// a device is then checked by neither half of the rule.
pub(super) async fn off_provisioned_firmware<C: ConnectionTrait>(
    conn: &C,
    tenants: Option<&[String]>,
) -> Result<Vec<Finding>, DbErr> {
    // Devices first (their primary key leads with the tenant), each with
    // one probe of the status rows' (tenant_id, device_id) index; the
    // JSON is read only for the devices that get that far.
    let rows = Query::new(
        "SELECT d.tenant_id, d.device_id, d.fw_version, \
                {json_text:d.metadata.firmware} AS provisioned \
         FROM device_registry d \
         WHERE {tenants:d} \
           AND {json_text:d.metadata.firmware} IS NOT NULL \
           AND (d.fw_version IS NULL OR d.fw_version <> {json_text:d.metadata.firmware}) \
           AND NOT EXISTS (SELECT 1 FROM ota_device_status s \
                           WHERE s.tenant_id = d.tenant_id AND s.device_id = d.device_id \
                             AND s.status = 'SUCCESS') \
         ORDER BY d.tenant_id, d.device_id",
    )
    .tenants("d", tenants)
    .all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let tenant_id: String = r.try_get("", "tenant_id")?;
            let device_id: String = r.try_get("", "device_id")?;
            let provisioned: String = r.try_get("", "provisioned")?;
            let actual: Option<String> = r.try_get("", "fw_version")?;
            let v = Violation::new(
                ViolationKind::OffProvisionedFirmware,
                device_row(&tenant_id, &device_id),
                format!(
                    "no successful update, provisioned with {provisioned} (metadata firmware) \
                     but fw_version is {}",
                    shown(actual.as_deref())
                ),
            );
            Ok(Finding::new(tenant_id, v))
        })
        .collect()
}

/// How a violation names a device.
pub(super) fn device_row(tenant_id: &str, device_id: &str) -> String {
    format!("device_registry ({tenant_id}, {device_id})")
}

/// A stored version as a violation quotes it.
fn shown(version: Option<&str>) -> String {
    version.map_or("NULL".to_owned(), |v| format!("{v:?}"))
}
