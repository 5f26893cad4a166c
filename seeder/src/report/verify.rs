use std::fmt;

/// One campaign as stored, beside what its status rows say.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CampaignBreakdown {
    pub id: i32,
    pub tenant_id: String,
    pub name: String,
    pub status: String,
    pub abort_threshold: f64,
    pub total_devices: i32,
    pub succeeded: i32,
    pub failed: i32,
    pub rows: i64,
    pub rows_success: i64,
    pub rows_failed: i64,
}

/// How many invariants `verify` checks (docs/dataset.md, "The invariants").
const INVARIANTS: u8 = 11;

/// A row that breaks one of the dataset's invariants (numbered as in
/// docs/dataset.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// The invariant's number in docs/dataset.md (1 to 11); always
    /// `kind.invariant()`.
    pub invariant: u8,
    /// Which of the checks found it (in `--json`, as `snake_case`).
    pub kind: ViolationKind,
    /// The row, as `ota_device_status id=… (tenant, campaign …, device …,
    /// STATUS)`, `ota_campaigns id=… (tenant, "name")`, `device_registry
    /// (tenant, device)` or `firmware_versions id=… (tenant, type,
    /// "version")`.
    pub row: String,
    /// What is wrong with the row, in words (with the figures involved
    /// where the kind has some).
    pub problem: String,
}

impl Violation {
    /// A violation of `kind` by `row`; its invariant is the kind's.
    pub fn new(kind: ViolationKind, row: impl Into<String>, problem: impl Into<String>) -> Self {
        Violation {
            invariant: kind.invariant(),
            kind,
            row: row.into(),
            problem: problem.into(),
        }
    }
}

/// Declares [`ViolationKind`], its invariant numbers and [`ViolationKind::ALL`]
/// from one list, so that no kind can be left out of `ALL`.
macro_rules! violation_kinds {
    ($($(#[doc = $doc:literal])* $kind:ident = $invariant:literal,)+) => {
        /// Every kind of violation `verify` reports: one per check, each
        /// belonging to one invariant of docs/dataset.md. New kinds may be
        /// added as checks are; [`ViolationKind::ALL`] lists them all.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        #[non_exhaustive]
        pub enum ViolationKind {
            $($(#[doc = $doc])* $kind,)+
        }

        impl ViolationKind {
            /// Every kind, in the order of the invariants (and within one,
            /// in the order `verify` reports them).
            pub const ALL: &'static [ViolationKind] = &[$(ViolationKind::$kind,)+];

            /// The number of the invariant this kind breaks (docs/dataset.md).
            pub const fn invariant(self) -> u8 {
                match self {
                    $(ViolationKind::$kind => $invariant,)+
                }
            }
        }
    };
}

violation_kinds! {
    /// 1: a campaign's total_devices, succeeded or failed is not the
    /// count of its status rows.
    CountersDiffer = 1,
    /// 2: a campaign's firmware belongs to another tenant.
    FirmwareOfAnotherTenant = 2,
    /// 2: a status row names a campaign of another tenant.
    CampaignOfAnotherTenant = 2,
    /// 2: a status row names a device not in device_registry for its
    /// tenant.
    DeviceNotRegistered = 2,
    /// 3: a `FAILED` status row without an error_message.
    FailedWithoutError = 3,
    /// 3: a status row with an error_message that is not `FAILED`.
    ErrorButNotFailed = 3,
    /// 3: a `SUCCESS` or `FAILED` row whose progress_pct is not 100.
    FinalNotAt100 = 3,
    /// 3: a `SUCCESS` or `FAILED` row without started_at or completed_at.
    FinalWithoutTimes = 3,
    /// 3: a `SUCCESS` or `FAILED` row completed before it started.
    FinalCompletedBeforeStarted = 3,
    /// 3: a `PENDING` row whose progress_pct is not 0.
    PendingWithProgress = 3,
    /// 3: a `PENDING` row with a started_at.
    PendingStarted = 3,
    /// 4: a row still `PENDING`, `DOWNLOADING` or `INSTALLING` in a
    /// `COMPLETED` or `ABORTED` campaign.
    UnfinishedRowInFinishedCampaign = 4,
    /// 4: a `COMPLETED` or `ABORTED` campaign without started_at or
    /// completed_at.
    FinishedCampaignWithoutTimes = 4,
    /// 4: a `COMPLETED` or `ABORTED` campaign completed before it started.
    FinishedCampaignCompletedBeforeStarted = 4,
    /// 4: a row other than `PENDING` in a `CREATED` campaign.
    StartedRowInCreatedCampaign = 4,
    /// 4: a `CREATED` campaign with a started_at.
    CreatedCampaignStarted = 4,
    /// 5: an `ABORTED` campaign whose failure ratio does not exceed its
    /// abort_threshold.
    AbortBelowThreshold = 5,
    /// 6: a device whose latest finished update succeeded, running other
    /// firmware than that update installed.
    OffLatestFinishedUpdate = 6,
    /// 7: a status row started before its device was provisioned.
    StartedBeforeProvisioning = 7,
    /// 7: a status row started before its campaign's firmware was created.
    StartedBeforeFirmware = 7,
    /// 8: a device in more than one `CREATED`, `RUNNING` or `PAUSED`
    /// campaign.
    SeveralUnfinishedCampaigns = 8,
    /// 9: a status row whose device is not of its campaign's firmware's
    /// device_type.
    WrongDeviceType = 9,
    /// 10: a device whose latest success is not its latest finished update
    /// (a failure came after), running other firmware than that success
    /// installed.
    OffLatestSuccess = 10,
    /// 10: a device without a successful update, running other firmware
    /// than its metadata says it was provisioned with.
    OffProvisionedFirmware = 10,
    /// 11: a checksum_sha256 that is not 64 lowercase hex digits.
    BadChecksum = 11,
    /// 11: a build's file_size_bytes not larger than that of the version
    /// before it on its line.
    SizeNotLarger = 11,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant {}: {}: {}",
            self.invariant, self.row, self.problem
        )
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct VerifyReport {
    pub counts: Vec<(&'static str, i64)>,
    pub campaigns: Vec<CampaignBreakdown>,
    pub violations: Vec<Violation>,
}

impl VerifyReport {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    pub fn count(&self, table: &str) -> i64 {
        self.counts
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |(_, n)| *n)
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rows per table:")?;
        for (table, n) in &self.counts {
            writeln!(f, "  {table:<18} {n:>8}")?;
        }
        if !self.campaigns.is_empty() {
            writeln!(
                f,
                "campaigns (stored total/succeeded/failed | counted from status rows):"
            )?;
            for c in &self.campaigns {
                writeln!(
                    f,
                    "  {:<12} {:<28} {:<9} {:>4} / {:>4} / {:>4} | {:>4} rows, {:>4} SUCCESS, {:>4} FAILED",
                    c.tenant_id,
                    c.name,
                    c.status,
                    c.total_devices,
                    c.succeeded,
                    c.failed,
                    c.rows,
                    c.rows_success,
                    c.rows_failed
                )?;
            }
        }
        if self.violations.is_empty() {
            writeln!(f, "invariants: all {INVARIANTS} hold")
        } else {
            writeln!(f, "invariants: {} violation(s):", self.violations.len())?;
            for v in &self.violations {
                writeln!(f, "  {v}")?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each of the eleven invariants has a kind, and `ALL` lists them in
    /// the invariants' order.
    #[test]
    fn kinds_cover_the_invariants_in_order() {
        let numbers: Vec<u8> = ViolationKind::ALL.iter().map(|k| k.invariant()).collect();
        let mut distinct = numbers.clone();
        distinct.dedup();
        assert_eq!(distinct, (1..=INVARIANTS).collect::<Vec<u8>>());
    }

    #[test]
    fn a_violation_carries_its_kinds_invariant_and_shows_as_before() {
        let v = Violation::new(ViolationKind::AbortBelowThreshold, "row", "problem");
        assert_eq!(v.invariant, 5);
        assert_eq!(v.to_string(), "invariant 5: row: problem");
        assert_eq!(
            serde_json::to_value(&v).expect("JSON"),
            serde_json::json!({
                "invariant": 5,
                "kind": "abort_below_threshold",
                "row": "row",
                "problem": "problem",
            })
        );
    }
}
