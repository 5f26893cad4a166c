//! What a seeding run (or a dry run) did, per table.

use std::collections::BTreeMap;
use std::fmt;

use super::{SchemaReport, TenantList};
use crate::table::Table;

/// Rows left as found that a plain report lists; the rest are counted.
pub const DIFFERING_SHOWN: usize = 10;

/// Rows of one table: inserted now, wanted and already there, existing
/// rows brought in line with the data (campaign counters, a device's
/// firmware after a newly recorded successful update), and rows the
/// database declined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TableCounts {
    pub inserted: u64,
    pub present: u64,
    pub updated: u64,
    /// Rows sent that the database neither stored nor refused with an
    /// error (a `BEFORE INSERT` trigger returning NULL, a rule doing
    /// instead): wanted, yet not there after the run.
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

    /// Whether the run this report describes (or would describe) writes
    /// nothing: no row inserted, updated or declined.
    pub fn changes_nothing(&self) -> bool {
        self.tables
            .values()
            .all(|c| c.inserted == 0 && c.updated == 0 && c.declined == 0)
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
///
/// Bounded whatever the number of tenants: more than ten tenants are
/// abbreviated as [`TenantList`] shows them, and only the first ten rows
/// left as found are listed, then `… and N more rows left as found`,
/// followed by `full_list` in parentheses when set.
pub struct SeedSummary<'a> {
    pub report: &'a SeedReport,
    pub dry_run: bool,
    /// Where the reader finds every row left as found, said after the
    /// count of those not listed (the command line names its `--json`).
    pub full_list: Option<&'a str>,
}

impl fmt::Display for SeedSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.report;
        let (tenants, inserted) = if self.dry_run {
            ("would seed tenants", "would insert")
        } else {
            ("seeded tenants", "inserted")
        };
        writeln!(f, "{tenants}: {}", TenantList(&report.tenants))?;
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
        for row in report.differing.iter().take(DIFFERING_SHOWN) {
            writeln!(f, "left as found: {row}")?;
        }
        let more = report.differing.len().saturating_sub(DIFFERING_SHOWN);
        if more > 0 {
            let rows = if more == 1 { "row" } else { "rows" };
            write!(f, "… and {more} more {rows} left as found")?;
            if let Some(full_list) = self.full_list {
                write!(f, " ({full_list})")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("tenant-{i:04}")).collect()
    }

    fn differing(n: usize) -> Vec<DifferingRow> {
        (1..=n)
            .map(|i| DifferingRow {
                table: "firmware_versions",
                tenant_id: format!("tenant-{i:04}"),
                key: "1.1.0 (sensor)".to_owned(),
                columns: vec!["checksum_sha256"],
            })
            .collect()
    }

    fn shown(report: &SeedReport, full_list: Option<&str>) -> Vec<String> {
        SeedSummary {
            report,
            dry_run: false,
            full_list,
        }
        .to_string()
        .lines()
        .map(str::to_owned)
        .collect()
    }

    /// Two tenants and two differing rows read exactly as before.
    #[test]
    fn a_small_report_lists_everything() {
        let mut report = SeedReport {
            tenants: ids(2),
            differing: differing(2),
            ..SeedReport::default()
        };
        report.add(
            Table::Devices,
            TableCounts {
                inserted: 30,
                ..TableCounts::default()
            },
        );
        assert_eq!(
            shown(&report, Some("see elsewhere")),
            [
                "seeded tenants: tenant-0001, tenant-0002",
                "  device_registry    inserted 30, already present 0",
                "left as found: firmware_versions 1.1.0 (sensor) of tenant-0001: \
                 checksum_sha256 differs from the dataset",
                "left as found: firmware_versions 1.1.0 (sensor) of tenant-0002: \
                 checksum_sha256 differs from the dataset",
            ]
        );
    }

    /// 2000 tenants and 2000 differing rows: one tenants line, ten rows
    /// and a count of the others.
    #[test]
    fn a_large_report_abbreviates_tenants_and_rows_left_as_found() {
        let report = SeedReport {
            tenants: ids(2000),
            differing: differing(2000),
            ..SeedReport::default()
        };
        let lines = shown(&report, Some("the full list is elsewhere"));
        assert_eq!(lines.len(), 1 + 10 + 1, "{lines:#?}");
        assert_eq!(
            lines[0],
            "seeded tenants: tenant-0001, tenant-0002, tenant-0003, tenant-0004, \
             tenant-0005, …, tenant-1999, tenant-2000 (2000 tenants)"
        );
        assert!(lines[10].contains("of tenant-0010:"), "{}", lines[10]);
        assert_eq!(
            lines[11],
            "… and 1990 more rows left as found (the full list is elsewhere)"
        );
        let lines = shown(
            &SeedReport {
                differing: differing(11),
                ..SeedReport::default()
            },
            None,
        );
        assert_eq!(
            lines.last().map(String::as_str),
            Some("… and 1 more row left as found")
        );
    }

    #[test]
    fn declined_rows_are_added_shown_when_some_and_serialized() {
        let mut report = SeedReport::default();
        let some = TableCounts {
            inserted: 3,
            present: 1,
            declined: 2,
            ..TableCounts::default()
        };
        report.add(Table::Firmware, some);
        report.add(Table::Firmware, some);
        report.add(Table::Tenants, TableCounts::default());
        assert_eq!(report.table(Table::Firmware).declined, 4);
        assert_eq!(
            shown(&report, None)[1..],
            [
                "  tenants            inserted 0, already present 0",
                "  firmware_versions  inserted 6, already present 2, declined by the database 4",
            ]
        );
        assert_eq!(
            serde_json::to_value(some).expect("JSON"),
            serde_json::json!({"inserted": 3, "present": 1, "updated": 0, "declined": 2})
        );
    }
}
