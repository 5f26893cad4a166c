use std::collections::{HashMap, HashSet};
use std::ops::Range;

use chrono::{DateTime, FixedOffset};

use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status};
use sea_orm::{ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter};

use super::TenantScope;
use super::batch::{Conflicts, insert_rows};
use crate::dataset::{CampaignSeed, Target, TenantPlan};
use crate::queries::{
    CampaignCounters, campaign_device_ids, count_status_rows, device_provisioning,
};
use crate::report::TableCounts;
use crate::table::Table;
use entity::status::DeviceUpdateStatus;

/// `ota_device_status`: each campaign's rows for its slice of the tenant's
/// devices (all of them when there is one campaign), for the devices that
/// exist in `device_registry` (seeded or not), in device_id byte order.
pub struct DeviceStatusStep;

pub struct DeviceStatusOutcome {
    pub counts: TableCounts,
    /// Devices that existed before this run and got a successful status row
    /// in it (their fw_version may need to follow the new row).
    pub devices_with_new_rows: HashSet<String>,
    /// The status rows counted per campaign before this step inserted any;
    /// still true when it inserted none, which spares a second count.
    pub counted_before: HashMap<i32, CampaignCounters>,
}

/// Where the tenant's device list comes from.
pub(crate) enum DeviceList {
    /// The database holds exactly the planned fleet: ids are generated.
    Planned,
    /// Anything else: ids read from the database with when each device was
    /// provisioned, sorted by id in byte order.
    Read(Vec<(String, DateTime<FixedOffset>)>),
}

impl DeviceStatusStep {
    pub async fn run(&self, scope: &TenantScope<'_>) -> Result<DeviceStatusOutcome, DbErr> {
        let tenant = scope.tenant_id();
        let device_count = match scope.devices_after_step {
            Some(count) => count,
            None => {
                device_registry::Entity::find()
                    .filter(device_registry::Column::TenantId.eq(tenant))
                    .count(scope.txn)
                    .await?
            }
        };
        let progress = scope
            .progress
            .step(tenant, Table::DeviceStatus, device_count);

        // The tenant's campaigns with their firmware, through the relation.
        let campaigns: HashMap<String, (ota_campaigns::Model, Option<firmware_versions::Model>)> =
            ota_campaigns::Entity::find()
                .filter(ota_campaigns::Column::TenantId.eq(tenant))
                .find_also_related(firmware_versions::Entity)
                .all(scope.txn)
                .await?
                .into_iter()
                .map(|(c, f)| (c.name.clone(), (c, f)))
                .collect();
        let counted = count_status_rows(scope.txn, tenant).await?;
        // None of the tenant's status rows exist: nothing can conflict.
        let none_before = counted.values().all(|c| c.total_devices == 0);

        let slices = campaign_slices(
            &scope.plan.campaigns,
            |name| campaigns.get(name).map(|(c, _)| c.id),
            |id| {
                counted
                    .get(&id)
                    .map_or(0, |c| c.total_devices.max(0) as u64)
            },
            device_count,
        );
        let mut devices: Option<DeviceList> = None;
        let mut counts = TableCounts::default();
        let mut devices_with_new_rows = HashSet::new();
        for (
            index,
            CampaignSlice {
                seed,
                id,
                devices: slice,
                have,
            },
        ) in slices.into_iter().enumerate()
        {
            let Some(campaign_id) = id else {
                return Err(DbErr::RecordNotFound(format!(
                    "campaign {:?} of tenant {tenant} (include `campaigns` in --only)",
                    seed.name
                )));
            };
            let release = matches!(seed.target, Target::Release { .. });
            let planned = fleet_is_planned(
                scope.devices_after_step.is_some(),
                device_count,
                scope.plan.fleet.len() as u64,
            );
            if !release && planned && have == slice.len() as u64 {
                // Complete: a rerun reads no keys and sends no rows.
                counts.present += have;
                progress.advance(have);
                continue;
            }
            let list = match &devices {
                Some(list) => list,
                None => devices.insert(device_list(scope, device_count).await?),
            };
            // Devices deleted by another writer since they were counted
            // leave fewer ids than the slices were cut for: those slices
            // are shorter in this run, and a rerun completes them.
            let slice = match list {
                DeviceList::Planned => slice,
                DeviceList::Read(ids) => slice.start.min(ids.len())..slice.end.min(ids.len()),
            };
            let wanted = campaign_target_count(scope.plan, index, slice.clone(), list, scope.now);
            if have == wanted {
                counts.present += have;
                progress.advance(have);
                continue;
            }
            let existing = if have == 0 {
                HashSet::new()
            } else {
                campaign_device_ids(scope.txn, tenant, campaign_id).await?
            };
            // A device the dataset generated in this run already runs the
            // firmware its planned history leaves it on. Any other device
            // (added by hand, or seeded before the plan grew a campaign)
            // may need its fw_version to follow a new successful update.
            let may_be_stale = matches!(list, DeviceList::Read(_)) || scope.found.devices > 0;
            let fleet = &scope.plan.fleet;
            let missing = campaign_targets(scope.plan, index, slice.clone(), list, scope.now)
                .filter(|(id, _, _)| !existing.contains(id))
                .map(|(device_id, rank, ordinal)| {
                    let row = seed.row(rank, slice.len(), fleet, ordinal);
                    if may_be_stale && row.status == DeviceUpdateStatus::Success {
                        devices_with_new_rows.insert(device_id.clone());
                    }
                    ota_device_status::ActiveModel {
                        tenant_id: Set(tenant.to_owned()),
                        campaign_id: Set(campaign_id),
                        device_id: Set(device_id),
                        status: Set(row.status.into()),
                        progress_pct: Set(row.progress_pct),
                        error_message: Set(row.error_message.as_deref().map(str::to_owned)),
                        started_at: Set(row.started_at(scope.now)),
                        completed_at: Set(row.completed_at(scope.now)),
                        // Made when the campaign started (or was created).
                        created_at: Set(seed
                            .started_at(scope.now)
                            .unwrap_or_else(|| seed.created_at(scope.now))),
                        ..Default::default()
                    }
                });
            let conflicts = if have == 0 && none_before {
                Conflicts::Impossible
            } else {
                Conflicts::SkipOn(&[
                    ota_device_status::Column::TenantId,
                    ota_device_status::Column::CampaignId,
                    ota_device_status::Column::DeviceId,
                ])
            };
            let inserted =
                insert_rows(scope.txn, missing, conflicts, &progress, scope.interrupt).await?;
            counts.inserted += inserted;
            counts.present += wanted - inserted;
        }
        progress.finish(counts);
        Ok(DeviceStatusOutcome {
            counts,
            devices_with_new_rows,
            counted_before: counted,
        })
    }
}

/// The planned fleet when the tenant's devices are exactly the planned
/// ones, else the ids in the database.
async fn device_list(scope: &TenantScope<'_>, device_count: u64) -> Result<DeviceList, DbErr> {
    if fleet_is_planned(
        scope.devices_after_step.is_some(),
        device_count,
        scope.plan.fleet.len() as u64,
    ) {
        return Ok(DeviceList::Planned);
    }
    Ok(DeviceList::Read(
        device_provisioning(scope.txn, scope.tenant_id()).await?,
    ))
}

/// The devices campaign `c` of the plan targets among `list`, in byte
/// order, as (device_id, rank among the campaign's planned targets,
/// position in the planned fleet). A slice campaign takes the devices of
/// `slice` in the list (planned or not) that were provisioned by the time
/// it started (a device added later joins only campaigns that start after
/// it, see invariant 7); a release campaign takes its planned targets that
/// are in the list.
pub(crate) fn campaign_targets<'a>(
    plan: &'a TenantPlan,
    c: usize,
    slice: Range<usize>,
    list: &'a DeviceList,
    now: DateTime<FixedOffset>,
) -> Box<dyn Iterator<Item = (String, usize, usize)> + Send + 'a> {
    let fleet = &plan.fleet;
    let started = plan.campaigns[c].started_at(now);
    match (plan.campaigns[c].target, list) {
        (Target::Slice { .. }, DeviceList::Planned) => Box::new(
            fleet
                .device_ids()
                .skip(slice.start)
                .take(slice.len())
                .enumerate()
                .map(move |(rank, id)| (id, rank, slice.start + rank)),
        ),
        (Target::Slice { index, of }, DeviceList::Read(ids)) => {
            // Slices are cut over the planned fleet, so that a device keeps
            // its campaign when others are added or removed; a device not
            // in the plan joins the slice of where it sorts among them.
            let planned = fleet.len();
            let own = CampaignSeed::slice(index, of, planned);
            let mut plan_ids = fleet.device_ids().peekable();
            let mut position = 0;
            Box::new(ids.iter().filter_map(move |(id, provisioned)| {
                while plan_ids.next_if(|p| p < id).is_some() {
                    position += 1;
                }
                let at = position;
                if plan_ids.next_if(|p| p == id).is_some() {
                    position += 1;
                }
                let inside = own.contains(&at.min(planned.saturating_sub(1)));
                (inside && started.is_none_or(|s| *provisioned <= s))
                    .then(|| (id.clone(), at - own.start.min(at), at))
            }))
        }
        (Target::Release { .. }, DeviceList::Planned) => Box::new(
            fleet
                .targets(&plan.campaigns, c)
                .map(|(o, rank)| (fleet.device_id(o), rank, o)),
        ),
        (Target::Release { .. }, DeviceList::Read(ids)) => Box::new(
            fleet
                .targets(&plan.campaigns, c)
                .map(|(o, rank)| (fleet.device_id(o), rank, o))
                .filter(|(id, _, _)| ids.binary_search_by(|(d, _)| d.cmp(id)).is_ok()),
        ),
    }
}

/// How many devices [`campaign_targets`] gives, without making their ids
/// where it can.
pub(crate) fn campaign_target_count(
    plan: &TenantPlan,
    c: usize,
    slice: Range<usize>,
    list: &DeviceList,
    now: DateTime<FixedOffset>,
) -> u64 {
    match (plan.campaigns[c].target, list) {
        (Target::Slice { .. }, DeviceList::Planned) => slice.len() as u64,
        (Target::Release { .. }, DeviceList::Planned) => {
            plan.fleet.targets(&plan.campaigns, c).count() as u64
        }
        (_, DeviceList::Read(_)) => campaign_targets(plan, c, slice, list, now).count() as u64,
    }
}

/// One planned campaign as the status step sees it: its slice of the
/// tenant's devices (in device_id byte order) and its status rows.
pub(crate) struct CampaignSlice<'p> {
    pub seed: &'p CampaignSeed,
    /// The campaign's id; `None` while it does not exist.
    pub id: Option<i32>,
    pub devices: Range<usize>,
    /// The campaign's status rows now.
    pub have: u64,
}

/// The step's rule, which the dry run asks too: each planned campaign
/// targets its own slice of the tenant's `device_count` devices; one whose
/// row count matches its slice is complete (neither read nor re-sent).
pub(crate) fn campaign_slices<'p>(
    campaigns: &'p [CampaignSeed],
    id_of: impl Fn(&str) -> Option<i32>,
    rows_of: impl Fn(i32) -> u64,
    device_count: u64,
) -> Vec<CampaignSlice<'p>> {
    campaigns
        .iter()
        .enumerate()
        .map(|(index, seed)| {
            let id = id_of(&seed.name);
            CampaignSlice {
                seed,
                id,
                devices: CampaignSeed::slice(index, campaigns.len(), device_count as usize),
                have: id.map_or(0, &rows_of),
            }
        })
        .collect()
}

/// The rule for generating device ids instead of reading them: after the
/// devices step (which inserts every missing planned device), as many
/// devices as planned are exactly the planned fleet.
pub(crate) fn fleet_is_planned(devices_step_ran: bool, device_count: u64, planned: u64) -> bool {
    devices_step_ran && device_count == planned
}
