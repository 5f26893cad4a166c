//! Never two worlds in one database: before a tenant's first write, what
//! the seeder already put there (its campaigns and firmware, marked by
//! `created_by`, and a sample of its devices) is compared with the plan.
//! A plan that only adds to it (new releases, campaigns, devices, tenants)
//! goes ahead; anything else is refused, saying what differs.
//!
//! Rows the seeder did not create (another `created_by`, devices whose ids
//! are not the plan's) are the platform's own and never compared.

use std::collections::HashMap;

use entity::{device_registry, firmware_versions, ota_campaigns};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
};

use crate::dataset::{IdKind, Target, TenantPlan};

/// Planned devices whose metadata is compared (the first ones in id
/// order): a different `--seed` draws other models for about two in
/// three of them, so some of 64 always differ.
const SAMPLE: usize = 64;

/// What differs between the tenant's rows and the plan; empty when the
/// plan only adds to them.
pub async fn differences<C: ConnectionTrait>(
    conn: &C,
    plan: &TenantPlan,
) -> Result<Vec<String>, DbErr> {
    let tenant = plan.tenant.tenant_id.as_str();
    let ours = plan.created_by();
    let mut found = Vec::new();

    let firmware: Vec<firmware_versions::Model> = firmware_versions::Entity::find()
        .filter(firmware_versions::Column::TenantId.eq(tenant))
        .filter(firmware_versions::Column::CreatedBy.eq(ours.as_str()))
        .all(conn)
        .await?;
    let by_id: HashMap<i32, &firmware_versions::Model> =
        firmware.iter().map(|f| (f.id, f)).collect();
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

    let campaigns: Vec<ota_campaigns::Model> = ota_campaigns::Entity::find()
        .filter(ota_campaigns::Column::TenantId.eq(tenant))
        .filter(ota_campaigns::Column::CreatedBy.eq(ours.as_str()))
        .all(conn)
        .await?;
    let mut devices_there: Option<u64> = None;
    for c in &campaigns {
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
                if rows <= slice(plan.fleet.len() as u64) {
                    continue;
                }
                // Devices added by hand lengthen every slice.
                let devices = device_count(conn, tenant, &mut devices_there).await?;
                slice(devices.max(plan.fleet.len() as u64))
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

    // Some of the devices there: one numbered like the plan's sites and
    // types but not planned was seeded at another size (the numbers'
    // width follows the devices per site).
    let there: Vec<String> = device_registry::Entity::find()
        .select_only()
        .column(device_registry::Column::DeviceId)
        .filter(device_registry::Column::TenantId.eq(tenant))
        .limit(SAMPLE as u64)
        .into_tuple()
        .all(conn)
        .await?;
    if let Some(other) = there
        .iter()
        .find(|id| plan.fleet.classify_id(id) == IdKind::OtherSize)
    {
        found.push(format!(
            "device {other} is there, numbered as this dataset's devices are but not one of them (seeded with other sizes?)"
        ));
    }

    // A sample of the planned devices that are there: their model and type
    // come from the scenario and --seed.
    let sample: Vec<_> = plan.devices().take(SAMPLE).collect();
    let ids: Vec<String> = sample.iter().map(|d| d.device_id.clone()).collect();
    let stored: HashMap<String, serde_json::Value> = device_registry::Entity::find()
        .select_only()
        .column(device_registry::Column::DeviceId)
        .column(device_registry::Column::Metadata)
        .filter(device_registry::Column::TenantId.eq(tenant))
        .filter(device_registry::Column::DeviceId.is_in(ids))
        .into_tuple::<(String, serde_json::Value)>()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    let mut differing = sample.iter().filter_map(|d| {
        let metadata = stored.get(&d.device_id)?;
        let planned = d.metadata();
        ["type", "model"].into_iter().find_map(|key| {
            let (there, wanted) = (metadata.get(key), planned.get(key));
            (there != wanted).then(|| {
                format!(
                    "device {} has {key} {} there, {} in the scenario",
                    d.device_id,
                    shown(there),
                    shown(wanted)
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
        && device_count(conn, tenant, &mut devices_there).await? != plan.fleet.len() as u64;
    if let Some(first) = first.filter(|_| !grown) {
        found.push(if more == 0 {
            first
        } else {
            format!("{first} (and {more} more of the first {SAMPLE} devices)")
        });
    }
    Ok(found)
}

/// The tenant's devices, counted once.
async fn device_count<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    counted: &mut Option<u64>,
) -> Result<u64, DbErr> {
    if let Some(n) = counted {
        return Ok(*n);
    }
    let n = device_registry::Entity::find()
        .filter(device_registry::Column::TenantId.eq(tenant))
        .count(conn)
        .await?;
    Ok(*counted.insert(n))
}

fn shown(value: Option<&serde_json::Value>) -> String {
    match value {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "none".to_owned(),
    }
}
