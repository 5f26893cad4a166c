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
    pub invariant: u8,
    pub row: String,
    pub problem: String,
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
