//! Typed forms of the string values the schema's CHECK constraints allow.
//!
//! The columns stay `String` in the generated models (the platform stores
//! plain VARCHARs); these enums give application code one spelling of each
//! value, so `"SUCCEEDED"` (which the database rejects) cannot be typed.

use std::fmt;
use std::str::FromStr;

/// A value outside the set a CHECK constraint allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {:?}", self.kind, self.value)
    }
}

impl std::error::Error for UnknownValue {}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The exact value stored in the database.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue { kind: $kind, value: s.to_owned() }),
                }
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.as_str().to_owned()
            }
        }
    };
}

string_enum!(
    /// `ota_device_status.status`.
    DeviceUpdateStatus, "device update status", {
        Pending => "PENDING",
        Downloading => "DOWNLOADING",
        Installing => "INSTALLING",
        Success => "SUCCESS",
        Failed => "FAILED",
        Skipped => "SKIPPED",
    }
);

string_enum!(
    /// `ota_campaigns.status`.
    CampaignStatus, "campaign status", {
        Created => "CREATED",
        Running => "RUNNING",
        Paused => "PAUSED",
        Completed => "COMPLETED",
        Aborted => "ABORTED",
    }
);

string_enum!(
    /// `ota_campaigns.rollout_strategy`.
    RolloutStrategy, "rollout strategy", {
        Linear => "linear",
        Canary => "canary",
    }
);

impl DeviceUpdateStatus {
    /// A device's update has ended, well or badly.
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Success | Self::Failed)
    }

    /// The device is still working on the update.
    pub const fn is_in_flight(self) -> bool {
        matches!(self, Self::Downloading | Self::Installing)
    }
}

impl CampaignStatus {
    /// The campaign has ended and no device may still be working on it.
    pub const fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Aborted)
    }
}

impl crate::ota_device_status::Model {
    /// The row's `status`, typed. Errors name a value outside the set the
    /// schema's CHECK allows (a row written past the constraint).
    pub fn status(&self) -> Result<DeviceUpdateStatus, UnknownValue> {
        self.status.parse()
    }
}

impl crate::ota_campaigns::Model {
    /// The campaign's `status`, typed (see [`CampaignStatus`]).
    pub fn status(&self) -> Result<CampaignStatus, UnknownValue> {
        self.status.parse()
    }

    /// The campaign's `rollout_strategy`, typed (see [`RolloutStrategy`]).
    pub fn rollout_strategy(&self) -> Result<RolloutStrategy, UnknownValue> {
        self.rollout_strategy.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The values the platform's CHECK constraints allow, typed out from
    // docs/schema.md rather than taken from the macro, in its order.
    // (tests/tests/schema_constraints.rs compares the enums with the CHECKs
    // of a live schema on every backend.)
    const DEVICE_UPDATE_STATUSES: [&str; 6] = [
        "PENDING",
        "DOWNLOADING",
        "INSTALLING",
        "SUCCESS",
        "FAILED",
        "SKIPPED",
    ];
    const CAMPAIGN_STATUSES: [&str; 5] = ["CREATED", "RUNNING", "PAUSED", "COMPLETED", "ABORTED"];
    const ROLLOUT_STRATEGIES: [&str; 2] = ["linear", "canary"];

    #[test]
    fn models_read_their_status_columns_typed() {
        let row = crate::ota_device_status::Model {
            id: 1,
            tenant_id: "tenant-a".to_owned(),
            campaign_id: 1,
            device_id: "d".to_owned(),
            status: "FAILED".to_owned(),
            progress_pct: 100,
            error_message: Some("Checksum mismatch after download".to_owned()),
            started_at: None,
            completed_at: None,
            created_at: chrono::DateTime::UNIX_EPOCH.fixed_offset(),
        };
        assert_eq!(row.status(), Ok(DeviceUpdateStatus::Failed));
        let odd = crate::ota_device_status::Model {
            status: "SUCCEEDED".to_owned(),
            ..row
        };
        assert_eq!(
            odd.status().map_err(|e| e.to_string()),
            Err("unknown device update status \"SUCCEEDED\"".to_owned())
        );
    }

    #[test]
    fn every_schema_value_has_exactly_one_variant_that_spells_it() {
        fn check<T: FromStr<Err = UnknownValue> + Copy + PartialEq + fmt::Debug>(
            values: &[&str],
            all: &[T],
            as_str: fn(T) -> &'static str,
        ) {
            for v in values {
                let parsed: T = v.parse().unwrap_or_else(|e| panic!("{v}: {e}"));
                assert_eq!(as_str(parsed), *v, "{v} reads back as another value");
            }
            let spelled: Vec<&str> = all.iter().map(|t| as_str(*t)).collect();
            assert_eq!(spelled, values, "ALL lists exactly the schema's values");
        }
        check(
            &DEVICE_UPDATE_STATUSES,
            DeviceUpdateStatus::ALL,
            DeviceUpdateStatus::as_str,
        );
        check(
            &CAMPAIGN_STATUSES,
            CampaignStatus::ALL,
            CampaignStatus::as_str,
        );
        check(
            &ROLLOUT_STRATEGIES,
            RolloutStrategy::ALL,
            RolloutStrategy::as_str,
        );
    }

    #[test]
    fn spellings_are_exact() {
        // Case and neighbours of the real values are refused.
        for v in [
            "success", "Success", "SUCCESS ", "LINEAR", "Canary", "created",
        ] {
            assert!(v.parse::<DeviceUpdateStatus>().is_err(), "{v:?}");
            assert!(v.parse::<CampaignStatus>().is_err(), "{v:?}");
            assert!(v.parse::<RolloutStrategy>().is_err(), "{v:?}");
        }
    }

    #[test]
    fn the_platform_guess_succeeded_is_not_a_status() {
        let err = "SUCCEEDED".parse::<DeviceUpdateStatus>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown device update status \"SUCCEEDED\""
        );
    }
}
