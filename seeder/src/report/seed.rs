//! What a seeding run (or a dry run) did, per table.

use std::collections::BTreeMap;
use std::fmt;

use super::SchemaReport;
use crate::table::Table;

/// Rows of one table: inserted now, wanted and already there, and existing
/// rows brought in line with the data (campaign counters, a device's
/// firmware after a newly recorded successful update).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableCounts {
    pub inserted: u64,
    pub present: u64,
    pub updated: u64,
    /// Rows sent that the database neither stored nor refused with an
    /// error (a trigger or a rule dropped them).
    pub declined: u64,
}

impl std::ops::AddAssign for TableCounts {
    fn add_assign(&mut self, other: TableCounts) {
        self.inserted += other.inserted;
        self.present += other.present;
        self.updated += other.updated;
        self.declined += other.declined;
    }
}

/// Per-table totals of a run, in dependency order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeedReport {
    pub tables: BTreeMap<Table, TableCounts>,
    pub tenants: Vec<String>,
    /// Tenant transactions started again after a transient error.
    pub retries: u64,
    /// Set when a stop was requested before every tenant was seeded.
    pub stopped: Option<Stopped>,
    /// Existing rows left as found although they differ from the dataset.
    pub differing: Vec<DifferingRow>,
    /// How the schema stood (and what was migrated) before seeding.
    pub schema: Option<SchemaReport>,
    /// Wall time of the seeding itself, in seconds (not migrations).
    pub seconds: f64,
}

/// How a run that was asked to stop ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stopped {
    /// The tenants whose open transactions were rolled back, in dataset
    /// order: at most one with one job, none when the stop came between
    /// tenants.
    pub rolled_back: Vec<String>,
}

impl SeedReport {
    pub fn add(&mut self, table: Table, counts: TableCounts) {
        *self.tables.entry(table).or_default() += counts;
    }

    pub fn inserted_total(&self) -> u64 {
        self.tables.values().map(|c| c.inserted).sum()
    }

    pub fn updated_total(&self) -> u64 {
        self.tables.values().map(|c| c.updated).sum()
    }

    /// One table's figures (zero where the run did not cover it).
    pub fn table(&self, table: Table) -> TableCounts {
        self.tables.get(&table).copied().unwrap_or_default()
    }
}

/// An existing row left as found although it differs from the dataset.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DifferingRow {
    pub table: &'static str,
    pub tenant_id: String,
    /// The natural key, as a reader would name the row.
    pub key: String,
    /// The columns whose stored value is not the dataset's.
    pub columns: Vec<&'static str>,
}

impl fmt::Display for DifferingRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.columns.len() == 1 {
            "differs"
        } else {
            "differ"
        };
        write!(
            f,
            "{} {} of {}: {} {verb} from the dataset",
            self.table,
            self.key,
            self.tenant_id,
            self.columns.join(", ")
        )
    }
}

/// The per-table lines of a seeding report (or of a dry run's).
pub struct SeedSummary<'a> {
    pub report: &'a SeedReport,
    pub dry_run: bool,
}

impl fmt::Display for SeedSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.report;
        let (tenants, inserted) = if self.dry_run {
            ("would seed tenants", "would insert")
        } else {
            ("seeded tenants", "inserted")
        };
        writeln!(f, "{tenants}: {}", report.tenants.join(", "))?;
        if report.retries > 0 {
            writeln!(
                f,
                "retried {} tenant transaction(s) after transient errors (deadlock, serialization failure, cluster write conflict, lost connection)",
                report.retries
            )?;
        }
        for table in Table::ALL {
            let Some(c) = report.tables.get(&table) else {
                continue;
            };
            write!(
                f,
                "  {:<18} {inserted} {}, already present {}",
                table.table_name(),
                c.inserted,
                c.present
            )?;
            if c.declined > 0 {
                write!(f, ", declined by the database {}", c.declined)?;
            }
            if c.updated > 0 {
                let what = match table {
                    Table::Campaigns => "counters recomputed",
                    Table::Devices => "fw_version updated",
                    _ => "updated",
                };
                write!(f, ", {what} {}", c.updated)?;
            }
            writeln!(f)?;
        }
        for row in &report.differing {
            writeln!(f, "left as found: {row}")?;
        }
        Ok(())
    }
}
