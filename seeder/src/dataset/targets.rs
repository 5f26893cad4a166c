//! Which devices each planned campaign reaches: the pure rules the
//! status rows' plan, the dry run and the dataset summary share. Nothing
//! here reads a database: the device list is given.

use std::ops::Range;

use chrono::{DateTime, FixedOffset};

use super::{CampaignSeed, Target, TenantPlan};

/// Where the tenant's device list comes from.
pub enum DeviceList {
    /// The database holds exactly the planned fleet: ids are generated.
    Planned,
    /// Anything else: ids read from the database with when each device was
    /// provisioned, sorted by id in byte order.
    Read(Vec<(String, DateTime<FixedOffset>)>),
}

/// The devices campaign `c` of the plan targets among `list`, in byte
/// order, as (device_id, rank among the campaign's planned targets,
/// position in the planned fleet). A slice campaign takes the devices of
/// `slice` in the list (planned or not) that were provisioned by the time
/// it started (a device added later joins only campaigns that start after
/// it, see invariant 7); a release campaign takes its planned targets that
/// are in the list.
pub fn campaign_targets<'a>(
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
pub fn campaign_target_count(
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
pub struct CampaignSlice {
    /// The campaign's id; `None` while it does not exist.
    pub id: Option<i32>,
    pub devices: Range<usize>,
    /// The campaign's status rows now.
    pub have: u64,
}

/// The step's rule, which the dry run asks too: each planned campaign
/// targets its own slice of the tenant's `device_count` devices; one whose
/// row count matches its slice is complete (neither read nor re-sent).
pub fn campaign_slices(
    campaigns: &[CampaignSeed],
    id_of: impl Fn(&str) -> Option<i32>,
    rows_of: impl Fn(i32) -> u64,
    device_count: u64,
) -> Vec<CampaignSlice> {
    campaigns
        .iter()
        .enumerate()
        .map(|(index, seed)| {
            let id = id_of(&seed.name);
            CampaignSlice {
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
pub fn fleet_is_planned(devices_step_ran: bool, device_count: u64, planned: u64) -> bool {
    devices_step_ran && device_count == planned
}
