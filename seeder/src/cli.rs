//! The `seeder` command line. It only parses, wires and reports; the work
//! is in the rest of the library (dataset → steps → verify).
//!
//! Exit status: 0 success, 1 verification found violations, 2 an error
//! (bad input, unreachable database, schema problems).

use std::process::ExitCode;
use std::time::Duration;

use crate::dataset::{DEFAULT_SEED, Dataset, DatasetSpec};
use crate::db::{DatabaseTarget, prepare_schema};
use crate::error::SeedError;
use crate::run::{SeedSummary, now, seed};
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

    /// Seconds to wait for the database to answer.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600), global = true)]
    connect_timeout: u64,

    /// Sites per tenant.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10_000), global = true)]
    sites_per_tenant: u32,

    /// Devices per site.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=99), global = true)]
    devices_per_site: u32,
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

async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let o = cli.options;
    // Everything the user typed is checked before any database is opened.
    let spec = DatasetSpec {
        seed: o.seed,
        sites_per_tenant: o.sites_per_tenant as usize,
        devices_per_site: o.devices_per_site as usize,
    };
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
    say(format_args!("database: {}\n", target.display));

    let db = target
        .connect(Duration::from_secs(o.connect_timeout))
        .await?;
    let result = if verify_only {
        // Verification reads only: it never migrates.
        prepare_schema(&db, &target, false).await?;
        check(&db, &target, &tenants).await
    } else {
        let applied = prepare_schema(&db, &target, !o.no_migrate).await?;
        if applied > 0 {
            say(format_args!("migrations: applied {applied}\n"));
        }
        let report = seed(&db, &dataset, &selection, &tenants, now(), target.secret()).await?;
        say(SeedSummary(&report));
        if report.inserted_total() == 0 && report.updated_total() == 0 {
            say("nothing to do: every row was already present\n");
        }
        check(&db, &target, &tenants).await
    };
    db.close().await.ok();
    result
}

async fn check(
    db: &sea_orm::DatabaseConnection,
    target: &DatabaseTarget,
    tenants: &[String],
) -> anyhow::Result<Outcome> {
    let report = verify(db, Some(tenants))
        .await
        .map_err(|e| SeedError::database("verifying", e, target.secret()))?;
    say(&report);
    Ok(if report.passed() {
        Outcome::Ok
    } else {
        Outcome::InvariantsBroken
    })
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
