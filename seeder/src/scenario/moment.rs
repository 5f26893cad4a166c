//! When something happened in the dataset: a fixed date, or a time relative
//! to the run's moment. The plan stays free of the clock; the steps resolve
//! a moment against the run's `now` (one instant per run). It lives with
//! the scenario, whose times ([`super::When`]) are moments: the generator
//! takes it from here, never the other way round.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone as _, Utc};

/// A point on the dataset's timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Moment {
    /// Midnight UTC of a calendar date (the demo's devices were installed
    /// on 2024-01-15 and say so in their metadata).
    Date(NaiveDate),
    /// This long after the run's moment (negative: before it).
    FromNow(Duration),
}

impl Moment {
    /// `days` (fractional) before the run.
    pub fn days_ago(days: f64) -> Moment {
        Moment::FromNow(-Duration::seconds((days * 86_400.0).round() as i64))
    }

    /// The instant, for a run at `now`.
    pub fn at(self, now: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
        match self {
            Moment::Date(date) => {
                let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
                Utc.from_utc_datetime(&midnight).fixed_offset()
            }
            Moment::FromNow(offset) => now + offset,
        }
    }
}
