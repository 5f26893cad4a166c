//! What the database holds for a batch of tenants, read by key with a few
//! set-based reads per table for the whole batch (not per tenant). The
//! plan of every step is decided from these figures alone, in a run and in
//! a dry run alike.

use std::collections::{HashMap, HashSet};

use entity::{device_registry, firmware_versions, ota_campaigns, tenants};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::scoped;
use super::sink::Sink;
use crate::queries::sql::int;
use crate::queries::{CampaignCounters, DeviceIdSet, existing_device_ids};
use crate::table::Table;

/// The batch's rows as found, by tenant id.
#[derive(Debug, Default)]
pub struct Found {
    pub tenants: HashMap<String, tenants::Model>,
    /// Device ids of the tenants that have any.
    pub devices: HashMap<String, DeviceIdSet>,
    pub firmware: HashMap<String, FirmwareByKey>,
    pub campaigns: HashMap<String, Vec<ota_campaigns::Model>>,
    /// Status rows per campaign id, of the tenants that have any.
    pub status: HashMap<String, HashMap<i32, CampaignCounters>>,
    /// Up to [`FIRST_IDS`] device ids of each tenant, the smallest in byte
    /// order (a batch of one tenant reads none here): what the world check
    /// looks at for devices numbered otherwise.
    pub first_device_ids: HashMap<String, Vec<String>>,
}

/// How many device ids of each tenant [`Found::first_device_ids`] keeps.
pub const FIRST_IDS: usize = 64;

/// A tenant's builds by natural key (version, device_type).
pub type FirmwareByKey = HashMap<(String, Option<String>), firmware_versions::Model>;

impl Found {
    pub fn devices_of(&self, tenant: &str) -> u64 {
        self.devices.get(tenant).map_or(0, |s| s.len() as u64)
    }

    pub fn campaign_id(&self, tenant: &str, name: &str) -> Option<i32> {
        self.campaigns
            .get(tenant)?
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.id)
    }

    pub fn status_rows(&self, tenant: &str, campaign: i32) -> u64 {
        self.status
            .get(tenant)
            .and_then(|s| s.get(&campaign))
            .map_or(0, |c| c.total_devices.max(0) as u64)
    }
}

/// The batch's tenant rows.
pub async fn read_tenants(
    sink: &Sink<'_>,
    ids: &[String],
) -> Result<HashMap<String, tenants::Model>, DbErr> {
    if !sink.has(Table::Tenants) {
        return Ok(HashMap::new());
    }
    let rows = scoped::models::<tenants::Entity>(
        sink.txn,
        sink.guards.applies(Table::Tenants),
        ids,
        tenants::Column::TenantId,
        |s| s,
    )
    .await?;
    Ok(rows.into_iter().map(|t| (t.tenant_id.clone(), t)).collect())
}

/// The batch's rows a plan is decided from: tenants, devices, firmware
/// and campaigns, and the status rows counted where the selection seeds
/// campaigns or status rows.
pub async fn read(sink: &Sink<'_>, ids: &[String], status: bool) -> Result<Found, DbErr> {
    let mut found = Found {
        tenants: read_tenants(sink, ids).await?,
        ..Found::default()
    };
    read_devices_into(sink, ids, &mut found).await?;
    // Firmware, campaigns and status rows reference their tenant's row (a
    // foreign key in the platform's schema and ours): a tenant whose row
    // is not there has none, and is not asked (under row level security
    // each tenant asked is a statement).
    let there: Vec<String> = ids
        .iter()
        .filter(|id| found.tenants.contains_key(*id))
        .cloned()
        .collect();
    found.firmware = read_firmware(sink, &there).await?;
    found.campaigns = read_campaigns(sink, &there).await?;
    if status {
        found.status = read_status_counts(sink, &there).await?;
    }
    Ok(found)
}

/// The device ids of each tenant that has any.
pub async fn read_devices(
    sink: &Sink<'_>,
    ids: &[String],
) -> Result<HashMap<String, DeviceIdSet>, DbErr> {
    let mut found = Found::default();
    read_devices_into(sink, ids, &mut found).await?;
    Ok(found.devices)
}

/// The device ids of each tenant into `found.devices` (streamed for a
/// batch of one tenant, which may hold a million), and the first of each
/// into `found.first_device_ids` for a batch of many.
async fn read_devices_into(
    sink: &Sink<'_>,
    ids: &[String],
    found: &mut Found,
) -> Result<(), DbErr> {
    let out = &mut found.devices;
    out.clear();
    found.first_device_ids.clear();
    if !sink.has(Table::Devices) || ids.is_empty() {
        return Ok(());
    }
    if let [one] = ids {
        let set = existing_device_ids(sink.txn, one).await?;
        if set.len() > 0 {
            out.insert(one.clone(), set);
        }
        return Ok(());
    }
    let guarded = sink.guards.applies(Table::Devices);
    let rows = scoped::rows(
        sink.txn,
        guarded,
        ids,
        "d",
        "SELECT d.tenant_id AS tenant_id, d.device_id AS device_id \
         FROM device_registry d WHERE {tenants:d}",
    )
    .await?;
    for row in rows {
        let tenant: String = row.try_get("", "tenant_id")?;
        let device: String = row.try_get("", "device_id")?;
        out.entry(tenant.clone()).or_default().insert(&device);
        found
            .first_device_ids
            .entry(tenant)
            .or_default()
            .push(device);
    }
    // The smallest in byte order, whatever order the rows came in (a
    // batch's tenants are small: their ids are held briefly).
    for ids in found.first_device_ids.values_mut() {
        ids.sort_unstable();
        ids.truncate(FIRST_IDS);
    }
    Ok(())
}

/// The tenants' builds by natural key.
pub async fn read_firmware(
    sink: &Sink<'_>,
    ids: &[String],
) -> Result<HashMap<String, FirmwareByKey>, DbErr> {
    let mut out: HashMap<String, FirmwareByKey> = HashMap::new();
    if !sink.has(Table::Firmware) {
        return Ok(out);
    }
    let rows = scoped::models::<firmware_versions::Entity>(
        sink.txn,
        sink.guards.applies(Table::Firmware),
        ids,
        firmware_versions::Column::TenantId,
        |s| s,
    )
    .await?;
    for f in rows {
        out.entry(f.tenant_id.clone())
            .or_default()
            .insert((f.version.clone(), f.device_type.clone()), f);
    }
    Ok(out)
}

/// The tenants' campaigns.
pub async fn read_campaigns(
    sink: &Sink<'_>,
    ids: &[String],
) -> Result<HashMap<String, Vec<ota_campaigns::Model>>, DbErr> {
    let mut out: HashMap<String, Vec<ota_campaigns::Model>> = HashMap::new();
    if !sink.has(Table::Campaigns) {
        return Ok(out);
    }
    let rows = scoped::models::<ota_campaigns::Entity>(
        sink.txn,
        sink.guards.applies(Table::Campaigns),
        ids,
        ota_campaigns::Column::TenantId,
        |s| s,
    )
    .await?;
    for c in rows {
        out.entry(c.tenant_id.clone()).or_default().push(c);
    }
    Ok(out)
}

/// The tenants' status rows counted per campaign, with their successes and
/// failures: the counters a campaign should hold.
pub async fn read_status_counts(
    sink: &Sink<'_>,
    ids: &[String],
) -> Result<HashMap<String, HashMap<i32, CampaignCounters>>, DbErr> {
    let mut out: HashMap<String, HashMap<i32, CampaignCounters>> = HashMap::new();
    if !sink.has(Table::DeviceStatus) {
        return Ok(out);
    }
    let rows = scoped::rows(
        sink.txn,
        sink.guards.applies(Table::DeviceStatus),
        ids,
        "s",
        "SELECT s.tenant_id AS tenant_id, s.campaign_id AS campaign_id, \
                COUNT(*) AS total, \
                SUM(CASE WHEN s.status = 'SUCCESS' THEN 1 ELSE 0 END) AS succeeded, \
                SUM(CASE WHEN s.status = 'FAILED' THEN 1 ELSE 0 END) AS failed \
         FROM ota_device_status s WHERE {tenants:s} \
         GROUP BY s.tenant_id, s.campaign_id",
    )
    .await?;
    for row in rows {
        let tenant: String = row.try_get("", "tenant_id")?;
        let campaign: i32 = row.try_get("", "campaign_id")?;
        let counters = CampaignCounters {
            total_devices: int(&row, "total")?,
            succeeded: sum(&row, "succeeded")?,
            failed: sum(&row, "failed")?,
        };
        out.entry(tenant).or_default().insert(campaign, counters);
    }
    Ok(out)
}

/// A SUM of 0/1 cases: numeric on PostgreSQL and MySQL, integer on SQLite.
fn sum(row: &sea_orm::QueryResult, column: &str) -> Result<i64, DbErr> {
    if let Ok(n) = int(row, column) {
        return Ok(n);
    }
    if let Ok(d) = row.try_get::<sea_orm::prelude::Decimal>("", column) {
        return d
            .to_string()
            .parse::<i64>()
            .map_err(|e| DbErr::Custom(format!("{column}: {e}")));
    }
    Ok(row.try_get::<Option<i64>>("", column)?.unwrap_or(0))
}

/// The devices of one tenant's campaign that have a status row, for the
/// (tenant, campaign) pairs given, in one read per batch.
pub async fn read_campaign_devices(
    sink: &Sink<'_>,
    pairs: &[(String, i32)],
) -> Result<HashMap<(String, i32), HashSet<String>>, DbErr> {
    let mut out: HashMap<(String, i32), HashSet<String>> = HashMap::new();
    if pairs.is_empty() {
        return Ok(out);
    }
    let tenants: Vec<String> = {
        let mut t: Vec<String> = pairs.iter().map(|(t, _)| t.clone()).collect();
        t.sort();
        t.dedup();
        t
    };
    let campaigns: Vec<i32> = pairs.iter().map(|(_, c)| *c).collect();
    let rows = scoped::rows(
        sink.txn,
        sink.guards.applies(Table::DeviceStatus),
        &tenants,
        "s",
        &format!(
            "SELECT s.tenant_id AS tenant_id, s.campaign_id AS campaign_id, \
                    s.device_id AS device_id \
             FROM ota_device_status s WHERE {{tenants:s}} AND s.campaign_id IN ({})",
            campaigns
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
    .await?;
    for row in rows {
        let tenant: String = row.try_get("", "tenant_id")?;
        let campaign: i32 = row.try_get("", "campaign_id")?;
        let device: String = row.try_get("", "device_id")?;
        out.entry((tenant, campaign)).or_default().insert(device);
    }
    Ok(out)
}

/// The devices of the given tenants with when each was provisioned, sorted
/// by id in byte order, for tenants whose devices are not exactly the
/// planned fleet.
pub async fn read_provisioning(
    sink: &Sink<'_>,
    ids: &[String],
) -> Result<HashMap<String, Vec<(String, chrono::DateTime<chrono::FixedOffset>)>>, DbErr> {
    let mut out: HashMap<String, Vec<(String, chrono::DateTime<chrono::FixedOffset>)>> =
        HashMap::new();
    if ids.is_empty() || !sink.has(Table::Devices) {
        return Ok(out);
    }
    let rows: Vec<(String, String, chrono::DateTime<chrono::FixedOffset>)> =
        device_registry::Entity::find()
            .select_only()
            .column(device_registry::Column::TenantId)
            .column(device_registry::Column::DeviceId)
            .column(device_registry::Column::ProvisionedAt)
            .filter(device_registry::Column::TenantId.is_in(ids.iter().cloned()))
            .into_tuple()
            .all(sink.txn)
            .await?;
    for (tenant, device, at) in rows {
        out.entry(tenant).or_default().push((device, at));
    }
    for list in out.values_mut() {
        list.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(out)
}
