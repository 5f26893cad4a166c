//! [`Seeder`]: what a run covers and how it behaves, and the operations on
//! a database the caller already has open: seed, preview, verify, reset.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use futures_util::{StreamExt as _, TryStreamExt as _};
use sea_orm::{DatabaseConnection, DbErr};

use crate::cancel::{Cancel, Phase};
use crate::dataset::{Dataset, TenantPlan};
use crate::db::{
    Access, Db, SchemaUse, Session, prepare_schema, refuse_read_only, refuse_unreplicated_tables,
    refuse_unsafe_node,
};
use crate::error::SeedError;
use crate::progress::Progress;
use crate::report::{ResetReport, SchemaReport, SeedReport, Stopped, VerifyReport};
use crate::retry;
use crate::selection::{Selection, select_tenants};
use crate::steps::{self, StepError};
use crate::table::Table;

/// How long the seeder's statements may run by default (see
/// [`Seeder::statement_timeout`]).
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How long to wait for a connection of the seeder's own (migrations).
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);

/// Seeds a [`Dataset`] into a database, idempotently, and reads it back.
///
/// A builder: every setting has a default, so `Seeder::new(&dataset)` seeds
/// every table of every tenant of the dataset, applying migrations first
/// where the OTA tables are missing.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use seeder::{Dataset, Seeder, Table};
///
/// let db = sea_orm::Database::connect("sqlite::memory:").await?;
/// let dataset = Dataset::demo();
/// let report = Seeder::new(&dataset).run(&db).await?;
/// assert_eq!(report.table(Table::DeviceStatus).inserted, 30);
///
/// // One tenant's devices only (and the tenant row they need).
/// Seeder::new(&dataset)
///     .tenants(["tenant-a"])
///     .only([Table::Devices])
///     .run(&db)
///     .await?;
/// assert!(Seeder::new(&dataset).verify(&db).await?.passed());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Seeder<'a> {
    dataset: &'a Dataset,
    only: Option<Vec<Table>>,
    tenants: Vec<String>,
    progress: Progress,
    cancel: Cancel,
    migrate: bool,
    pg_schema: Option<String>,
    statement_timeout: Option<Duration>,
    database_name: String,
    jobs: usize,
}

impl<'a> Seeder<'a> {
    pub fn new(dataset: &'a Dataset) -> Seeder<'a> {
        Seeder {
            dataset,
            only: None,
            tenants: Vec::new(),
            progress: Progress::quiet(),
            cancel: Cancel::new(),
            migrate: true,
            pg_schema: None,
            statement_timeout: Some(DEFAULT_STATEMENT_TIMEOUT),
            database_name: String::new(),
            jobs: 1,
        }
    }

    /// Seeds only these tables, and the tables they reference (devices and
    /// firmware need their tenant row; status rows their campaign, which
    /// needs its firmware). Status rows are made for the devices that
    /// exist, so `DeviceStatus` does not pull in `Devices`.
    pub fn only(mut self, tables: impl IntoIterator<Item = Table>) -> Self {
        self.only = Some(tables.into_iter().collect());
        self
    }

    /// Covers only these tenants of the dataset (all of them by default).
    /// A tenant id that is not the dataset's makes every operation fail
    /// with [`SeedError::UnknownTenant`] before anything is opened.
    pub fn tenants<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tenants = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Where progress is shown (nowhere by default).
    pub fn progress(mut self, progress: Progress) -> Self {
        self.progress = progress;
        self
    }

    /// A token the caller may cancel to stop a seeding run at the next
    /// batch boundary (see [`Cancel`]).
    pub fn cancel(mut self, cancel: Cancel) -> Self {
        self.cancel = cancel;
        self
    }

    /// Whether seeding may apply pending migrations (default `true`). With
    /// `false`, a database lacking the OTA tables is an error.
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// PostgreSQL: the schema that holds (or is to hold) the OTA tables.
    /// By default it is where the tables resolve through the search_path.
    pub fn pg_schema(mut self, schema: impl Into<String>) -> Self {
        self.pg_schema = Some(schema.into());
        self
    }

    /// Longest a statement of the seeder may run, a lock be waited for, or
    /// a transaction sit idle (`None`: no limit; default 30 minutes),
    /// overriding the role's and the database's own settings. The seeder
    /// waits at most 10 s longer for any answer of its transactions (a
    /// server that stopped answering); past that a seeding run ends with
    /// [`SeedError::NoAnswer`], other calls with a database error whose
    /// source is a [`NoAnswer`](crate::NoAnswer).
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Seeds up to `jobs` batches of tenants at once (default 1, and at
    /// least 1), each in its own transaction on its own connection from the
    /// caller's pool, and never more than the pool has connections (give it
    /// `jobs + 1`). With more than one job the tenants are cut into smaller
    /// batches, at least four per job. The report lists tenants in dataset
    /// order whatever order they finish in. On SQLite, which writes one
    /// transaction at a time, batches go one by one.
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// How errors name the database (e.g. its URL without the password);
    /// "the database" by default.
    pub fn database_name(mut self, name: impl Into<String>) -> Self {
        self.database_name = name.into();
        self
    }

    /// The tenants this seeder covers, in dataset order.
    ///
    /// Errors: [`SeedError::UnknownTenant`] for an id the dataset lacks
    /// (compared, never put into SQL).
    pub fn tenant_ids(&self) -> Result<Vec<String>, SeedError> {
        select_tenants(self.dataset, &self.tenants)
    }

    /// Seeds the selected tenants in batches, in dataset order, after
    /// checking that the database accepts writes, bringing its schema up to
    /// date (or judging the platform's own tables, see docs/schema.md) and
    /// comparing every selected tenant already there with the dataset.
    /// Small tenants go many to a batch, a big one alone. Every batch is
    /// first planned with set-based reads in a read-only transaction; a
    /// batch whose plan writes nothing (a rerun) is reported from it, any
    /// other is planned again and applied in one write transaction, so a
    /// failing batch is rolled back whole (its tenants absent) and ends the
    /// run with its error; batches committed before it stay. A cancelled
    /// run returns the report of what was committed, with
    /// [`SeedReport::stopped`] set.
    ///
    /// Errors: an unknown tenant, a read-only database, a schema that
    /// cannot be seeded as it is or that a newer ota-seed migrated, pending
    /// migrations with [`Seeder::migrate`] `false`, a tenant holding another
    /// dataset, a lagging id sequence (of a table the run would insert
    /// into), a database error that retries did not
    /// cure, or [`SeedError::Declined`] (with the report) when the database
    /// stored fewer rows than were sent without an error.
    pub async fn run(&self, conn: &DatabaseConnection) -> Result<SeedReport, SeedError> {
        let tenants = select_tenants(self.dataset, &self.tenants)?;
        let mut db = self.open(conn).await?;
        refuse_unsafe_node(&db, &self.database_name).await?;
        refuse_read_only(&db, &self.database_name).await?;
        let schema = self
            .prepare(
                &mut db,
                SchemaUse::Seed {
                    migrate: self.migrate,
                },
            )
            .await?;
        refuse_unreplicated_tables(&db, &self.database_name, &schema.tables).await?;
        let now = now();
        let selection = self.selection();
        // Never more than the pool serves at once (a batch waiting for a
        // connection would run into the acquire timeout); SQLite, which
        // writes one transaction at a time, counts as one.
        let jobs = self.jobs.min(db.concurrent_transactions());
        let batches: Vec<steps::Batch<'_>> = batches(self.dataset, &tenants, jobs)
            .into_iter()
            .map(|plans| steps::Batch::new(plans, now, &selection))
            .collect();
        let world = Some(self.world());
        let cancel = Some(&self.cancel);
        // The run's seconds count its planning, which is all of a rerun.
        let started = std::time::Instant::now();
        // A batch whose plan changes nothing (a rerun) needs no write
        // transaction: its figures are the plan's.
        let planned: Vec<Option<SeedReport>> =
            plan_batches(&db, self, &batches, &schema.tables, world, cancel)
                .await?
                .into_iter()
                .map(|report| report.changes_nothing().then_some(report))
                .collect();
        let _seeding = self.cancel.enter(Phase::Seeding);
        let seeding = seed_tenants(&db, self, batches, planned, jobs, &schema.tables, started);
        let mut report = match seeding.await {
            Ok(report) => report,
            Err(SeedError::Declined {
                declined,
                mut report,
            }) => {
                report.schema = Some(schema);
                return Err(SeedError::Declined { declined, report });
            }
            Err(e) => return Err(e),
        };
        report.schema = Some(schema);
        Ok(report)
    }

    /// What [`Seeder::run`] would insert now, per table, found by reading
    /// alone: no migration, no row, no lock, no sequence value. The
    /// campaigns whose counters it would set are counted as updated; a
    /// device's firmware updates are not previewed.
    pub async fn dry_run(&self, conn: &DatabaseConnection) -> Result<SeedReport, SeedError> {
        let tenants = select_tenants(self.dataset, &self.tenants)?;
        let mut db = self.open(conn).await?;
        let schema = self
            .prepare(
                &mut db,
                SchemaUse::DryRun {
                    migrate: self.migrate,
                },
            )
            .await?;
        let mut report = preview(&db, &schema.tables, self, &tenants).await?;
        report.schema = Some(schema);
        Ok(report)
    }

    /// How the database's schema stands for this seeder, judged without
    /// changing anything (what [`Seeder::verify`] checks first).
    pub async fn schema(&self, conn: &DatabaseConnection) -> Result<SchemaReport, SeedError> {
        let mut db = self.open(conn).await?;
        self.prepare(&mut db, SchemaUse::Verify).await
    }

    /// Reads the selected tenants back: row counts, each campaign's stored
    /// counters beside its status rows, and every row that breaks one of
    /// the invariants (docs/dataset.md), in read-only transactions: small
    /// tenants in batches with one set-based query per check, each tenant
    /// in its own scoped transaction where row level security applies. Works on any database with the OTA
    /// tables, seeded by ota-seed or not.
    pub async fn verify(&self, conn: &DatabaseConnection) -> Result<VerifyReport, SeedError> {
        let tenants = select_tenants(self.dataset, &self.tenants)?;
        let mut db = self.open(conn).await?;
        self.prepare(&mut db, SchemaUse::Verify).await?;
        crate::verify::verify(&db, &tenants)
            .await
            .map_err(|e| SeedError::database("verifying", e))
    }

    /// Deletes the selected dataset tenants (their status rows, campaigns,
    /// firmware, devices and tenant row), one transaction per tenant, and
    /// nothing else: rows of any other tenant are never touched. With
    /// `dry_run`, only counts what would be deleted. For test isolation
    /// and for starting over; the role needs DELETE on the five tables.
    pub async fn reset(
        &self,
        conn: &DatabaseConnection,
        dry_run: bool,
    ) -> Result<ResetReport, SeedError> {
        let tenants = select_tenants(self.dataset, &self.tenants)?;
        let mut db = self.open(conn).await?;
        if !dry_run {
            refuse_unsafe_node(&db, &self.database_name).await?;
            refuse_read_only(&db, &self.database_name).await?;
        }
        let schema = self
            .prepare(&mut db, SchemaUse::DryRun { migrate: true })
            .await?;
        crate::reset::reset(&db, &schema.tables, &tenants, dry_run).await
    }

    fn world(&self) -> steps::World<'a> {
        steps::World {
            scenario: self.dataset.scenario_name(),
            seed: self.dataset.seed(),
        }
    }

    fn selection(&self) -> Selection {
        match &self.only {
            Some(tables) => Selection::of(tables.iter().copied()),
            None => Selection::default(),
        }
    }

    async fn open(&self, conn: &DatabaseConnection) -> Result<Db, SeedError> {
        let session = Session {
            statement_timeout: self.statement_timeout,
            ..Session::default()
        };
        Db::new(conn, session)
            .await
            .map_err(|e| SeedError::database("connecting", e))
    }

    async fn prepare(&self, db: &mut Db, usage: SchemaUse) -> Result<SchemaReport, SeedError> {
        prepare_schema(
            db,
            &self.database_name,
            usage,
            self.pg_schema.as_deref(),
            SESSION_TIMEOUT,
            &self.cancel,
        )
        .await
    }
}

/// Applies pending migrations to the database (creating the OTA tables
/// where there are none), with default settings; the report says whose
/// schema it is and how many migrations were applied.
pub async fn migrate(conn: &DatabaseConnection) -> Result<SchemaReport, SeedError> {
    let dataset = Dataset::demo();
    let seeder = Seeder::new(&dataset);
    let mut db = seeder.open(conn).await?;
    refuse_unsafe_node(&db, "").await?;
    refuse_read_only(&db, "").await?;
    seeder
        .prepare(&mut db, SchemaUse::Seed { migrate: true })
        .await
}

/// [`Seeder::verify`] of every tenant of `dataset`, with default settings.
pub async fn verify(
    conn: &DatabaseConnection,
    dataset: &Dataset,
) -> Result<VerifyReport, SeedError> {
    Seeder::new(dataset).verify(conn).await
}

/// [`Seeder::reset`] of every tenant of `dataset`, with default settings.
pub async fn reset(conn: &DatabaseConnection, dataset: &Dataset) -> Result<ResetReport, SeedError> {
    Seeder::new(dataset).reset(conn, false).await
}

/// Rows a batch aims at: small tenants go many to a batch, a tenant of
/// this many rows or more alone (its own transaction, as big as it is).
const BATCH_ROWS: u64 = 20_000;
/// Most tenants in one batch (their ids travel in `IN` lists).
const BATCH_TENANTS: usize = 1_000;

/// The selected tenants' plans in dataset order, cut into batches of about
/// [`BATCH_ROWS`] planned rows and at most [`BATCH_TENANTS`] tenants. With
/// several jobs, batches are cut smaller so that every job has some: at
/// least four batches per job where there are tenants enough.
pub(crate) fn batches<'d>(
    dataset: &'d Dataset,
    tenants: &[String],
    jobs: usize,
) -> Vec<Vec<&'d TenantPlan>> {
    let chosen: std::collections::HashSet<&str> = tenants.iter().map(String::as_str).collect();
    let plans: Vec<&TenantPlan> = dataset
        .tenants
        .iter()
        .filter(|p| chosen.contains(p.tenant.tenant_id.as_str()))
        .collect();
    let most = if jobs > 1 {
        plans.len().div_ceil(jobs * 4).clamp(1, BATCH_TENANTS)
    } else {
        BATCH_TENANTS
    };
    let mut out: Vec<Vec<&TenantPlan>> = Vec::new();
    let mut rows = 0;
    for plan in plans {
        let planned = planned_rows(plan);
        let full = out
            .last()
            .is_none_or(|b| b.len() >= most || rows + planned > BATCH_ROWS);
        if full {
            out.push(Vec::new());
            rows = 0;
        }
        rows += planned;
        if let Some(last) = out.last_mut() {
            last.push(plan);
        }
    }
    out
}

/// The rows a tenant's plan holds: its row, devices, firmware, campaigns
/// and about one status row per device.
fn planned_rows(plan: &TenantPlan) -> u64 {
    let devices = plan.fleet.len() as u64;
    let status = if plan.campaigns.is_empty() {
        0
    } else {
        devices
    };
    1 + devices + plan.firmware.len() as u64 + plan.campaigns.len() as u64 + status
}

/// Plans every batch by reading alone, one read-only transaction each,
/// before any is written: every tenant already there is compared with
/// `world` (so that a run over another world stops with nothing written
/// at all, also with `--jobs`, where another batch could otherwise commit
/// first), and each batch's report is the one a run would give now.
/// With `cancel`, a stop requested meanwhile leaves the batches not yet
/// planned with an empty report (they are not started either).
async fn plan_batches(
    db: &Db,
    seeder: &Seeder<'_>,
    batches: &[steps::Batch<'_>],
    tables: &[&'static str],
    world: Option<steps::World<'_>>,
    cancel: Option<&Cancel>,
) -> Result<Vec<SeedReport>, SeedError> {
    // Two at once where the pool has two connections: one batch's rows
    // are decoded and compared while the server reads the next's. In
    // dataset order all the same, so the first refusal is the first
    // tenant's that differs.
    let at_once = PLANS_AT_ONCE.min(db.concurrent_transactions());
    futures_util::stream::iter(batches)
        .map(|batch| plan_one(db, seeder, batch, tables, world, cancel))
        .buffered(at_once)
        .try_collect()
        .await
}

/// Read-only transactions planning batches at once (see `plan_batches`).
const PLANS_AT_ONCE: usize = 2;

/// One batch of [`plan_batches`], read again from its start when the
/// database aborted the read for a reason a retry cures; a server that
/// stops answering or is lost is named, as while seeding.
async fn plan_one(
    db: &Db,
    seeder: &Seeder<'_>,
    batch: &steps::Batch<'_>,
    tables: &[&'static str],
    world: Option<steps::World<'_>>,
    cancel: Option<&Cancel>,
) -> Result<SeedReport, SeedError> {
    let label = batch.label();
    let started = std::time::Instant::now();
    let mut attempt = 0;
    loop {
        if cancel.is_some_and(Cancel::is_cancelled) {
            return Ok(SeedReport::default());
        }
        attempt += 1;
        match plan_once(db, seeder, batch, tables, world).await {
            Ok(report) => return Ok(report),
            Err(StepError::Refused(refusal)) => return Err(refusal),
            Err(StepError::Database { source, doing, .. })
                if let Some(no_answer) = retry::no_answer(&source) =>
            {
                return Err(no_answer_error(db, label, doing, no_answer.waited, source));
            }
            Err(StepError::Database { source, doing, .. }) if retry::is_unreachable(&source) => {
                return Err(server_lost_error(db, label, doing, source));
            }
            Err(StepError::Database { source, .. })
                if retry::is_transient(&source)
                    && attempt < retry::MAX_ATTEMPTS
                    && started.elapsed() < retry::MAX_RETRY_TIME =>
            {
                seeder
                    .progress
                    .retrying(&label, attempt + 1, retry::reason(&source));
                tokio::time::sleep(retry::backoff(attempt)).await;
            }
            Err(StepError::Database {
                doing,
                table,
                source,
            }) => {
                return Err(SeedError::Database {
                    doing: format!("{doing} for {label} (nothing was written)"),
                    tenant: Some(label),
                    table,
                    source,
                });
            }
            Err(StepError::RolledBackByCluster { doing }) => {
                return Err(SeedError::database(
                    format!("{doing} for {label}"),
                    DbErr::Custom("the cluster rolled back a read-only transaction".to_owned()),
                ));
            }
        }
    }
}

/// [`plan_one`]'s one try, in a read-only transaction of its own.
async fn plan_once(
    db: &Db,
    seeder: &Seeder<'_>,
    batch: &steps::Batch<'_>,
    tables: &[&'static str],
    world: Option<steps::World<'_>>,
) -> Result<SeedReport, StepError> {
    let reading = |doing: &'static str| move |e| StepError::new(doing, e);
    let txn = db
        .begin(Access::Read, None)
        .await
        .map_err(reading("starting the batch's read-only transaction"))?;
    let sink = read_sink(
        &txn,
        db,
        tables,
        &seeder.progress,
        &seeder.cancel,
        batch.label(),
    )
    .await
    .map_err(reading("reading the tables' row level security"))?;
    let report = steps::plan_batch(&sink, batch, world).await?;
    drop(sink);
    txn.commit()
        .await
        .map_err(reading("ending the batch's read-only transaction"))?;
    Ok(report)
}

/// A sink over `txn` for reading: the tables that exist, and which are
/// under row level security.
async fn read_sink<'a>(
    txn: &'a crate::db::Txn,
    db: &Db,
    tables: &[&'static str],
    progress: &'a Progress,
    cancel: &'a Cancel,
    label: String,
) -> Result<steps::Sink<'a>, DbErr> {
    Ok(steps::Sink {
        txn,
        backend: db.backend(),
        galera: db.is_galera(),
        guards: steps::Guards::read(txn).await?,
        tables: Table::ALL
            .into_iter()
            .filter(|t| tables.contains(&t.table_name()))
            .collect(),
        progress,
        interrupt: cancel,
        label,
    })
}

/// What a dry run reports: the batches' plans, read in read-only
/// transactions, nothing written; every tenant compared with the dataset
/// where all the seeded tables exist.
pub(crate) async fn preview(
    db: &Db,
    tables: &[&'static str],
    seeder: &Seeder<'_>,
    tenants: &[String],
) -> Result<SeedReport, SeedError> {
    let selection = seeder.selection();
    let now = now();
    let batches: Vec<steps::Batch<'_>> = batches(seeder.dataset, tenants, 1)
        .into_iter()
        .map(|plans| steps::Batch::new(plans, now, &selection))
        .collect();
    let world = (tables.len() == Table::ALL.len()).then(|| seeder.world());
    let mut report = SeedReport::default();
    for one in plan_batches(db, seeder, &batches, tables, world, None).await? {
        merge(&mut report, one);
    }
    Ok(report)
}

fn merge(report: &mut SeedReport, one: SeedReport) {
    for (table, counts) in one.tables {
        report.add(table, counts);
    }
    report.tenants.extend(one.tenants);
    report.differing.extend(one.differing);
}

/// The run's moment, at the microsecond precision every backend stores.
fn now() -> DateTime<FixedOffset> {
    Utc::now().trunc_subsecs(6).fixed_offset()
}

/// Seeds the tenants batch by batch, each batch in its own transaction,
/// retrying a transaction the database aborted for a reason a retry
/// cures; then refreshes the planner's statistics of the tables loaded.
async fn seed_tenants(
    db: &Db,
    seeder: &Seeder<'_>,
    batches: Vec<steps::Batch<'_>>,
    planned: Vec<Option<SeedReport>>,
    jobs: usize,
    tables: &[&'static str],
    started: std::time::Instant,
) -> Result<SeedReport, SeedError> {
    let mut report = SeedReport::default();
    seeder
        .progress
        .run_started(batches.iter().map(|b| b.ids.len()).sum());
    let result = seed_each(db, seeder, batches, planned, jobs, tables, &mut report).await;
    if result.is_ok() && report.inserted_total() > 0 && report.stopped.is_none() {
        analyze(db, &loaded_tables(&report)).await;
    }
    report.seconds = started.elapsed().as_secs_f64();
    result?;
    let declined: Vec<(Table, u64)> = report
        .tables
        .iter()
        .filter(|(_, c)| c.declined > 0)
        .map(|(t, c)| (*t, c.declined))
        .collect();
    if !declined.is_empty() {
        return Err(SeedError::Declined {
            declined,
            report: Box::new(report),
        });
    }
    Ok(report)
}

/// The tables that received rows, by name.
fn loaded_tables(report: &SeedReport) -> Vec<&'static str> {
    report
        .tables
        .iter()
        .filter(|(_, c)| c.inserted > 0)
        .map(|(t, _)| t.table_name())
        .collect()
}

/// Seeds the batches, `jobs` at once; a batch whose plan (read before)
/// changes nothing is reported from it without a transaction.
async fn seed_each(
    db: &Db,
    seeder: &Seeder<'_>,
    batches: Vec<steps::Batch<'_>>,
    planned: Vec<Option<SeedReport>>,
    jobs: usize,
    tables: &[&'static str],
    report: &mut SeedReport,
) -> Result<(), SeedError> {
    let cancel = &seeder.cancel;
    // `buffered` runs up to `jobs` batches at once and yields their
    // outcomes in dataset order, so the report reads as with one job.
    let mut outcomes = futures_util::stream::iter(batches.into_iter().zip(planned))
        .map(|(batch, planned)| async move {
            match planned {
                Some(_) if cancel.is_cancelled() => Ok(BatchOutcome::NotStarted),
                Some(report) => {
                    // The lines its steps would print, from the plan.
                    let label = batch.label();
                    for (table, counts) in &report.tables {
                        seeder
                            .progress
                            .step(&label, *table, counts.present)
                            .finish(*counts);
                    }
                    Ok(BatchOutcome::Seeded {
                        batch: report,
                        retries: 0,
                    })
                }
                None => seed_one(db, seeder, batch, tables, cancel).await,
            }
        })
        .buffered(jobs.max(1));
    while let Some(outcome) = outcomes.next().await {
        match outcome? {
            BatchOutcome::Seeded { batch, retries } => {
                seeder.progress.tenants_done(batch.tenants.len());
                for (table, counts) in batch.tables {
                    report.add(table, counts);
                }
                report.tenants.extend(batch.tenants);
                report.differing.extend(batch.differing);
                report.retries += retries;
            }
            BatchOutcome::NotStarted => {
                report.stopped.get_or_insert_with(Stopped::default);
            }
            BatchOutcome::RolledBack { tenants, retries } => {
                report.retries += retries;
                report
                    .stopped
                    .get_or_insert_with(Stopped::default)
                    .rolled_back
                    .extend(tenants);
            }
        }
    }
    Ok(())
}

/// How one batch's seeding ended, short of an error.
enum BatchOutcome {
    Seeded {
        batch: SeedReport,
        retries: u64,
    },
    /// A stop was requested before its transaction began.
    NotStarted,
    /// A stop was requested while its transaction was open.
    RolledBack {
        tenants: Vec<String>,
        retries: u64,
    },
}

/// Plans and applies one batch in its own transaction.
async fn seed_batch_once(
    db: &Db,
    batch: &steps::Batch<'_>,
    tables: &[&'static str],
    progress: &Progress,
    cancel: &Cancel,
) -> Result<SeedReport, StepError> {
    let txn = steps::begin(db).await.map_err(|e| StepError::Database {
        doing: "starting the batch's transaction".to_owned(),
        table: None,
        source: e,
    })?;
    let sink = match read_sink(&txn, db, tables, progress, cancel, batch.label()).await {
        Ok(sink) => sink,
        Err(e) => {
            let _ = txn.rollback().await;
            return Err(StepError::Database {
                doing: "reading the tables' row level security".to_owned(),
                table: None,
                source: e,
            });
        }
    };
    let galera = sink.galera;
    let outcome = steps::seed_batch(&sink, batch).await;
    drop(sink);
    let report = match outcome {
        // A statement that failed because the transaction had already been
        // rolled back by the cluster (a foreign key to a campaign inserted
        // before the rollback, seen in tests) says so, not its own error.
        // Not asked over a connection that failed or stopped answering: the
        // question would fail too, after as long a wait.
        Err(StepError::Database { doing, source, .. })
            if galera
                && !crate::retry::is_connection_failure(&source)
                && crate::db::rolled_back_by_cluster(&txn).await =>
        {
            return Err(StepError::RolledBackByCluster { doing });
        }
        Ok(_) if galera && crate::db::rolled_back_by_cluster(&txn).await => {
            return Err(StepError::RolledBackByCluster {
                doing: "committing the batch's transaction".to_owned(),
            });
        }
        Ok(report) => report,
        Err(e) => {
            // Said explicitly rather than left to the drop, so that the
            // rollback has happened when the error is reported; but not to
            // a server that stopped answering, which would keep the error
            // waiting as long again: the drop queues the ROLLBACK, and the
            // server rolls the transaction back when the process exits and
            // the connection closes, if it ever answers.
            let stalled = matches!(&e, StepError::Database { source, .. }
                if crate::retry::no_answer(source).is_some());
            if !stalled {
                let _ = txn.rollback().await;
            }
            return Err(e);
        }
    };
    txn.commit().await.map_err(|e| StepError::Database {
        doing: "committing the batch's transaction".to_owned(),
        table: None,
        source: e,
    })?;
    Ok(report)
}

/// Seeds one batch in its own transaction, retrying the transaction when
/// the database aborted it for a reason a retry cures.
async fn seed_one(
    db: &Db,
    seeder: &Seeder<'_>,
    batch: steps::Batch<'_>,
    tables: &[&'static str],
    cancel: &Cancel,
) -> Result<BatchOutcome, SeedError> {
    if cancel.is_cancelled() {
        return Ok(BatchOutcome::NotStarted);
    }
    let label = batch.label();
    let (one, these) = if batch.ids.len() == 1 {
        ("tenant", "this tenant")
    } else {
        ("tenants", "these tenants")
    };
    let started = std::time::Instant::now();
    let mut attempt = 0;
    let mut retries = 0;
    // What the batch's transaction was doing when its connection last
    // failed (for the message should the server not come back).
    let mut connection_lost: Option<String> = None;
    loop {
        attempt += 1;
        match seed_batch_once(db, &batch, tables, &seeder.progress, cancel).await {
            Ok(report) => {
                return Ok(BatchOutcome::Seeded {
                    batch: report,
                    retries,
                });
            }
            // First, even when a stop was requested meanwhile (someone whose
            // run seems hung presses Ctrl-C): the batch was not rolled
            // back for certain, its COMMIT may be pending on the server.
            Err(StepError::Database { source, doing, .. })
                if let Some(no_answer) = retry::no_answer(&source) =>
            {
                return Err(no_answer_error(db, label, doing, no_answer.waited, source));
            }
            // Whatever the error, a requested stop explains it.
            Err(_) if cancel.is_cancelled() => {
                return Ok(BatchOutcome::RolledBack {
                    tenants: batch.ids.clone(),
                    retries,
                });
            }
            Err(StepError::Database { source, doing, .. }) if retry::is_unreachable(&source) => {
                return Err(server_lost_error(
                    db,
                    label,
                    connection_lost.unwrap_or(doing),
                    source,
                ));
            }
            Err(StepError::Database { source, doing, .. })
                if retry::is_transient(&source)
                    && attempt < retry::MAX_ATTEMPTS
                    && started.elapsed() < retry::MAX_RETRY_TIME =>
            {
                // The transaction was rolled back whole; start it again.
                if retry::is_connection_failure(&source) {
                    connection_lost = Some(doing);
                }
                retries += 1;
                seeder
                    .progress
                    .retrying(&label, attempt + 1, retry::reason(&source));
                tokio::time::sleep(retry::backoff(attempt)).await;
            }
            Err(StepError::Database {
                doing,
                table,
                source,
            }) => {
                return Err(SeedError::Database {
                    doing: format!(
                        "{doing} for {one} {label} (nothing of {these} was written; {attempt} {})",
                        if attempt == 1 { "try" } else { "tries" }
                    ),
                    tenant: Some(label),
                    table,
                    source,
                });
            }
            Err(StepError::RolledBackByCluster { .. })
                if attempt < retry::MAX_ATTEMPTS && started.elapsed() < retry::MAX_RETRY_TIME =>
            {
                retries += 1;
                seeder.progress.retrying(
                    &label,
                    attempt + 1,
                    "the cluster rolled it back for another node's commit",
                );
                tokio::time::sleep(retry::backoff(attempt)).await;
            }
            Err(StepError::RolledBackByCluster { doing }) => {
                return Err(SeedError::database(
                    format!("{doing} for {one} {label} ({attempt} tries)"),
                    DbErr::Custom(
                        "the Galera cluster rolled back the batch's transaction on every try, \
                         for other nodes' conflicting commits"
                            .to_owned(),
                    ),
                ));
            }
            Err(StepError::Refused(refusal)) => return Err(refusal),
        }
    }
}

/// A batch's server that stopped answering, named with what was waited for.
fn no_answer_error(
    db: &Db,
    label: String,
    doing: String,
    waited: Duration,
    source: DbErr,
) -> SeedError {
    SeedError::NoAnswer {
        server: db.server_address(),
        tenant: label,
        waiting_while: doing,
        waited,
        galera: db.is_galera(),
        source: Box::new(source),
    }
}

/// A batch's server that went away, named with what was being done.
fn server_lost_error(db: &Db, label: String, lost_while: String, source: DbErr) -> SeedError {
    SeedError::ServerLost {
        server: db.server_address(),
        tenant: label,
        lost_while,
        source: Box::new(source),
    }
}

/// Refreshes the planner's statistics of the tables the run loaded
/// (PostgreSQL `ANALYZE`, MySQL/MariaDB `ANALYZE TABLE`): rows loaded in
/// bulk leave them stale, and verify's and the next run's queries are
/// planned on them. Only where the role may (PostgreSQL analyzes only
/// tables it owns, and warns for the others); a failure is no error of
/// the run, whose rows are committed.
async fn analyze(db: &Db, tables: &[&'static str]) {
    use sea_orm::ConnectionTrait as _;
    if tables.is_empty() || db.backend() == sea_orm::DbBackend::Sqlite {
        return;
    }
    let Ok(txn) = db.begin(Access::Write, None).await else {
        return;
    };
    let sql = match db.backend() {
        sea_orm::DbBackend::MySql => format!("ANALYZE TABLE {}", tables.join(", ")),
        // A sample of 3,000 rows per table (statistics target 10, against
        // 100 by default): the row counts and the distinct tenants the
        // next queries are planned on, at a quarter of the default's cost
        // (74 ms of a 0.5 s run of 1,000 small tenants). Autovacuum's own
        // ANALYZE refines them later.
        _ => format!(
            "SET LOCAL default_statistics_target = 10; ANALYZE {}",
            tables.join(", ")
        ),
    };
    match txn.execute_unprepared(&sql).await {
        Ok(_) => {
            let _ = txn.commit().await;
        }
        Err(_) => {
            let _ = txn.rollback().await;
        }
    }
}
