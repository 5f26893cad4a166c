//! `ota_device_status`: each campaign's rows for its slice of the tenant's
//! devices (all of them when there is one campaign), for the devices that
//! exist in `device_registry` (seeded or not), in device_id byte order.
//! Which devices a campaign reaches is the generator's rule
//! (`dataset::campaign_targets`); this step decides which of those rows
//! are missing and inserts them for the whole batch.

use std::collections::{HashMap, HashSet};

use entity::ota_device_status;
use entity::status::DeviceUpdateStatus;
use sea_orm::{ActiveValue::Set, DbErr};

use super::batch::{Conflicts, insert_rows};
use super::found::{Found, read_campaign_devices, read_provisioning};
use super::sink::{Batch, Sink};
use crate::dataset::{
    CampaignSeed, DeviceList, TenantPlan, campaign_slices, campaign_target_count, campaign_targets,
    fleet_is_planned,
};
use crate::queries::CampaignCounters;
use crate::report::TableCounts;
use crate::table::Table;

/// One planned campaign of one tenant, as the plan found it.
pub struct CampaignRows {
    pub index: usize,
    /// `None` while the campaign does not exist (a dry run before its
    /// insert).
    pub id: Option<i32>,
    pub slice: std::ops::Range<usize>,
    /// Rows the campaign should have, and has.
    pub wanted: u64,
    pub have: u64,
    /// The devices with a row, read when the campaign is partly there.
    pub done: Option<HashSet<String>>,
    /// Rows to insert.
    pub missing: u64,
}

pub struct TenantRows {
    pub tenant: usize,
    pub list: DeviceList,
    pub campaigns: Vec<CampaignRows>,
    /// Whether devices existed before this run (their fw_version may need
    /// to follow a new successful row).
    pub may_be_stale: bool,
    /// No status row of the tenant existed: nothing can conflict.
    pub none_before: bool,
}

pub struct StatusPlan {
    pub tenants: Vec<TenantRows>,
}

impl StatusPlan {
    pub fn counts(&self) -> TableCounts {
        let mut counts = TableCounts::default();
        for c in self.tenants.iter().flat_map(|t| &t.campaigns) {
            counts.inserted += c.missing;
            counts.present += c.wanted - c.missing;
        }
        counts
    }

    fn wanted(&self) -> u64 {
        self.tenants
            .iter()
            .flat_map(|t| &t.campaigns)
            .map(|c| c.wanted)
            .sum()
    }
}

/// Plans the batch's status rows from what was found and the tenants'
/// device counts once the devices step is done (`devices_after`), reading
/// (set-based, for the batch) the device lists of tenants whose devices
/// are not the planned fleet and the rows of campaigns partly there.
pub async fn plan(
    sink: &Sink<'_>,
    batch: &Batch<'_>,
    found: &Found,
    devices_after: &HashMap<String, u64>,
) -> Result<StatusPlan, DbErr> {
    let devices_step = batch.selection.includes(Table::Devices);
    let count_of = |p: &TenantPlan| {
        devices_after
            .get(&p.tenant.tenant_id)
            .copied()
            .unwrap_or_else(|| found.devices_of(&p.tenant.tenant_id))
    };
    // Device lists that must be read.
    let read_lists: Vec<String> = batch
        .plans
        .iter()
        .filter(|p| !fleet_is_planned(devices_step, count_of(p), p.fleet.len() as u64))
        .filter(|p| !p.campaigns.is_empty())
        .map(|p| p.tenant.tenant_id.clone())
        .collect();
    let mut lists = read_provisioning(sink, &read_lists).await?;
    let read_lists: HashSet<&String> = read_lists.iter().collect();
    let mut tenants = Vec::new();
    for (ti, p) in batch.plans.iter().enumerate() {
        let tenant = &p.tenant.tenant_id;
        let count = count_of(p);
        let list = if read_lists.contains(tenant) {
            let mut devices = lists.remove(tenant).unwrap_or_default();
            // A dry run's devices step has not inserted yet: add what it
            // would.
            if devices.len() as u64 != count && devices_step {
                let there: HashSet<String> = devices.iter().map(|(id, _)| id.clone()).collect();
                devices.extend(
                    p.devices()
                        .filter(|d| !there.contains(&d.device_id))
                        .map(|d| (d.device_id, d.provisioned.at(batch.now))),
                );
                devices.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            }
            DeviceList::Read(devices)
        } else {
            DeviceList::Planned
        };
        let slices = campaign_slices(
            &p.campaigns,
            |name| found.campaign_id(tenant, name),
            |id| found.status_rows(tenant, id),
            count,
        );
        let mut campaigns = Vec::new();
        for (index, s) in slices.into_iter().enumerate() {
            let slice = match &list {
                DeviceList::Planned => s.devices,
                DeviceList::Read(ids) => {
                    s.devices.start.min(ids.len())..s.devices.end.min(ids.len())
                }
            };
            let wanted = campaign_target_count(p, index, slice.clone(), &list, batch.now);
            let have = if s.id.is_some() { s.have } else { 0 };
            campaigns.push(CampaignRows {
                index,
                id: s.id,
                slice,
                wanted,
                have,
                done: None,
                missing: if have == 0 { wanted } else { 0 },
            });
        }
        tenants.push(TenantRows {
            tenant: ti,
            list,
            campaigns,
            may_be_stale: found.devices_of(tenant) > 0,
            none_before: found.status.get(tenant).is_none_or(|s| s.is_empty()),
        });
    }
    // Campaigns partly there: which devices have their row.
    let partial: Vec<(String, i32)> = tenants
        .iter()
        .flat_map(|t| {
            let id = &batch.ids[t.tenant];
            t.campaigns
                .iter()
                .filter(|c| c.have > 0 && c.have != c.wanted)
                .filter_map(move |c| c.id.map(|cid| (id.clone(), cid)))
        })
        .collect();
    let mut done = read_campaign_devices(sink, &partial).await?;
    for t in &mut tenants {
        let p = batch.plans[t.tenant];
        let list = &t.list;
        for c in &mut t.campaigns {
            if c.have == 0 || c.have == c.wanted {
                continue;
            }
            let Some(id) = c.id else { continue };
            let rows = done
                .remove(&(batch.ids[t.tenant].clone(), id))
                .unwrap_or_default();
            c.missing = campaign_targets(p, c.index, c.slice.clone(), list, batch.now)
                .filter(|(d, _, _)| !rows.contains(d))
                .count() as u64;
            c.done = Some(rows);
        }
    }
    Ok(StatusPlan { tenants })
}

/// The rows the plan inserts for one tenant's campaign, with each device's
/// id, as the generator makes them.
fn missing_rows<'a>(
    p: &'a TenantPlan,
    c: &'a CampaignRows,
    list: &'a DeviceList,
    now: chrono::DateTime<chrono::FixedOffset>,
) -> impl Iterator<Item = (String, crate::dataset::DeviceStatusSeed)> + 'a {
    let seed: &CampaignSeed = &p.campaigns[c.index];
    let len = c.slice.len();
    campaign_targets(p, c.index, c.slice.clone(), list, now)
        .filter(move |(d, _, _)| c.done.as_ref().is_none_or(|done| !done.contains(d)))
        .map(move |(device_id, rank, ordinal)| (device_id, seed.row(rank, len, &p.fleet, ordinal)))
}

/// The counters each planned campaign would hold once the plan's rows are
/// in: what a dry run predicts (a run counts them from the rows).
pub fn predicted_counters(
    plan: &StatusPlan,
    batch: &Batch<'_>,
    found: &Found,
) -> HashMap<(String, usize), CampaignCounters> {
    let mut out = HashMap::new();
    for t in &plan.tenants {
        let p = batch.plans[t.tenant];
        let tenant = &batch.ids[t.tenant];
        for c in &t.campaigns {
            let mut counters =
                c.id.and_then(|id| found.status.get(tenant)?.get(&id).copied())
                    .unwrap_or_default();
            if c.missing > 0 {
                for (_, row) in missing_rows(p, c, &t.list, batch.now) {
                    counters.total_devices += 1;
                    match row.status {
                        DeviceUpdateStatus::Success => counters.succeeded += 1,
                        DeviceUpdateStatus::Failed => counters.failed += 1,
                        _ => {}
                    }
                }
            }
            out.insert((tenant.clone(), c.index), counters);
        }
    }
    out
}

/// What applying the status rows did, and which devices that were there
/// before got a new successful row (per tenant).
pub struct StatusApplied {
    pub counts: TableCounts,
    pub devices_with_new_rows: HashMap<String, HashSet<String>>,
}

pub async fn apply(
    sink: &Sink<'_>,
    batch: &Batch<'_>,
    plan: &StatusPlan,
) -> Result<StatusApplied, DbErr> {
    let progress = sink.step(Table::DeviceStatus, plan.wanted());
    for t in &plan.tenants {
        for c in &t.campaigns {
            if c.missing > 0 && c.id.is_none() {
                return Err(DbErr::RecordNotFound(format!(
                    "campaign {:?} of tenant {} (include `campaigns` in --only)",
                    batch.plans[t.tenant].campaigns[c.index].name, batch.ids[t.tenant]
                )));
            }
        }
    }
    let touched = std::sync::Mutex::new(HashMap::<String, HashSet<String>>::new());
    let rows_of = |impossible: bool| {
        let touched = &touched;
        plan.tenants.iter().flat_map(move |t| {
            let p = batch.plans[t.tenant];
            let tenant = &batch.ids[t.tenant];
            t.campaigns
                .iter()
                .filter(move |c| c.missing > 0 && (c.have == 0 && t.none_before) == impossible)
                .flat_map(move |c| {
                    let seed = &p.campaigns[c.index];
                    let campaign_id = c.id.unwrap_or_default();
                    let created_at = seed
                        .started_at(batch.now)
                        .unwrap_or_else(|| seed.created_at(batch.now));
                    let stale = matches!(t.list, DeviceList::Read(_)) || t.may_be_stale;
                    missing_rows(p, c, &t.list, batch.now).map(move |(device_id, row)| {
                        if stale
                            && row.status == DeviceUpdateStatus::Success
                            && let Ok(mut map) = touched.lock()
                        {
                            map.entry(tenant.clone())
                                .or_default()
                                .insert(device_id.clone());
                        }
                        ota_device_status::ActiveModel {
                            tenant_id: Set(tenant.clone()),
                            campaign_id: Set(campaign_id),
                            device_id: Set(device_id),
                            status: Set(row.status.into()),
                            progress_pct: Set(row.progress_pct),
                            error_message: Set(row.error_message.as_deref().map(str::to_owned)),
                            started_at: Set(row.started_at(batch.now)),
                            completed_at: Set(row.completed_at(batch.now)),
                            // Made when the campaign started (or was created).
                            created_at: Set(created_at),
                            ..Default::default()
                        }
                    })
                })
        })
    };
    let mut inserted = insert_rows(
        sink.txn,
        rows_of(true),
        Conflicts::Impossible,
        &progress,
        sink.interrupt,
    )
    .await?;
    inserted += insert_rows(
        sink.txn,
        rows_of(false),
        Conflicts::SkipOn(&[
            ota_device_status::Column::TenantId,
            ota_device_status::Column::CampaignId,
            ota_device_status::Column::DeviceId,
        ]),
        &progress,
        sink.interrupt,
    )
    .await?;
    let wanted = plan.wanted();
    let sent = plan.counts().inserted;
    let mut declined = 0;
    if inserted < sent {
        // Fewer stored than sent: count what each campaign holds now.
        let after = super::found::read_status_counts(sink, &batch.ids).await?;
        for t in &plan.tenants {
            let tenant = &batch.ids[t.tenant];
            for c in t.campaigns.iter().filter(|c| c.missing > 0) {
                let have =
                    c.id.and_then(|id| after.get(tenant)?.get(&id))
                        .map_or(0, |n| n.total_devices.max(0) as u64);
                declined += c.wanted.saturating_sub(have);
            }
        }
    }
    let counts = TableCounts {
        inserted,
        present: wanted - inserted - declined.min(wanted - inserted),
        declined,
        ..TableCounts::default()
    };
    progress.finish(counts);
    Ok(StatusApplied {
        counts,
        devices_with_new_rows: touched.into_inner().unwrap_or_default(),
    })
}
