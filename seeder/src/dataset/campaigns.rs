use std::ops::Range;
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset};
use entity::status::{CampaignStatus, DeviceUpdateStatus, RolloutStrategy};

use super::FirmwareSeed;
use super::random::unit_interval;
use crate::scenario::{NewestState, ReleaseCampaigns};

/// A campaign; its conventional key is (tenant, name). Times are offsets from
/// the moment of the run, so the plan itself stays free of the clock.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSeed {
    pub name: String,
    pub firmware_version: String,
    pub device_type: String,
    pub target_group_id: String,
    pub rollout_strategy: RolloutStrategy,
    pub rollout_rate: i32,
    pub abort_threshold: f64,
    pub status: CampaignStatus,
    pub started_offset: Option<Duration>,
    pub completed_offset: Option<Duration>,
    /// `created_at`, from the run's moment.
    pub created_offset: Duration,
    /// Which devices it targets.
    pub target: Target,
    /// Releases mode: share of failed updates, and their messages.
    pub failure_rate: f64,
    pub failure_messages: Arc<[String]>,
}

/// The devices a campaign targets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Slice `index` of `of` equal slices of the fleet (device_id order).
    Slice { index: usize, of: usize },
    /// The devices of one type provisioned with an older release than
    /// `release` (index in the line), not revoked before `start_days` ago
    /// (`None`: not started; revoked devices are skipped).
    Release {
        device_type: usize,
        release: usize,
        start_days: Option<f64>,
        /// The campaign's position, which varies its random draws.
        salt: u64,
    },
}

/// One device's row in a campaign, as offsets from the run's moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatusSeed {
    pub status: DeviceUpdateStatus,
    pub progress_pct: i32,
    pub error_message: Option<Arc<str>>,
    pub started_offset: Option<Duration>,
    pub completed_offset: Option<Duration>,
}

impl DeviceStatusSeed {
    /// A row, by its fields in the table's order.
    fn new(
        status: DeviceUpdateStatus,
        progress_pct: i32,
        error_message: Option<Arc<str>>,
        started_offset: Option<Duration>,
        completed_offset: Option<Duration>,
    ) -> DeviceStatusSeed {
        DeviceStatusSeed {
            status,
            progress_pct,
            error_message,
            started_offset,
            completed_offset,
        }
    }

    pub fn started_at(&self, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        self.started_offset.map(|o| now + o)
    }
    pub fn completed_at(&self, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        self.completed_offset.map(|o| now + o)
    }
}

pub const CHECKSUM_MISMATCH: &str = "Checksum mismatch after download";
pub const INSTALL_TIMEOUT: &str = "Install timed out; rolled back to previous firmware";

/// Campaign states in the order extra campaigns take them; campaign 0 is
/// always the demo's COMPLETED rollout.
const STATES: [CampaignStatus; 5] = [
    CampaignStatus::Completed,
    CampaignStatus::Running,
    CampaignStatus::Paused,
    CampaignStatus::Aborted,
    CampaignStatus::Created,
];

/// What a device is, cheaply (no hashing of strings): enough to tell
/// which campaigns target it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeviceFacts {
    pub device_type: usize,
    /// Days before the run it was provisioned (`None`: on a fixed date).
    pub provisioned_days: Option<f64>,
    /// Index in its line of the release it was provisioned with.
    pub provisioned_release: usize,
    /// Days before the run it was revoked.
    pub revoked_days: Option<f64>,
}

impl CampaignSeed {
    pub fn started_at(&self, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        self.started_offset.map(|o| now + o)
    }
    pub fn completed_at(&self, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        self.completed_offset.map(|o| now + o)
    }
    /// When the campaign was created: after its firmware's release, before
    /// it started.
    pub fn created_at(&self, now: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
        now + self.created_offset
    }

    /// Whether a release campaign targets a device (always false for a
    /// slice campaign, whose devices are positions).
    pub fn targets(&self, device: &DeviceFacts) -> bool {
        match self.target {
            Target::Slice { .. } => false,
            Target::Release {
                device_type,
                release,
                start_days,
                ..
            } => {
                device.device_type == device_type
                    && device.provisioned_release < release
                    && match (device.revoked_days, start_days) {
                        (None, _) => true,
                        // Revoked after the campaign started.
                        (Some(revoked), Some(start)) => revoked < start,
                        (Some(_), None) => false,
                    }
            }
        }
    }

    /// The row of the device at `rank` among a release campaign's targets
    /// (ordinal: its position in the tenant's fleet, for random draws).
    pub fn release_outcome(
        &self,
        rank: usize,
        seed: u64,
        stream: u64,
        ordinal: usize,
    ) -> DeviceStatusSeed {
        let salt = match self.target {
            Target::Release { salt, .. } => salt,
            Target::Slice { .. } => 0,
        };
        let random = |k: u64| unit_interval(seed, stream, ordinal as u64, salt * 16 + k);
        let start = self.started_offset.unwrap_or_default();
        let message = || {
            let n = self.failure_messages.len().max(1);
            self.failure_messages
                .get((random(3) * n as f64) as usize % n)
                .map(|m| Arc::from(m.as_str()))
        };
        use DeviceUpdateStatus::*;
        let row = DeviceStatusSeed::new;
        let minutes = |m: f64| Duration::seconds((m * 60.0).round() as i64);
        // Rows start within the part of the rollout that has happened.
        let span = match (self.status, self.completed_offset) {
            (_, Some(done)) => (done - start) * 4 / 5,
            // Still going: up to half an hour before the run.
            _ => (-start - Duration::minutes(30)).max(Duration::zero()),
        };
        let started = start + Duration::seconds((span.num_seconds() as f64 * random(1)) as i64);
        let install = minutes(5.0 + 10.0 * random(2));
        // Never after the run's moment.
        let finished = (started + install).min(Duration::zero());
        match self.status {
            CampaignStatus::Completed => {
                // Exactly round(rate × n) failures among any n ranks, spread
                // by a phase of the campaign's own.
                let phase = unit_interval(seed, stream, u64::MAX, salt);
                let fails = |j: usize| {
                    ((j as f64 + 1.0) * self.failure_rate + phase).floor()
                        > (j as f64 * self.failure_rate + phase).floor()
                };
                if fails(rank) {
                    row(Failed, 100, message(), Some(started), Some(finished))
                } else {
                    row(Success, 100, None, Some(started), Some(finished))
                }
            }
            CampaignStatus::Aborted => match rank % 4 {
                0 => row(Failed, 100, message(), Some(started), Some(finished)),
                1 => row(Success, 100, None, Some(started), Some(finished)),
                _ => row(Skipped, 0, None, None, None),
            },
            CampaignStatus::Running => match rank % 5 {
                0 | 4 => row(Success, 100, None, Some(started), Some(finished)),
                1 => row(Downloading, 40, None, Some(started), None),
                2 => row(Installing, 80, None, Some(started), None),
                _ => row(Pending, 0, None, None, None),
            },
            CampaignStatus::Paused => match rank % 3 {
                0 => row(Success, 100, None, Some(started), Some(finished)),
                1 => row(Downloading, 25, None, Some(started), None),
                _ => row(Pending, 0, None, None, None),
            },
            CampaignStatus::Created => row(Pending, 0, None, None, None),
        }
    }

    /// The devices (by index in device_id order) campaign `index` of
    /// `campaigns` targets among `devices`: one contiguous slice each, so
    /// every device is in exactly one campaign (all of them when there is one).
    pub fn slice(index: usize, campaigns: usize, devices: usize) -> Range<usize> {
        let k = campaigns.max(1);
        (index * devices / k)..((index + 1) * devices / k)
    }

    /// The row of the device at `index` of the campaign's `count` targeted
    /// devices (in device_id byte order). Every state's rows satisfy the
    /// invariants of docs/dataset.md.
    pub fn outcome(&self, index: usize, count: usize) -> DeviceStatusSeed {
        let start = self.started_offset.unwrap_or_default();
        // The dataset's 10-minute step, narrowed for large fleets so the
        // last device still finishes within the campaign's day.
        let step = Duration::minutes(10).min(Duration::days(1) / count.max(1) as i32);
        let i = index as i32;
        let started = Some(start + step * i);
        use DeviceUpdateStatus::*;
        let row = DeviceStatusSeed::new;
        match self.status {
            // docs/dataset.md: the first device failed, all others succeeded;
            // device i started 10 min × i after the campaign and finished
            // 5 min × i after its completion.
            CampaignStatus::Completed => {
                let completed = Some(self.completed_offset.unwrap_or_default() + step / 2 * i);
                if index == 0 {
                    row(
                        Failed,
                        100,
                        Some(Arc::from(CHECKSUM_MISMATCH)),
                        started,
                        completed,
                    )
                } else {
                    row(Success, 100, None, started, completed)
                }
            }
            // Failures well above the 10% threshold; the rest never ran.
            CampaignStatus::Aborted => match index % 4 {
                0 => row(
                    Failed,
                    100,
                    Some(Arc::from(INSTALL_TIMEOUT)),
                    started,
                    started.map(|s| s + Duration::minutes(7)),
                ),
                1 => row(
                    Success,
                    100,
                    None,
                    started,
                    started.map(|s| s + Duration::minutes(5)),
                ),
                _ => row(Skipped, 0, None, None, None),
            },
            CampaignStatus::Running => match index % 5 {
                0 | 4 => row(
                    Success,
                    100,
                    None,
                    started,
                    started.map(|s| s + Duration::minutes(5)),
                ),
                1 => row(Downloading, 40, None, started, None),
                2 => row(Installing, 80, None, started, None),
                _ => row(Pending, 0, None, None, None),
            },
            CampaignStatus::Paused => match index % 3 {
                0 => row(
                    Success,
                    100,
                    None,
                    started,
                    started.map(|s| s + Duration::minutes(5)),
                ),
                1 => row(Downloading, 25, None, started, None),
                _ => row(Pending, 0, None, None, None),
            },
            CampaignStatus::Created => row(Pending, 0, None, None, None),
        }
    }
}

/// `count` campaigns: the demo's completed rollout of `line[1]` first,
/// then one per state in turn, alternating linear and canary, campaign `i`
/// rolling out `line[i + 1]` to its slice of the fleet.
pub(super) fn slice_campaigns(count: usize, line: &[FirmwareSeed]) -> Vec<CampaignSeed> {
    let count = count.max(1);
    (0..count)
        .filter_map(|index| {
            let firmware = line.get(index + 1)?;
            let status = STATES[index % STATES.len()];
            let (started, completed) = match status {
                CampaignStatus::Completed => (Some(-Duration::days(2)), Some(-Duration::days(1))),
                CampaignStatus::Aborted => (Some(-Duration::days(3)), Some(-Duration::days(2))),
                CampaignStatus::Running => (Some(-Duration::hours(6)), None),
                CampaignStatus::Paused => (Some(-Duration::days(1)), None),
                CampaignStatus::Created => (None, None),
            };
            let canary = index % 2 == 1;
            Some(CampaignSeed {
                name: format!("Fleet Update to v{}", firmware.version),
                firmware_version: firmware.version.clone(),
                device_type: firmware.device_type.clone(),
                target_group_id: if count == 1 {
                    "all".to_owned()
                } else {
                    format!("group-{:02}", index + 1)
                },
                rollout_strategy: if canary {
                    RolloutStrategy::Canary
                } else {
                    RolloutStrategy::Linear
                },
                rollout_rate: if canary { 5 } else { 20 },
                abort_threshold: 0.1,
                status,
                started_offset: started,
                completed_offset: completed,
                created_offset: started.unwrap_or_default() - Duration::hours(1),
                target: Target::Slice { index, of: count },
                failure_rate: 0.0,
                failure_messages: Arc::from(Vec::new()),
            })
        })
        .collect()
}

/// A campaign for every release after the first of each line (`lines[t]`
/// is device type `t`'s), in line order, then release order.
pub(super) fn release_campaigns(
    spec: &ReleaseCampaigns,
    lines: &[Vec<FirmwareSeed>],
) -> Vec<CampaignSeed> {
    let messages: Arc<[String]> = Arc::from(spec.failure_messages.clone());
    let days = |d: f64| Duration::seconds((d * 86_400.0).round() as i64);
    let mut campaigns = Vec::new();
    for (t, line) in lines.iter().enumerate() {
        let Some(device_type) = line.first().map(|f| f.device_type.clone()) else {
            continue;
        };
        let newest_state = spec
            .now
            .iter()
            .find(|n| n.device_type == device_type)
            .map_or(NewestState::Completed, |n| n.state);
        for (r, firmware) in line.iter().enumerate().skip(1) {
            let released_days = match firmware.released {
                super::Moment::FromNow(o) => -o.num_seconds() as f64 / 86_400.0,
                // Checked away for this mode: release times are relative.
                super::Moment::Date(_) => 0.0,
            };
            let start_days = released_days - spec.lag_days;
            let aborted = spec
                .aborted
                .iter()
                .any(|a| a.device_type == device_type && a.version.to_string() == firmware.version);
            let state = if r + 1 == line.len() {
                newest_state
            } else {
                NewestState::Completed
            };
            let start = -days(start_days);
            let (status, started, completed) = match state {
                NewestState::Scheduled => (CampaignStatus::Created, None, None),
                NewestState::Running => (CampaignStatus::Running, Some(start), None),
                NewestState::Paused => (CampaignStatus::Paused, Some(start), None),
                NewestState::Completed if aborted => (
                    CampaignStatus::Aborted,
                    Some(start),
                    Some(start + days(spec.duration_days * 0.3)),
                ),
                NewestState::Completed => (
                    CampaignStatus::Completed,
                    Some(start),
                    Some(start + days(spec.duration_days)),
                ),
            };
            let canary = r % 2 == 0;
            let index = campaigns.len();
            campaigns.push(CampaignSeed {
                name: format!("{} {} rollout", capitalised(&device_type), firmware.version),
                firmware_version: firmware.version.clone(),
                device_type: device_type.clone(),
                target_group_id: format!("all-{device_type}s"),
                rollout_strategy: if canary {
                    RolloutStrategy::Canary
                } else {
                    RolloutStrategy::Linear
                },
                rollout_rate: if canary { 5 } else { 20 },
                abort_threshold: spec.abort_threshold,
                status,
                started_offset: started,
                completed_offset: completed,
                // Soon after the release: before the start, and not after
                // the run's moment.
                created_offset: (-days(released_days)
                    + Duration::hours(1).min(days(spec.lag_days) / 2))
                .min(Duration::zero()),
                target: Target::Release {
                    device_type: t,
                    release: r,
                    start_days: started.map(|_| start_days),
                    salt: index as u64 + 1,
                },
                failure_rate: spec.failure_rate,
                failure_messages: messages.clone(),
            });
        }
    }
    campaigns
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaigns_for(count: usize) -> Vec<CampaignSeed> {
        let demo = crate::scenario::Scenario::demo();
        let line = super::super::firmware::line_releases(&demo.device_types[0], count + 1);
        slice_campaigns(count, &line)
    }

    #[test]
    fn demo_outcomes_follow_the_dataset() {
        let c = &campaigns_for(1)[0];
        assert_eq!(
            (c.name.as_str(), c.target_group_id.as_str()),
            ("Fleet Update to v1.1.0", "all")
        );
        let first = c.outcome(0, 15);
        assert_eq!(first.status, DeviceUpdateStatus::Failed);
        assert_eq!(first.error_message.as_deref(), Some(CHECKSUM_MISMATCH));
        assert_eq!(first.started_offset, Some(-Duration::days(2)));
        let third = c.outcome(2, 15);
        assert_eq!(third.status, DeviceUpdateStatus::Success);
        assert_eq!(third.error_message, None);
        assert_eq!(third.progress_pct, 100);
        assert_eq!(
            third.started_offset,
            Some(-Duration::days(2) + Duration::minutes(20))
        );
        assert_eq!(
            third.completed_offset,
            Some(-Duration::days(1) + Duration::minutes(10))
        );
    }

    #[test]
    fn large_fleets_still_finish_after_they_start() {
        let c = &campaigns_for(1)[0];
        let last = c.outcome(99_999, 100_000);
        assert!(last.completed_offset >= last.started_offset);
    }

    #[test]
    fn five_campaigns_cover_every_state_and_partition_the_fleet() {
        let cs = campaigns_for(5);
        let states: Vec<_> = cs.iter().map(|c| c.status).collect();
        assert_eq!(states, STATES);
        let slices: Vec<_> = (0..5).map(|i| CampaignSeed::slice(i, 5, 103)).collect();
        assert_eq!(slices.first().map(|s| s.start), Some(0));
        assert_eq!(slices.last().map(|s| s.end), Some(103));
        assert!(slices.windows(2).all(|w| w[0].end == w[1].start));
        let aborted = &cs[3];
        let n = 40;
        let failed = (0..n)
            .filter(|&i| aborted.outcome(i, n).status == DeviceUpdateStatus::Failed)
            .count();
        assert!(failed as f64 / n as f64 > aborted.abort_threshold);
    }
}
