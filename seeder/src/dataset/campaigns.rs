use std::ops::Range;

use chrono::{DateTime, Duration, FixedOffset};
use entity::status::{CampaignStatus, DeviceUpdateStatus, RolloutStrategy};

use super::firmware::{DEVICE_TYPE, campaign_version};

/// A campaign; its conventional key is (tenant, name). Times are offsets from
/// the moment of the run, so the plan itself stays free of the clock.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSeed {
    pub name: String,
    pub firmware_version: String,
    pub device_type: &'static str,
    pub target_group_id: String,
    pub rollout_strategy: RolloutStrategy,
    pub rollout_rate: i32,
    pub abort_threshold: f64,
    pub status: CampaignStatus,
    pub started_offset: Option<Duration>,
    pub completed_offset: Option<Duration>,
}

/// One device's row in a campaign, as offsets from the run's moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStatusSeed {
    pub status: DeviceUpdateStatus,
    pub progress_pct: i32,
    pub error_message: Option<&'static str>,
    pub started_offset: Option<Duration>,
    pub completed_offset: Option<Duration>,
}

impl DeviceStatusSeed {
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

impl CampaignSeed {
    pub fn started_at(&self, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        self.started_offset.map(|o| now + o)
    }
    pub fn completed_at(&self, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        self.completed_offset.map(|o| now + o)
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
        let row = |status, progress_pct, error_message, started_offset, completed_offset| {
            DeviceStatusSeed {
                status,
                progress_pct,
                error_message,
                started_offset,
                completed_offset,
            }
        };
        match self.status {
            // docs/dataset.md: the first device failed, all others succeeded;
            // device i started 10 min × i after the campaign and finished
            // 5 min × i after its completion.
            CampaignStatus::Completed => {
                let completed = Some(self.completed_offset.unwrap_or_default() + step / 2 * i);
                if index == 0 {
                    row(Failed, 100, Some(CHECKSUM_MISMATCH), started, completed)
                } else {
                    row(Success, 100, None, started, completed)
                }
            }
            // Failures well above the 10% threshold; the rest never ran.
            CampaignStatus::Aborted => match index % 4 {
                0 => row(
                    Failed,
                    100,
                    Some(INSTALL_TIMEOUT),
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

/// `count` campaigns: the demo's completed rollout to 1.1.0 first, then one
/// per state in turn, alternating linear and canary.
pub(super) fn campaigns_for(count: usize) -> Vec<CampaignSeed> {
    let count = count.max(1);
    (0..count)
        .map(|index| {
            let status = STATES[index % STATES.len()];
            let version = campaign_version(index);
            let (started, completed) = match status {
                CampaignStatus::Completed => (Some(-Duration::days(2)), Some(-Duration::days(1))),
                CampaignStatus::Aborted => (Some(-Duration::days(3)), Some(-Duration::days(2))),
                CampaignStatus::Running => (Some(-Duration::hours(6)), None),
                CampaignStatus::Paused => (Some(-Duration::days(1)), None),
                CampaignStatus::Created => (None, None),
            };
            let canary = index % 2 == 1;
            CampaignSeed {
                name: format!("Fleet Update to v{version}"),
                firmware_version: version,
                device_type: DEVICE_TYPE,
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
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_outcomes_follow_the_dataset() {
        let c = &campaigns_for(1)[0];
        assert_eq!(
            (c.name.as_str(), c.target_group_id.as_str()),
            ("Fleet Update to v1.1.0", "all")
        );
        let first = c.outcome(0, 15);
        assert_eq!(first.status, DeviceUpdateStatus::Failed);
        assert_eq!(first.error_message, Some(CHECKSUM_MISMATCH));
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
