//! [`Seeder`]: what a run covers and how it behaves, and the operations on
//! a database the caller already has open: seed, preview, verify, reset.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use futures_util::StreamExt as _;
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

    /// Seeds up to `jobs` tenants at once (default 1, and at least 1), each
    /// in its own transaction on its own connection from the caller's
    /// pool, and never more than the pool has connections (give it
    /// `jobs + 1`). The report lists tenants in dataset order whatever order
    /// they finish in. On SQLite, which writes one transaction at a time,
    /// tenants go one by one.
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

    /// Seeds the selected tenants, each in its own transaction, in dataset
    /// order, after checking that the database accepts writes and bringing
    /// its schema up to date (or judging the platform's own tables, see
    /// docs/schema.md). A failing tenant is rolled back whole and ends the
    /// run with its error; tenants committed before it stay. A cancelled
    /// run returns the report of what was committed, with
    /// [`SeedReport::stopped`] set.
    ///
    /// Errors: an unknown tenant, a read-only database, a schema that
    /// cannot be seeded as it is or that a newer ota-seed migrated, pending
    /// migrations with [`Seeder::migrate`] `false`, a lagging id sequence,
    /// or a database error that retries did not cure.
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
        refuse_other_world(&db, self.dataset, &tenants).await?;
        let _seeding = self.cancel.enter(Phase::Seeding);
        let mut report = seed_tenants(&db, self, &tenants, now()).await?;
        report.schema = Some(schema);
        Ok(report)
    }

    /// What [`Seeder::run`] would insert now, per table, found by reading
    /// alone: no migration, no row, no lock, no sequence value. Updates a
    /// run would make (counters, a device's firmware) are not previewed.
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
        let mut report = crate::dry_run::dry_run(
            &db,
            &schema.tables,
            self.dataset,
            &self.selection(),
            &tenants,
            now(),
        )
        .await?;
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
    /// the invariants (docs/dataset.md), each tenant in a read-only
    /// transaction scoped to it. Works on any database with the OTA
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

/// Tenants looked at before the run for another world (see
/// [`refuse_other_world`]).
const WORLD_PRECHECK_TENANTS: usize = 16;

/// Compares the first selected tenant that is already there with the
/// dataset before any tenant is written. Each tenant is compared again in
/// its own transaction before its first write; this earlier look makes a
/// run over another world stop with nothing written at all, also with
/// `--jobs`, where another tenant could otherwise commit first. Only the
/// first few tenants are looked at: a fresh run of many new tenants does
/// not pay a transaction per tenant for it.
async fn refuse_other_world(
    db: &Db,
    dataset: &Dataset,
    tenants: &[String],
) -> Result<(), SeedError> {
    use sea_orm::EntityTrait as _;
    let reading = |e| SeedError::database("comparing the existing rows with the dataset", e);
    let plans = dataset
        .tenants
        .iter()
        .filter(|p| tenants.contains(&p.tenant.tenant_id))
        .take(WORLD_PRECHECK_TENANTS);
    for plan in plans {
        let id = &plan.tenant.tenant_id;
        let txn = db.begin(Access::Read, Some(id)).await.map_err(reading)?;
        let there = entity::tenants::Entity::find_by_id(id.clone())
            .one(&txn)
            .await
            .map_err(reading)?
            .is_some();
        let differences = if there {
            steps::world_differences(&txn, plan)
                .await
                .map_err(reading)?
        } else {
            Vec::new()
        };
        txn.commit().await.map_err(reading)?;
        if !differences.is_empty() {
            return Err(SeedError::OtherWorld {
                tenant: id.clone(),
                scenario: dataset.scenario_name().to_owned(),
                seed: dataset.seed(),
                differences,
            });
        }
        if there {
            return Ok(());
        }
    }
    Ok(())
}

/// The run's moment, at the microsecond precision every backend stores.
fn now() -> DateTime<FixedOffset> {
    Utc::now().trunc_subsecs(6).fixed_offset()
}

/// Seeds each of the tenants in its own transaction, in dataset order,
/// retrying a transaction the database aborted for a reason a retry cures.
async fn seed_tenants(
    db: &Db,
    seeder: &Seeder<'_>,
    tenants: &[String],
    now: DateTime<FixedOffset>,
) -> Result<SeedReport, SeedError> {
    let selection = seeder.selection();
    let cancel = &seeder.cancel;
    let mut report = SeedReport::default();
    let started = std::time::Instant::now();
    let result = seed_each(db, seeder, tenants, now, &selection, cancel, &mut report).await;
    report.seconds = started.elapsed().as_secs_f64();
    result.map(|()| report)
}

async fn seed_each(
    db: &Db,
    seeder: &Seeder<'_>,
    tenants: &[String],
    now: DateTime<FixedOffset>,
    selection: &Selection,
    cancel: &Cancel,
    report: &mut SeedReport,
) -> Result<(), SeedError> {
    let plans = seeder
        .dataset
        .tenants
        .iter()
        .filter(|p| tenants.contains(&p.tenant.tenant_id));
    // `buffered` runs up to `jobs` tenants at once and yields their
    // outcomes in dataset order, so the report reads as with one job.
    // Never more than the pool serves at once (a tenant waiting for a
    // connection would run into the acquire timeout); SQLite, which writes
    // one transaction at a time, counts as one.
    let jobs = seeder.jobs.min(db.concurrent_transactions());
    let mut outcomes = futures_util::stream::iter(plans)
        .map(|plan| seed_one(db, seeder, plan, now, selection, cancel))
        .buffered(jobs);
    while let Some(outcome) = outcomes.next().await {
        match outcome? {
            TenantOutcome::Seeded { tenant, retries } => {
                for (table, counts) in tenant.tables {
                    report.add(table, counts);
                }
                report.tenants.extend(tenant.tenants);
                report.differing.extend(tenant.differing);
                report.retries += retries;
            }
            TenantOutcome::NotStarted => {
                report.stopped.get_or_insert_with(Stopped::default);
            }
            TenantOutcome::RolledBack { tenant, retries } => {
                report.retries += retries;
                report
                    .stopped
                    .get_or_insert_with(Stopped::default)
                    .rolled_back
                    .push(tenant);
            }
        }
    }
    Ok(())
}

/// How one tenant's seeding ended, short of an error.
enum TenantOutcome {
    Seeded {
        tenant: SeedReport,
        retries: u64,
    },
    /// A stop was requested before its transaction began.
    NotStarted,
    /// A stop was requested while its transaction was open.
    RolledBack {
        tenant: String,
        retries: u64,
    },
}

/// Seeds one tenant in its own transaction, retrying the transaction when
/// the database aborted it for a reason a retry cures.
async fn seed_one(
    db: &Db,
    seeder: &Seeder<'_>,
    plan: &TenantPlan,
    now: DateTime<FixedOffset>,
    selection: &Selection,
    cancel: &Cancel,
) -> Result<TenantOutcome, SeedError> {
    if cancel.is_cancelled() {
        return Ok(TenantOutcome::NotStarted);
    }
    let started = std::time::Instant::now();
    let mut attempt = 0;
    let mut retries = 0;
    // What the tenant's transaction was doing when its connection last
    // failed (for the message should the server not come back).
    let mut connection_lost: Option<String> = None;
    loop {
        attempt += 1;
        match steps::seed_tenant(
            db,
            seeder.dataset,
            plan,
            selection,
            now,
            &seeder.progress,
            cancel,
        )
        .await
        {
            Ok(tenant) => return Ok(TenantOutcome::Seeded { tenant, retries }),
            // First, even when a stop was requested meanwhile (someone whose
            // run seems hung presses Ctrl-C): the tenant was not rolled
            // back for certain, its COMMIT may be pending on the server.
            Err(StepError::Database { source, doing, .. })
                if let Some(no_answer) = retry::no_answer(&source) =>
            {
                return Err(SeedError::NoAnswer {
                    server: db.server_address(),
                    tenant: plan.tenant.tenant_id.clone(),
                    waiting_while: doing,
                    waited: no_answer.waited,
                    galera: db.is_galera(),
                    source: Box::new(source),
                });
            }
            // Whatever the error, a requested stop explains it.
            Err(_) if cancel.is_cancelled() => {
                return Ok(TenantOutcome::RolledBack {
                    tenant: plan.tenant.tenant_id.clone(),
                    retries,
                });
            }
            Err(StepError::Database { source, doing, .. }) if retry::is_unreachable(&source) => {
                return Err(SeedError::ServerLost {
                    server: db.server_address(),
                    tenant: plan.tenant.tenant_id.clone(),
                    lost_while: connection_lost.unwrap_or(doing),
                    source: Box::new(source),
                });
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
                seeder.progress.retrying(
                    &plan.tenant.tenant_id,
                    attempt + 1,
                    retry::reason(&source),
                );
                tokio::time::sleep(retry::backoff(attempt)).await;
            }
            Err(StepError::Database {
                doing,
                table,
                source,
            }) => {
                return Err(SeedError::Database {
                    doing: format!(
                        "{doing} for tenant {} (nothing of this tenant was written; {attempt} {})",
                        plan.tenant.tenant_id,
                        if attempt == 1 { "try" } else { "tries" }
                    ),
                    tenant: Some(plan.tenant.tenant_id.clone()),
                    table,
                    source,
                });
            }
            Err(StepError::RolledBackByCluster { .. })
                if attempt < retry::MAX_ATTEMPTS && started.elapsed() < retry::MAX_RETRY_TIME =>
            {
                retries += 1;
                seeder.progress.retrying(
                    &plan.tenant.tenant_id,
                    attempt + 1,
                    "the cluster rolled it back for another node's commit",
                );
                tokio::time::sleep(retry::backoff(attempt)).await;
            }
            Err(StepError::RolledBackByCluster { doing }) => {
                return Err(SeedError::database(
                    format!(
                        "{doing} for tenant {} ({attempt} tries)",
                        plan.tenant.tenant_id
                    ),
                    DbErr::Custom(
                        "the Galera cluster rolled back the tenant's transaction on every try, \
                         for other nodes' conflicting commits"
                            .to_owned(),
                    ),
                ));
            }
            Err(StepError::Refused(refusal)) => return Err(refusal),
        }
    }
}
