//! Seeding the selected tenants of a dataset into an open database.

use std::fmt;

use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use sea_orm::DatabaseConnection;

use crate::dataset::Dataset;
use crate::error::SeedError;
use crate::progress::Progress;
use crate::selection::{Selection, Table};
use crate::steps::{self, SeedReport};

/// The run's moment, at the microsecond precision every backend stores.
pub fn now() -> DateTime<FixedOffset> {
    Utc::now().trunc_subsecs(6).fixed_offset()
}

/// Seeds each of `tenants` (ids of `dataset`) in its own transaction, in
/// dataset order. A failing tenant is rolled back whole and stops the run;
/// tenants committed before it stay.
pub async fn seed(
    db: &DatabaseConnection,
    dataset: &Dataset,
    selection: &Selection,
    tenants: &[String],
    now: DateTime<FixedOffset>,
    secret: Option<&str>,
    progress: &Progress,
) -> Result<SeedReport, SeedError> {
    let mut report = SeedReport::default();
    for plan in dataset
        .tenants
        .iter()
        .filter(|p| tenants.contains(&p.tenant.tenant_id))
    {
        let tenant = steps::seed_tenant(db, plan, selection, now, progress)
            .await
            .map_err(|e| {
                SeedError::database(
                    format!(
                        "{} for tenant {} (nothing of this tenant was written)",
                        e.doing, plan.tenant.tenant_id
                    ),
                    e.source,
                    secret,
                )
            })?;
        for (table, counts) in tenant.tables {
            report.add(table, counts);
        }
        report.tenants.extend(tenant.tenants);
    }
    Ok(report)
}

/// The per-table lines of a seeding report.
pub struct SeedSummary<'a>(pub &'a SeedReport);

impl fmt::Display for SeedSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seeded tenants: {}", self.0.tenants.join(", "))?;
        for table in Table::ALL {
            let Some(c) = self.0.tables.get(&table) else {
                continue;
            };
            write!(
                f,
                "  {:<18} inserted {}, already present {}",
                table.table_name(),
                c.inserted,
                c.present
            )?;
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
        Ok(())
    }
}
