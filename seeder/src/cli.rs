//! The `seeder` command line. It only parses, wires and reports; the work
//! is in the rest of the library (dataset → steps → verify).
//!
//! Exit status: 0 success, 1 verification found violations, 2 an error
//! (bad input, unreachable database, schema problems).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::dataset::{DEFAULT_SEED, Dataset, DatasetSpec};
use crate::db::{DatabaseTarget, prepare_schema};
use crate::error::SeedError;
use crate::progress::{Progress, ProgressMode};
use crate::run::{SeedSummary, now, seed};
use crate::selection::{Selection, select_tenants};
use crate::steps::TableCounts;
use crate::verify::{VerifyReport, verify};
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

    /// Seconds to wait for the database to answer.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600), global = true)]
    connect_timeout: u64,

    /// Tenants: the two demo tenants, then generated ones.
    #[arg(long = "tenants", value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=100_000), global = true)]
    tenant_count: u32,

    /// Sites per tenant.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    sites_per_tenant: u32,

    /// Devices per site.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    devices_per_site: u32,

    /// Campaigns per tenant; beyond the demo's completed one they take
    /// every state in turn (RUNNING, PAUSED, ABORTED, CREATED, ...).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000), global = true)]
    campaigns_per_tenant: u32,

    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    quiet: bool,

    /// Print a machine-readable summary (JSON) instead of the report.
    #[arg(long, global = true, conflicts_with = "quiet")]
    json: bool,

    /// Skip the verification that normally ends a seeding run.
    #[arg(long, global = true)]
    no_verify: bool,
}

/// How a run ends, beyond plain success.
enum Outcome {
    Ok,
    InvariantsBroken,
}

/// Runs the command line with the process's arguments and environment.
pub fn main() -> ExitCode {
    if let Err(e) = load_dotenv() {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
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
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
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

fn dataset_spec(o: &Options) -> anyhow::Result<DatasetSpec> {
    let spec = DatasetSpec {
        seed: o.seed,
        tenants: o.tenant_count as usize,
        sites_per_tenant: o.sites_per_tenant as usize,
        devices_per_site: o.devices_per_site as usize,
        campaigns_per_tenant: o.campaigns_per_tenant as usize,
    };
    let per_tenant = spec.devices_per_tenant();
    if per_tenant > MAX_DEVICES_PER_TENANT {
        anyhow::bail!(
            "--sites-per-tenant {} × --devices-per-site {} = {per_tenant} devices per tenant, more than the {MAX_DEVICES_PER_TENANT} this seeder accepts",
            spec.sites_per_tenant,
            spec.devices_per_site
        );
    }
    Ok(spec)
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
    let verify_only = matches!(cli.command, Some(Command::Verify));
    let output = Output::from_flags(o.quiet, o.json);
    output.human(format_args!("database: {}\n", target.display));

    let timeout = Duration::from_secs(o.connect_timeout);
    let db = target.connect(timeout).await?;
    let mut summary = RunSummary {
        database: target.display.clone(),
        command: if verify_only { "verify" } else { "seed" },
        tenants: tenants.clone(),
        migrations_applied: 0,
        tables: BTreeMap::new(),
        seconds: 0.0,
        rows_inserted: 0,
        rows_per_second: 0.0,
        verification: None,
    };
    if verify_only {
        // Verification reads only: it never migrates.
        prepare_schema(&db, &target, false, timeout).await?;
    } else {
        summary.migrations_applied = prepare_schema(&db, &target, !o.no_migrate, timeout).await?;
        if summary.migrations_applied > 0 {
            output.human(format_args!(
                "migrations: applied {}\n",
                summary.migrations_applied
            ));
        }
        let progress = Progress::new(if output == Output::Human {
            ProgressMode::detect(false)
        } else {
            ProgressMode::Quiet
        });
        let started = Instant::now();
        let report = seed(
            &db,
            &dataset,
            &selection,
            &tenants,
            now(),
            target.secret(),
            &progress,
        )
        .await?;
        summary.seconds = started.elapsed().as_secs_f64();
        summary.rows_inserted = report.inserted_total();
        summary.rows_per_second = summary.rows_inserted as f64 / summary.seconds.max(1e-9);
        summary.tables = report
            .tables
            .iter()
            .map(|(t, c)| (t.table_name(), *c))
            .collect();
        output.human(SeedSummary(&report));
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
        let report = verify(&db, Some(&tenants))
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
    db.close().await.ok();
    if output == Output::Json {
        say(format_args!(
            "{}\n",
            serde_json::to_string_pretty(&summary)?
        ));
    }
    Ok(outcome)
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
}

/// The `--json` document.
#[derive(serde::Serialize)]
struct RunSummary {
    database: String,
    command: &'static str,
    tenants: Vec<String>,
    migrations_applied: usize,
    /// Per table: rows inserted, already present, updated.
    tables: BTreeMap<&'static str, TableCounts>,
    /// Wall time of the seeding itself (not migrations or verification).
    seconds: f64,
    rows_inserted: u64,
    rows_per_second: f64,
    verification: Option<VerifyReport>,
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
