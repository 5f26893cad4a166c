//! What `reset` deleted (or, as a dry run, would delete).

use std::collections::BTreeMap;
use std::fmt;

use super::TenantList;
use crate::table::Table;

/// Rows of the dataset's tenants deleted by a reset, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResetReport {
    /// The tenants reset, in dataset order.
    pub tenants: Vec<String>,
    /// Rows deleted (or, with `dry_run`, that would be) per table.
    pub deleted: BTreeMap<Table, u64>,
    pub dry_run: bool,
}

impl ResetReport {
    pub fn total(&self) -> u64 {
        self.deleted.values().sum()
    }
}

impl fmt::Display for ResetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        writeln!(f, "tenants: {}", TenantList(&self.tenants))?;
        // Dependants first, the order rows are deleted in.
        for table in Table::ALL.iter().rev() {
            let n = self.deleted.get(table).copied().unwrap_or(0);
            writeln!(f, "  {:<18} {verb} {n}", table.table_name())?;
        }
        Ok(())
    }
}
