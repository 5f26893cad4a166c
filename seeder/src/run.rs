//! Seeding the selected tenants of a dataset into an open database.

use chrono::{DateTime, FixedOffset, SubsecRound, Utc};

use crate::dataset::Dataset;
use crate::db::Db;
use crate::error::SeedError;
use crate::interrupt::Interrupt;
use crate::progress::Progress;
use crate::report::{SeedReport, Stopped};
use crate::retry;
use crate::selection::Selection;
use crate::steps::{self, StepError};

/// The run's moment, at the microsecond precision every backend stores.
pub fn now() -> DateTime<FixedOffset> {
    Utc::now().trunc_subsecs(6).fixed_offset()
}

/// What a seeding run covers.
pub struct SeedRequest<'a> {
    pub dataset: &'a Dataset,
    pub selection: &'a Selection,
    /// Ids of `dataset` tenants, seeded in dataset order.
    pub tenants: &'a [String],
    /// The run's moment; every relative time of the dataset hangs off it.
    pub now: DateTime<FixedOffset>,
}

/// Seeds each of the request's tenants in its own transaction, in
/// dataset order. A failing tenant is rolled back whole and stops the run;
/// tenants committed before it stay.
///
/// A stop requested through `interrupt` ends the run at the next batch
/// boundary: the open tenant is rolled back and the report, with
/// [`SeedReport::stopped`] set, covers the tenants committed before it.
pub async fn seed(
    db: &Db,
    request: &SeedRequest<'_>,
    secret: Option<&str>,
    progress: &Progress,
    interrupt: &Interrupt,
) -> Result<SeedReport, SeedError> {
    let SeedRequest {
        dataset,
        selection,
        tenants,
        now,
    } = *request;
    let mut report = SeedReport::default();
    for plan in dataset
        .tenants
        .iter()
        .filter(|p| tenants.contains(&p.tenant.tenant_id))
    {
        if interrupt.requested() {
            report.stopped = Some(Stopped { rolled_back: None });
            return Ok(report);
        }
        let started = std::time::Instant::now();
        let mut attempt = 0;
        let tenant = loop {
            attempt += 1;
            match steps::seed_tenant(db, plan, selection, now, progress, interrupt).await {
                Ok(report) => break report,
                // Whatever the error, a requested stop explains it.
                Err(_) if interrupt.requested() => {
                    report.stopped = Some(Stopped {
                        rolled_back: Some(plan.tenant.tenant_id.clone()),
                    });
                    return Ok(report);
                }
                Err(StepError::Database { source, .. })
                    if retry::is_transient(&source)
                        && attempt < retry::MAX_ATTEMPTS
                        && started.elapsed() < retry::MAX_RETRY_TIME =>
                {
                    // The transaction was rolled back whole; start it again.
                    report.retries += 1;
                    tokio::time::sleep(retry::backoff(attempt)).await;
                }
                Err(StepError::Database { doing, source }) => {
                    return Err(SeedError::database(
                        format!(
                            "{doing} for tenant {} (nothing of this tenant was written; {attempt} tries)",
                            plan.tenant.tenant_id
                        ),
                        source,
                        secret,
                    ));
                }
                Err(StepError::Refused(refusal)) => return Err(refusal),
            }
        };
        for (table, counts) in tenant.tables {
            report.add(table, counts);
        }
        report.tenants.extend(tenant.tenants);
        report.differing.extend(tenant.differing);
    }
    Ok(report)
}
