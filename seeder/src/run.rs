//! Seeding the selected tenants of a dataset into an open database.

use std::fmt;

use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use sea_orm::DatabaseConnection;

use crate::dataset::Dataset;
use crate::error::SeedError;
use crate::progress::Progress;
use crate::retry;
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
        let started = std::time::Instant::now();
        let mut attempt = 0;
        let tenant = loop {
            attempt += 1;
            match steps::seed_tenant(db, plan, selection, now, progress).await {
                Ok(report) => break report,
                Err(e)
                    if retry::is_transient(&e.source)
                        && attempt < retry::MAX_ATTEMPTS
                        && started.elapsed() < retry::MAX_RETRY_TIME =>
                {
                    // The transaction was rolled back whole; start it again.
                    report.retries += 1;
                    tokio::time::sleep(retry::backoff(attempt)).await;
                }
                Err(e) => {
                    return Err(SeedError::database(
                        format!(
                            "{} for tenant {} (nothing of this tenant was written; {attempt} tries)",
                            e.doing, plan.tenant.tenant_id
                        ),
                        e.source,
                        secret,
                    ));
                }
            }
        };
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
        if self.0.retries > 0 {
            writeln!(
                f,
                "retried {} tenant transaction(s) after transient errors (deadlock, serialization, lost connection)",
                self.0.retries
            )?;
        }
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
