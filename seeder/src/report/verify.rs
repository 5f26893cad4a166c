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

/// Up to this many campaigns, the plain report shows one line each;
/// beyond, their totals (every campaign stays in the JSON report).
pub const CAMPAIGNS_LISTED: usize = 20;
/// The violations the plain report lists; the rest are counted.
pub const VIOLATIONS_LISTED: usize = 20;

impl VerifyReport {
    /// The campaigns summed up, for a report over too many to list: how
    /// many, in how many tenants, by status, and their counters beside
    /// the status rows, summed.
    fn campaign_totals(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenants: std::collections::BTreeSet<&str> = self
            .campaigns
            .iter()
            .map(|c| c.tenant_id.as_str())
            .collect();
        let mut by_status: std::collections::BTreeMap<&str, usize> =
            std::collections::BTreeMap::new();
        for c in &self.campaigns {
            *by_status.entry(c.status.as_str()).or_default() += 1;
        }
        let by_status: Vec<String> = by_status
            .iter()
            .map(|(status, n)| format!("{status} {n}"))
            .collect();
        writeln!(
            f,
            "campaigns: {} in {} tenants ({}), too many to list one by one",
            self.campaigns.len(),
            tenants.len(),
            by_status.join(", ")
        )?;
        let sum = |field: fn(&CampaignBreakdown) -> i64| -> i64 {
            self.campaigns.iter().map(field).sum()
        };
        writeln!(
            f,
            "  summed (stored total/succeeded/failed | counted from status rows): \
             {} / {} / {} | {} rows, {} SUCCESS, {} FAILED",
            sum(|c| i64::from(c.total_devices)),
            sum(|c| i64::from(c.succeeded)),
            sum(|c| i64::from(c.failed)),
            sum(|c| c.rows),
            sum(|c| c.rows_success),
            sum(|c| c.rows_failed)
        )
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rows per table:")?;
        for (table, n) in &self.counts {
            writeln!(f, "  {table:<18} {n:>8}")?;
        }
        if self.campaigns.len() > CAMPAIGNS_LISTED {
            self.campaign_totals(f)?;
        } else if !self.campaigns.is_empty() {
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
            for v in self.violations.iter().take(VIOLATIONS_LISTED) {
                writeln!(f, "  {v}")?;
            }
            let more = self.violations.len().saturating_sub(VIOLATIONS_LISTED);
            if more > 0 {
                writeln!(f, "  … and {more} more")?;
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

    fn campaign(i: usize) -> CampaignBreakdown {
        CampaignBreakdown {
            id: i32::try_from(i).expect("small"),
            tenant_id: format!("tenant-{:04}", i.div_ceil(2)),
            name: format!("Campaign {i}"),
            status: if i.is_multiple_of(4) {
                "RUNNING"
            } else {
                "COMPLETED"
            }
            .to_owned(),
            abort_threshold: 0.2,
            total_devices: 3,
            succeeded: 2,
            failed: 1,
            rows: 3,
            rows_success: 2,
            rows_failed: 1,
        }
    }

    fn report(campaigns: usize, violations: usize) -> VerifyReport {
        VerifyReport {
            counts: vec![("tenants", 1000)],
            campaigns: (1..=campaigns).map(campaign).collect(),
            violations: (1..=violations)
                .map(|i| Violation::new(ViolationKind::BadChecksum, format!("row {i}"), "bad"))
                .collect(),
        }
    }

    /// Twenty campaigns: one line each, as always.
    #[test]
    fn twenty_campaigns_are_listed_one_by_one() {
        let text = report(20, 0).to_string();
        assert_eq!(text.lines().count(), 2 + 1 + 20 + 1, "{text}");
        assert!(text.contains("\n  tenant-0010  Campaign 20 "), "{text}");
    }

    /// 2000 campaigns of 1000 tenants, a quarter of them running: two
    /// lines of totals instead of 2000.
    #[test]
    fn more_campaigns_are_summed_up() {
        let text = report(2000, 0).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "rows per table:",
                "  tenants                1000",
                "campaigns: 2000 in 1000 tenants (COMPLETED 1500, RUNNING 500), too many \
                 to list one by one",
                "  summed (stored total/succeeded/failed | counted from status rows): \
                 6000 / 4000 / 2000 | 6000 rows, 4000 SUCCESS, 2000 FAILED",
                "invariants: all 11 hold",
            ]
        );
    }

    #[test]
    fn violations_beyond_twenty_are_counted() {
        let text = report(0, 25).to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + 1 + 20 + 1, "{text}");
        assert_eq!(lines[3], "  invariant 11: row 1: bad");
        assert_eq!(lines[22], "  invariant 11: row 20: bad");
        assert_eq!(lines[23], "  … and 5 more");
        assert_eq!(report(0, 20).to_string().lines().count(), 2 + 1 + 20);
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
