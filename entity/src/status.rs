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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_their_database_spelling() {
        for s in DeviceUpdateStatus::ALL {
            assert_eq!(s.as_str().parse::<DeviceUpdateStatus>(), Ok(*s));
        }
        for s in CampaignStatus::ALL {
            assert_eq!(s.as_str().parse::<CampaignStatus>(), Ok(*s));
        }
        assert_eq!(
            "canary".parse::<RolloutStrategy>(),
            Ok(RolloutStrategy::Canary)
        );
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
