use chrono::{DateTime, Duration, FixedOffset};
use entity::status::{CampaignStatus, DeviceUpdateStatus, RolloutStrategy};

/// A campaign; its conventional key is (tenant, name). Times are offsets from
/// the moment of the run, so the plan itself stays free of the clock.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSeed {
    pub name: String,
    pub firmware_version: &'static str,
    pub device_type: &'static str,
    pub target_group_id: &'static str,
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

impl CampaignSeed {
    pub fn started_at(&self, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        self.started_offset.map(|o| now + o)
    }
    pub fn completed_at(&self, now: DateTime<FixedOffset>) -> Option<DateTime<FixedOffset>> {
        self.completed_offset.map(|o| now + o)
    }

    /// The row of the device at `index` (devices in device_id byte order)
    /// among `count` targeted devices. For the demo campaign: the first
    /// device failed on a checksum mismatch, every other one succeeded;
    /// device i started 10 min × i after the campaign and finished 5 min × i
    /// after its completion.
    pub fn outcome(&self, index: usize, count: usize) -> DeviceStatusSeed {
        let start = self.started_offset.unwrap_or_default();
        let end = self.completed_offset.unwrap_or_default();
        // The dataset's 10/5-minute steps, narrowed for large fleets so the
        // last device still finishes after it started.
        let step = Duration::minutes(10).min(Duration::days(1) / count.max(1) as i32);
        let i = index as i32;
        let failed = index == 0;
        DeviceStatusSeed {
            status: if failed {
                DeviceUpdateStatus::Failed
            } else {
                DeviceUpdateStatus::Success
            },
            progress_pct: 100,
            error_message: failed.then_some(CHECKSUM_MISMATCH),
            started_offset: Some(start + step * i),
            completed_offset: Some(end + step / 2 * i),
        }
    }
}

pub(super) fn demo_campaigns() -> Vec<CampaignSeed> {
    vec![CampaignSeed {
        name: "Fleet Update to v1.1.0".to_owned(),
        firmware_version: "1.1.0",
        device_type: "sensor",
        target_group_id: "all",
        rollout_strategy: RolloutStrategy::Linear,
        rollout_rate: 20,
        abort_threshold: 0.1,
        status: CampaignStatus::Completed,
        started_offset: Some(-Duration::days(2)),
        completed_offset: Some(-Duration::days(1)),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_outcomes_follow_the_dataset() {
        let c = &demo_campaigns()[0];
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
        let c = &demo_campaigns()[0];
        let last = c.outcome(99_999, 100_000);
        assert!(last.completed_offset >= last.started_offset);
    }
}
