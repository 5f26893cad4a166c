//! The `[campaigns]` table as a file writes it: one table whose keys
//! depend on `targets`. Read field by field (so that toml reports a wrong
//! key or value at its own line and column, which a tagged enum's buffered
//! reading cannot), then turned into [`CampaignsSpec`].

use serde::Deserialize;

use super::{CampaignRef, CampaignsSpec, NowState, ReleaseCampaigns, SliceCampaigns, values};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Targets {
    Slices,
    Releases,
}

/// Every key of both kinds; which are required depends on `targets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignsFile {
    targets: Targets,
    #[serde(default, deserialize_with = "opt_at_least_one")]
    per_tenant: Option<u64>,
    #[serde(default, deserialize_with = "opt_days")]
    lag_days: Option<f64>,
    #[serde(default, deserialize_with = "opt_days")]
    duration_days: Option<f64>,
    #[serde(default, deserialize_with = "opt_fraction")]
    failure_rate: Option<f64>,
    #[serde(default)]
    failure_messages: Option<Vec<String>>,
    #[serde(default, deserialize_with = "opt_fraction")]
    abort_threshold: Option<f64>,
    #[serde(default)]
    aborted: Vec<CampaignRef>,
    #[serde(default)]
    now: Vec<NowState>,
}

fn opt_at_least_one<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    values::at_least_one(d).map(Some)
}
fn opt_days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    values::days(d).map(Some)
}
fn opt_fraction<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    values::fraction(d).map(Some)
}

impl TryFrom<CampaignsFile> for CampaignsSpec {
    type Error = String;

    fn try_from(f: CampaignsFile) -> Result<CampaignsSpec, String> {
        match f.targets {
            Targets::Slices => {
                let extra: Vec<&str> = [
                    ("lag_days", f.lag_days.is_some()),
                    ("duration_days", f.duration_days.is_some()),
                    ("failure_rate", f.failure_rate.is_some()),
                    ("failure_messages", f.failure_messages.is_some()),
                    ("abort_threshold", f.abort_threshold.is_some()),
                    ("aborted", !f.aborted.is_empty()),
                    ("now", !f.now.is_empty()),
                ]
                .into_iter()
                .filter_map(|(k, set)| set.then_some(k))
                .collect();
                if !extra.is_empty() {
                    return Err(format!(
                        "with targets = \"slices\" campaigns take only per_tenant; {} belong to targets = \"releases\"",
                        extra.join(", ")
                    ));
                }
                Ok(CampaignsSpec::Slices(SliceCampaigns {
                    per_tenant: f.per_tenant.unwrap_or(1),
                }))
            }
            Targets::Releases => {
                if f.per_tenant.is_some() {
                    return Err(
                        "with targets = \"releases\" there is one campaign per release: per_tenant belongs to targets = \"slices\"".to_owned(),
                    );
                }
                let missing: Vec<&str> = [
                    ("lag_days", f.lag_days.is_none()),
                    ("duration_days", f.duration_days.is_none()),
                    ("failure_rate", f.failure_rate.is_none()),
                    ("abort_threshold", f.abort_threshold.is_none()),
                ]
                .into_iter()
                .filter_map(|(k, gone)| gone.then_some(k))
                .collect();
                if !missing.is_empty() {
                    return Err(format!(
                        "targets = \"releases\" needs {}",
                        missing.join(", ")
                    ));
                }
                Ok(CampaignsSpec::Releases(ReleaseCampaigns {
                    lag_days: f.lag_days.unwrap_or_default(),
                    duration_days: f.duration_days.unwrap_or_default(),
                    failure_rate: f.failure_rate.unwrap_or_default(),
                    failure_messages: f.failure_messages.unwrap_or_default(),
                    abort_threshold: f.abort_threshold.unwrap_or_default(),
                    aborted: f.aborted,
                    now: f.now,
                }))
            }
        }
    }
}
