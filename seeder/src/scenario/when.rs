//! A point in time as a scenario file writes it: `"2024-01-15"` (midnight
//! UTC of that date) or `"90 days ago"` (relative to the run's moment).

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Moment;

/// A date or a number of days before the run (fractions allowed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    Date(NaiveDate),
    DaysAgo(f64),
}

impl When {
    /// On the dataset's timeline.
    pub fn moment(self) -> Moment {
        match self {
            When::Date(date) => Moment::Date(date),
            When::DaysAgo(days) => Moment::days_ago(days),
        }
    }

    /// Days before the run, when the time is relative.
    pub fn days_ago(self) -> Option<f64> {
        match self {
            When::DaysAgo(days) => Some(days),
            When::Date(_) => None,
        }
    }
}

impl std::str::FromStr for When {
    type Err = String;

    fn from_str(text: &str) -> Result<When, String> {
        let text = text.trim();
        if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(When::Date(date));
        }
        let days = text
            .strip_suffix("days ago")
            .or_else(|| text.strip_suffix("day ago"))
            .map(str::trim)
            .and_then(|n| n.parse::<f64>().ok());
        match days {
            Some(days) if days.is_finite() && (0.0..=36_500.0).contains(&days) => {
                Ok(When::DaysAgo(days))
            }
            _ => Err(format!(
                "{text:?} is not a time: write a date (\"2024-01-15\") or \"N days ago\" with N from 0 to 36500"
            )),
        }
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            When::Date(date) => write!(f, "{}", date.format("%Y-%m-%d")),
            When::DaysAgo(days) if *days == 1.0 => write!(f, "1 day ago"),
            When::DaysAgo(days) => write!(f, "{days} days ago"),
        }
    }
}

impl Serialize for When {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for When {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<When, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_days_ago() {
        assert_eq!(
            "2024-01-15".parse::<When>(),
            Ok(When::Date(
                NaiveDate::from_ymd_opt(2024, 1, 15).expect("date")
            ))
        );
        assert_eq!("90 days ago".parse::<When>(), Ok(When::DaysAgo(90.0)));
        assert_eq!("1 day ago".parse::<When>(), Ok(When::DaysAgo(1.0)));
        assert_eq!("0.5 days ago".parse::<When>(), Ok(When::DaysAgo(0.5)));
        assert!("-3 days ago".parse::<When>().is_err());
        assert!("tomorrow".parse::<When>().is_err());
        assert_eq!(When::DaysAgo(90.0).to_string(), "90 days ago");
    }
}
