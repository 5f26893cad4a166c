//! Never two worlds in one database: before anything is written, what the
//! seeder already put there for every selected tenant (its campaigns and
//! firmware, marked by `created_by`, and a sample of its devices) is
//! compared with the plan. A plan that only adds to it (new releases,
//! campaigns, devices, tenants) goes ahead; anything else is refused,
//! saying what differs.
//!
//! Rows the seeder did not create (another `created_by`, devices whose ids
//! are not the plan's) are the platform's own and never compared.
//!
//! The rows are those a batch's plans are made from ([`Found`]), with the
//! sample's metadata read for the whole batch ([`read`]); the comparison
//! itself ([`differences`]) reads nothing.

use std::collections::HashMap;

use entity::{device_registry, firmware_versions, ota_campaigns};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

use super::found::{FIRST_IDS, Found};
use super::scoped;
use super::sink::Sink;
use crate::dataset::{IdKind, Target, TenantPlan};
use crate::table::Table;

/// Planned devices whose metadata is compared (the first ones in id
/// order): a different `--seed` draws other models for about two in three
/// of them, so some of 64 always differ. Also the number of device ids
/// looked at for another numbering.
const SAMPLE: usize = FIRST_IDS;

/// One tenant's rows as the check needs them.
#[derive(Debug, Default)]
pub struct TenantRows<'f> {
    pub firmware: Vec<&'f firmware_versions::Model>,
    pub campaigns: &'f [ota_campaigns::Model],
    /// The tenant's devices.
    pub devices: u64,
    /// Up to [`SAMPLE`] of the tenant's device ids.
    pub device_ids: Vec<String>,
    /// Stored metadata of the first planned devices that are there.
    pub metadata: HashMap<String, serde_json::Value>,
}

/// The rows of the batch's tenants that are there (a tenant without its
/// row has none: the seeder writes the tenant row first), by tenant id:
/// from the rows the plans are made of, and at most two reads more (a
/// batch of one tenant's first device ids, and the sample's metadata).
pub async fn read<'f>(
    sink: &Sink<'_>,
    plans: &[&TenantPlan],
    found: &'f Found,
) -> Result<HashMap<String, TenantRows<'f>>, DbErr> {
    let mut out: HashMap<String, TenantRows<'f>> = plans
        .iter()
        .map(|p| &p.tenant.tenant_id)
        .filter(|id| found.tenants.contains_key(*id))
        .map(|id| {
            let rows = TenantRows {
                firmware: found
                    .firmware
                    .get(id)
                    .map(|by_key| by_key.values().collect())
                    .unwrap_or_default(),
                campaigns: found.campaigns.get(id).map_or(&[], Vec::as_slice),
                devices: found.devices_of(id),
                device_ids: found.first_device_ids.get(id).cloned().unwrap_or_default(),
                metadata: HashMap::new(),
            };
            (id.clone(), rows)
        })
        .collect();
    if out.is_empty() || !sink.has(Table::Devices) {
        return Ok(out);
    }
    // A batch of one tenant, which may hold a million devices, streamed
    // its ids unordered: its smallest are read by the key.
    if let [plan] = plans
        && let Some(rows) = out.get_mut(&plan.tenant.tenant_id)
        && rows.devices > 0
    {
        let sql = format!(
            "SELECT d.device_id AS device_id FROM device_registry d WHERE {{tenants:d}} \
             ORDER BY d.device_id LIMIT {SAMPLE}"
        );
        let guarded = sink.guards.applies(Table::Devices);
        for row in scoped::rows(
            sink.txn,
            guarded,
            std::slice::from_ref(&plan.tenant.tenant_id),
            "d",
            &sql,
        )
        .await?
        {
            rows.device_ids.push(row.try_get("", "device_id")?);
        }
    }
    // The metadata of each tenant's first planned devices.
    let with_devices: Vec<String> = out
        .iter()
        .filter(|(_, r)| r.devices > 0)
        .map(|(t, _)| t.clone())
        .collect();
    let mut sample_ids: Vec<String> = plans
        .iter()
        .filter(|p| out.get(&p.tenant.tenant_id).is_some_and(|r| r.devices > 0))
        .flat_map(|p| p.fleet.device_ids().take(SAMPLE))
        .collect();
    sample_ids.sort();
    sample_ids.dedup();
    if !sample_ids.is_empty() {
        let stored: Vec<(String, String, serde_json::Value)> = device_registry::Entity::find()
            .select_only()
            .column(device_registry::Column::TenantId)
            .column(device_registry::Column::DeviceId)
            .column(device_registry::Column::Metadata)
            .filter(device_registry::Column::TenantId.is_in(with_devices))
            .filter(device_registry::Column::DeviceId.is_in(sample_ids))
            .into_tuple()
            .all(sink.txn)
            .await?;
        for (tenant, device, metadata) in stored {
            if let Some(rows) = out.get_mut(&tenant) {
                rows.metadata.insert(device, metadata);
            }
        }
    }
    Ok(out)
}

/// What differs between the tenant's rows and the plan; empty when the
/// plan only adds to them.
pub fn differences(plan: &TenantPlan, there: &TenantRows) -> Vec<String> {
    let ours = plan.created_by();
    let mine = |by: &Option<String>| by.as_deref() == Some(ours.as_str());
    let mut found = Vec::new();

    let firmware: Vec<&firmware_versions::Model> = there
        .firmware
        .iter()
        .copied()
        .filter(|f| mine(&f.created_by))
        .collect();
    let by_id: HashMap<i32, &firmware_versions::Model> =
        firmware.iter().map(|f| (f.id, *f)).collect();
    for f in &firmware {
        let planned = plan.firmware.iter().any(|p| {
            p.version == f.version && Some(p.device_type.as_str()) == f.device_type.as_deref()
        });
        if !planned {
            found.push(format!(
                "firmware {} ({}) is there, the scenario has no such release",
                f.version,
                f.device_type.as_deref().unwrap_or("no device type")
            ));
        }
    }
    let devices_there = there.devices;
    for c in there.campaigns.iter().filter(|c| mine(&c.created_by)) {
        let Some((index, seed)) = plan
            .campaigns
            .iter()
            .enumerate()
            .find(|(_, p)| p.name == c.name)
        else {
            found.push(format!(
                "campaign {:?} is there, the scenario has no such campaign",
                c.name
            ));
            continue;
        };
        let planned_status: String = seed.status.into();
        if c.status != planned_status {
            found.push(format!(
                "campaign {:?} is {} there, {} in the scenario",
                c.name, c.status, planned_status
            ));
        }
        if let Some(f) = by_id.get(&c.firmware_version_id)
            && (f.version != seed.firmware_version
                || f.device_type.as_deref() != Some(seed.device_type.as_str()))
        {
            found.push(format!(
                "campaign {:?} rolls out {} there, {} in the scenario",
                c.name, f.version, seed.firmware_version
            ));
        }
        // Its rows (the counters the seeder keeps equal to them): more
        // than the plan targets means the campaigns were cut otherwise.
        let rows = c.total_devices.max(0) as u64;
        let targeted = match seed.target {
            Target::Slice { index: i, of } => {
                let slice = |devices: u64| {
                    crate::dataset::CampaignSeed::slice(i, of, devices as usize).len() as u64
                };
                // Devices added by hand lengthen every slice.
                slice(devices_there.max(plan.fleet.len() as u64))
            }
            Target::Release { .. } => plan.fleet.targets(&plan.campaigns, index).count() as u64,
        };
        if rows > targeted {
            found.push(format!(
                "campaign {:?} has rows for {rows} devices there, the scenario targets {targeted}",
                c.name
            ));
        }
    }

    // A device numbered like the plan's sites and types but not planned
    // was seeded at another size (the numbers' width follows the devices
    // per site).
    if let Some(other) = there
        .device_ids
        .iter()
        .find(|id| plan.fleet.classify_id(id) == IdKind::OtherSize)
    {
        found.push(format!(
            "device {other} is there, numbered as this dataset's devices are but not one of them (seeded with other sizes?)"
        ));
    }

    // A sample of the planned devices that are there: their model and type
    // come from the scenario and --seed.
    let sample: Vec<_> = if there.metadata.is_empty() {
        Vec::new()
    } else {
        plan.fleet.device_models().take(SAMPLE).collect()
    };
    let mut differing = sample.iter().filter_map(|d| {
        let metadata = there.metadata.get(&d.device_id)?;
        ["type", "model"].into_iter().find_map(|key| {
            let (stored, wanted) = (metadata.get(key), d.metadata_text(key));
            let same = match (stored, wanted) {
                (None, None) => true,
                (Some(serde_json::Value::String(s)), Some(w)) => s == w,
                _ => false,
            };
            (!same).then(|| {
                format!(
                    "device {} has {key} {} there, {} in the scenario",
                    d.device_id,
                    shown(stored),
                    wanted.unwrap_or("none")
                )
            })
        })
    });
    let first = differing.next();
    let more = differing.count();
    // The demo's models are drawn in device order (docs/dataset.md), so a
    // grown demo fleet draws other models for the devices it had: there,
    // models are only compared while the fleet has its planned size.
    let grown = first.is_some()
        && plan.fleet.models_follow_order()
        && devices_there != plan.fleet.len() as u64;
    if let Some(first) = first.filter(|_| !grown) {
        found.push(if more == 0 {
            first
        } else {
            format!("{first} (and {more} more of the first {SAMPLE} devices)")
        });
    }
    found
}

fn shown(value: Option<&serde_json::Value>) -> String {
    match value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "none".to_owned(),
    }
}
