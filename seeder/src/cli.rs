//! The `seeder` command line. It only parses, wires and reports; the work
//! is in the rest of the library (dataset → steps → verify).
//!
//! Exit status: 0 success, 1 verification found violations, 2 an error
//! (bad input, unreachable database, schema problems).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::dataset::{DEFAULT_SEED, Dataset, DatasetSpec};
use crate::db::{
    DatabaseTarget, Db, SchemaOrigin, SchemaReport, SchemaUse, prepare_schema, refuse_read_only,
};
use crate::dry_run::dry_run;
use crate::error::SeedError;
use crate::interrupt::{EXIT_INTERRUPTED, Interrupt, Phase};
use crate::progress::{Progress, ProgressMode};
use crate::report::{DifferingRow, SeedReport, SeedSummary, Stopped, TableCounts, VerifyReport};
use crate::run::{SeedRequest, now, seed};
use crate::selection::{Selection, select_tenants};
use crate::verify::verify;
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    version,
    about = "Seeds a Pulse database with coherent OTA demo data, idempotently, and verifies it."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, seed the dataset, then verify it (the default).
    Seed,
    /// Read-only: row counts, per-campaign breakdown, and the dataset's
    /// invariants, naming every violating row. Exits 1 on any violation.
    Verify,
}

#[derive(Args)]
struct Options {
    /// Database to use: postgres://..., mysql://... or sqlite://...
    /// [default: the SQLite file ./ota-seed.sqlite]
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,

    /// Seed of the random parts of the dataset (same seed, same rows).
    #[arg(long, default_value_t = DEFAULT_SEED, global = true)]
    seed: u64,

    /// Seed only these tables (comma-separated or repeated): tenants,
    /// devices, firmware, campaigns, device-status, or ota (the last three).
    /// Tables they reference are included.
    #[arg(long, value_name = "TABLES", global = true)]
    only: Vec<String>,

    /// Seed or verify only this tenant of the dataset (repeatable).
    #[arg(long = "tenant", value_name = "ID", global = true)]
    tenants: Vec<String>,

    /// Do not apply migrations; fail if the schema is not in place.
    #[arg(long, global = true)]
    no_migrate: bool,

    /// Seconds to wait for the database to answer (and, on SQLite, for
    /// another process's lock on the file).
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600), global = true)]
    connect_timeout: u64,

    /// Tenants: the two demo tenants, then generated ones.
    #[arg(long = "tenants", value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(i64).range(1..=100_000), allow_negative_numbers = true, global = true)]
    tenant_count: i64,

    /// Sites per tenant.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(i64).range(1..=1_000_000), allow_negative_numbers = true, global = true)]
    sites_per_tenant: i64,

    /// Devices per site.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..=1_000_000), allow_negative_numbers = true, global = true)]
    devices_per_site: i64,

    /// Campaigns per tenant; beyond the demo's completed one they take
    /// every state in turn (RUNNING, PAUSED, ABORTED, CREATED, ...).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..=1_000), allow_negative_numbers = true, global = true)]
    campaigns_per_tenant: i64,

    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    quiet: bool,

    /// Print a machine-readable summary (JSON) instead of the report.
    #[arg(long, global = true, conflicts_with = "quiet")]
    json: bool,

    /// Skip the verification that normally ends a seeding run.
    #[arg(long, global = true)]
    no_verify: bool,

    /// Show per table what a seeding run would insert, and write nothing
    /// (no migration, no row).
    #[arg(long, global = true)]
    dry_run: bool,

    /// Allow writing to a database that is not on this machine. Without it,
    /// only loopback addresses, Unix sockets and SQLite files are seeded.
    #[arg(long, global = true)]
    allow_remote: bool,

    /// PostgreSQL: the schema that holds (or is to hold) the OTA tables
    /// [default: where the tables resolve through the search_path].
    #[arg(long, value_name = "NAME", global = true)]
    schema: Option<String>,

    /// Longest any statement of the seeder may run, a lock be waited for,
    /// or a transaction sit idle, overriding the role's or database's own
    /// settings (statement_timeout, lock_timeout,
    /// idle_in_transaction_session_timeout; MariaDB max_statement_time,
    /// innodb_lock_wait_timeout). 0: no limit.
    #[arg(long, value_name = "SECS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(0..=86_400), global = true)]
    statement_timeout: u64,
}

/// How a run ends, beyond plain success.
enum Outcome {
    Ok,
    InvariantsBroken,
    Interrupted,
}

/// Runs the command line with the process's arguments and environment.
pub fn main() -> ExitCode {
    if let Err(e) = load_dotenv() {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{}", one_line(&e));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::InvariantsBroken) => ExitCode::from(1),
        Ok(Outcome::Interrupted) => ExitCode::from(EXIT_INTERRUPTED),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// clap's first line says what is wrong; its usage block below would bury
/// that line in a script's log, so it is replaced by a pointer to --help.
fn one_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("error: invalid arguments");
    format!("{first} (see --help)")
}

fn load_dotenv() -> anyhow::Result<()> {
    match dotenvy::dotenv() {
        Ok(_) => Ok(()),
        Err(e) if e.not_found() => Ok(()),
        Err(e) => Err(e).context("reading .env"),
    }
}

/// Largest fleet accepted per tenant: campaign counters are 32-bit
/// integers, and beyond this a typo is likelier than a wish.
const MAX_DEVICES_PER_TENANT: usize = 50_000_000;

/// Largest fleet accepted in all: at the measured ~30,000 rows/s, a billion
/// devices (and as many status rows) is already most of a day.
const MAX_DEVICES_IN_ALL: usize = 1_000_000_000;

/// Site ids are generated up front (devices are streamed from them): a
/// million of them take some 60 MB.
const MAX_SITES_IN_ALL: usize = 1_000_000;

fn dataset_spec(o: &Options) -> anyhow::Result<DatasetSpec> {
    let spec = DatasetSpec {
        seed: o.seed,
        tenants: size(o.tenant_count),
        sites_per_tenant: size(o.sites_per_tenant),
        devices_per_site: size(o.devices_per_site),
        campaigns_per_tenant: size(o.campaigns_per_tenant),
    };
    let per_tenant = spec.devices_per_tenant();
    if per_tenant > MAX_DEVICES_PER_TENANT {
        anyhow::bail!(
            "--sites-per-tenant {} × --devices-per-site {} = {per_tenant} devices per tenant, more than the {MAX_DEVICES_PER_TENANT} this seeder accepts",
            spec.sites_per_tenant,
            spec.devices_per_site
        );
    }
    let sites = spec.sites_per_tenant.saturating_mul(spec.tenants);
    if sites > MAX_SITES_IN_ALL {
        anyhow::bail!(
            "--tenants {} × --sites-per-tenant {} = {sites} sites in all, more than the {MAX_SITES_IN_ALL} this seeder accepts (site ids are held in memory)",
            spec.tenants,
            spec.sites_per_tenant
        );
    }
    let total = per_tenant.saturating_mul(spec.tenants);
    if total > MAX_DEVICES_IN_ALL {
        anyhow::bail!(
            "--tenants {} × {per_tenant} devices = {total} devices in all, more than the {MAX_DEVICES_IN_ALL} this seeder accepts",
            spec.tenants
        );
    }
    Ok(spec)
}

/// Sizes are parsed as signed numbers so that `-1` is answered with the
/// accepted range rather than taken for a flag; clap has checked the range.
fn size(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let o = cli.options;
    // Everything the user typed is checked before any database is opened.
    let spec = dataset_spec(&o)?;
    let dataset = Dataset::generate(&spec);
    let selection = Selection::parse(&o.only)?;
    let tenants = select_tenants(&dataset, &o.tenants)?;
    let target = match o.database_url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(url) => DatabaseTarget::parse(url)?,
        None => DatabaseTarget::default_sqlite(
            &std::env::current_dir().context("reading the working directory")?,
        ),
    };
    if o.schema.is_some() && target.backend != sea_orm::DbBackend::Postgres {
        anyhow::bail!(
            "--schema applies to PostgreSQL only; {} has no schemas to choose from",
            target.display
        );
    }
    let verify_only = matches!(cli.command, Some(Command::Verify));
    let writes = !verify_only && !o.dry_run;
    if writes && !target.local && !o.allow_remote {
        return Err(SeedError::RemoteRefused {
            target: target.display.clone(),
        }
        .into());
    }
    let interrupt = Interrupt::on_signals().context("listening for Ctrl-C and SIGTERM")?;
    let output = Output::from_flags(o.quiet, o.json);
    output.human(format_args!("database: {}\n", target.display));

    let timeout = Duration::from_secs(o.connect_timeout);
    let mut db = if writes {
        target.connect(timeout).await?
    } else {
        match target.connect_read_only(timeout).await? {
            Some(db) => db,
            None if verify_only => {
                return Err(SeedError::NoSqliteFile {
                    path: target.display.clone(),
                }
                .into());
            }
            // A dry run on a file that does not exist yet: an empty
            // in-memory database stands in for it, so nothing is created.
            None => Db::empty_sqlite().await?,
        }
    };
    db.set_statement_timeout(
        (o.statement_timeout > 0).then(|| Duration::from_secs(o.statement_timeout)),
    );
    let mut summary = RunSummary {
        database: target.display.clone(),
        command: if verify_only { "verify" } else { "seed" },
        dry_run: o.dry_run && !verify_only,
        tenants: tenants.clone(),
        schema: None,
        pg_schema: None,
        migrations_applied: 0,
        migrations_pending: 0,
        tables: BTreeMap::new(),
        differing_rows: Vec::new(),
        seconds: 0.0,
        rows_inserted: 0,
        rows_per_second: 0.0,
        interrupted: false,
        rolled_back_tenant: None,
        verification: None,
    };
    if summary.dry_run {
        let request = SeedRequest {
            dataset: &dataset,
            selection: &selection,
            tenants: &tenants,
            now: now(),
        };
        let outcome = preview(
            &mut db,
            &target,
            o.no_migrate,
            o.schema.as_deref(),
            &request,
            output,
            &mut summary,
        )
        .await;
        db.close().await;
        outcome?;
        output.json(&summary)?;
        return Ok(Outcome::Ok);
    }
    if verify_only {
        // Verification reads only: it never migrates.
        let schema = prepare_schema(
            &mut db,
            &target,
            SchemaUse::Verify,
            o.schema.as_deref(),
            timeout,
            &interrupt,
        )
        .await?;
        summary.record_schema(&schema, &db, output);
    } else {
        // Nothing is written, migrations included, where writes are not
        // wanted.
        refuse_read_only(&db, &target).await?;
        let schema = prepare_schema(
            &mut db,
            &target,
            SchemaUse::Seed {
                migrate: !o.no_migrate,
            },
            o.schema.as_deref(),
            timeout,
            &interrupt,
        )
        .await?;
        summary.record_schema(&schema, &db, output);
        if schema.applied > 0 {
            output.human(format_args!("migrations: applied {}\n", schema.applied));
        }
        let progress = Progress::new(if output == Output::Human {
            ProgressMode::detect(false)
        } else {
            ProgressMode::Quiet
        });
        let started = Instant::now();
        // From here a signal waits for a batch boundary instead of ending
        // the process.
        let seeding = interrupt.enter(Phase::Seeding);
        let request = SeedRequest {
            dataset: &dataset,
            selection: &selection,
            tenants: &tenants,
            now: now(),
        };
        let report = seed(&db, &request, target.secret(), &progress, &interrupt).await?;
        drop(seeding);
        summary.seconds = started.elapsed().as_secs_f64();
        summary.record(&report);
        output.human(SeedSummary {
            report: &report,
            dry_run: false,
        });
        // A signal after the last tenant committed: everything is in, but
        // the user asked to stop, so the verification is skipped.
        let stopped = report.stopped.clone().or_else(|| {
            interrupt
                .requested()
                .then_some(Stopped { rolled_back: None })
        });
        if let Some(stopped) = &stopped {
            summary.interrupted = true;
            summary.rolled_back_tenant = stopped.rolled_back.clone();
            let committed = if report.tenants.is_empty() {
                "no tenant was committed".to_owned()
            } else {
                format!("committed before it: {}", report.tenants.join(", "))
            };
            let rolled_back = match &stopped.rolled_back {
                Some(t) => format!("tenant {t} was rolled back whole"),
                None if report.tenants.len() == tenants.len() => {
                    "stopped after the last tenant, before verification".to_owned()
                }
                None => "stopped between tenants".to_owned(),
            };
            eprintln!(
                "interrupted: {rolled_back}; {committed}. Run the same command again to finish."
            );
            db.close().await;
            output.json(&summary)?;
            return Ok(Outcome::Interrupted);
        }
        if report.inserted_total() == 0 && report.updated_total() == 0 {
            output.human("nothing to do: every row was already present\n");
        }
        output.human(format_args!(
            "seeded in {:.2} s ({:.0} rows/s)\n",
            summary.seconds, summary.rows_per_second
        ));
    }
    let outcome = if o.no_verify && !verify_only {
        Outcome::Ok
    } else {
        let report = verify(&db, &tenants)
            .await
            .map_err(|e| SeedError::database("verifying", e, target.secret()))?;
        output.human(&report);
        let outcome = if report.passed() {
            Outcome::Ok
        } else {
            Outcome::InvariantsBroken
        };
        summary.verification = Some(report);
        outcome
    };
    db.close().await;
    output.json(&summary)?;
    Ok(outcome)
}

/// `--dry-run`: reads the schema state and the tenants' rows, prints what a
/// run would do.
async fn preview(
    db: &mut Db,
    target: &DatabaseTarget,
    no_migrate: bool,
    pg_schema: Option<&str>,
    request: &SeedRequest<'_>,
    output: Output,
    summary: &mut RunSummary,
) -> anyhow::Result<()> {
    let schema = prepare_schema(
        db,
        target,
        SchemaUse::DryRun {
            migrate: !no_migrate,
        },
        pg_schema,
        Duration::ZERO,
        &Interrupt::never(),
    )
    .await?;
    output.human("dry run: nothing is written\n");
    summary.record_schema(&schema, db, output);
    summary.migrations_pending = schema.pending;
    if schema.pending > 0 {
        output.human(format_args!("migrations: would apply {}\n", schema.pending));
    }
    let report = dry_run(
        db,
        &schema.tables,
        request.dataset,
        request.selection,
        request.tenants,
    )
    .await
    .map_err(|e| SeedError::database("reading the existing rows", e, target.secret()))?;
    summary.record(&report);
    output.human(SeedSummary {
        report: &report,
        dry_run: true,
    });
    Ok(())
}

/// What goes to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Human,
    Quiet,
    Json,
}

impl Output {
    fn from_flags(quiet: bool, json: bool) -> Output {
        match (json, quiet) {
            (true, _) => Output::Json,
            (false, true) => Output::Quiet,
            (false, false) => Output::Human,
        }
    }

    fn human(self, text: impl std::fmt::Display) {
        if self == Output::Human {
            say(text);
        }
    }

    fn json(self, summary: &RunSummary) -> anyhow::Result<()> {
        if self == Output::Json {
            say(format_args!("{}\n", serde_json::to_string_pretty(summary)?));
        }
        Ok(())
    }
}

/// The `--json` document. `database` is the redacted URL: no field ever
/// carries a password.
#[derive(serde::Serialize)]
struct RunSummary {
    database: String,
    command: &'static str,
    /// With `--dry-run`, `inserted` counts rows that would be inserted.
    dry_run: bool,
    tenants: Vec<String>,
    /// Whose schema it is: `created` (by this run's migrations, or a dry
    /// run's would-be ones), `managed` (ota-seed's migration history) or
    /// `unmanaged` (the platform's own tables, seeded as they are).
    schema: Option<SchemaOrigin>,
    /// PostgreSQL: the schema holding the OTA tables.
    pg_schema: Option<String>,
    migrations_applied: usize,
    /// Migrations a dry run found not yet applied.
    migrations_pending: usize,
    /// Per table: rows inserted, already present, updated.
    tables: BTreeMap<&'static str, TableCounts>,
    /// Existing rows that differ from the dataset, left as found.
    differing_rows: Vec<DifferingRow>,
    /// Wall time of the seeding itself (not migrations or verification).
    seconds: f64,
    rows_inserted: u64,
    rows_per_second: f64,
    /// Stopped by SIGINT/SIGTERM: only the tenants listed were committed.
    interrupted: bool,
    rolled_back_tenant: Option<String>,
    verification: Option<VerifyReport>,
}

impl RunSummary {
    fn record_schema(&mut self, schema: &SchemaReport, db: &Db, output: Output) {
        self.schema = Some(schema.origin);
        self.pg_schema = db.pg_schema().map(str::to_owned);
        self.migrations_applied = schema.applied;
        if schema.origin == SchemaOrigin::Unmanaged {
            output.human(
                "schema: OTA tables found, not managed by ota-seed; migrations not applied\n",
            );
        }
    }

    fn record(&mut self, report: &SeedReport) {
        self.tenants = report.tenants.clone();
        self.rows_inserted = report.inserted_total();
        self.rows_per_second = self.rows_inserted as f64 / self.seconds.max(1e-9);
        self.tables = report
            .tables
            .iter()
            .map(|(t, c)| (t.table_name(), *c))
            .collect();
        self.differing_rows = report.differing.clone();
    }
}

/// Prints to stdout; a closed pipe (`seeder | head`) ends the program
/// quietly instead of panicking, as command-line tools are expected to.
fn say(text: impl std::fmt::Display) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = write!(out, "{text}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(2);
    }
}
