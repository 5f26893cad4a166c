//! The `seeder` command line, on top of the library's public API only (it
//! is a module of the binary: `seeder::` is the library as any application
//! sees it): it parses, opens the database, calls the library, and prints.
//!
//! Exit status: 0 success, 1 verification found violations, 2 an error
//! (bad input, unreachable database, schema problems), 130 stopped by
//! Ctrl-C or SIGTERM.

mod args;
mod commands;
mod context;
mod docs;
mod error;
mod nodelay;
mod outcome;
mod output;
mod scenarios;
mod signals;
mod target;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use seeder::{Cancel, Dataset, Seeder};

use args::{Cli, Command, ScenarioCommand};
use context::Context;
use outcome::Outcome;
use output::Output;
use signals::EXIT_INTERRUPTED;
use target::{DatabaseTarget, Secrets};

/// How long the runtime's leftover work may take once a command has
/// finished (see `main`): its tasks are dropped at once; only blocking
/// work is waited for.
const RUNTIME_SHUTDOWN_LIMIT: Duration = Duration::from_secs(2);

/// Runs the command line with the process's arguments and environment.
pub fn main() -> ExitCode {
    if let Err(e) = load_dotenv() {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    let cli = match Cli::parse_checked(std::env::args_os()) {
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
    let mut secrets = Secrets::default();
    let outcome = runtime.block_on(run(cli, &mut secrets));
    // Dropping the runtime would wait without end for a task that never
    // yields (sqlx's pool maintenance once spun so: issue 20); what is left
    // once the command has finished is given a moment, then abandoned.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_LIMIT);
    match outcome {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::InvariantsBroken) => ExitCode::from(1),
        Ok(Outcome::Interrupted) => ExitCode::from(EXIT_INTERRUPTED),
        Err(e) => {
            // A driver may echo the password in its message.
            eprintln!("error: {}", secrets.scrub(&error_chain(&e)));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, each cause only where the text
/// so far does not already say it: a database error's message includes
/// the driver's, which SeaORM and sqlx then repeat as sources. Driver
/// errors are read without their source locations (`seeder::driver_message`).
fn error_chain(e: &anyhow::Error) -> String {
    let text = |e: &(dyn std::error::Error + 'static)| {
        seeder::driver_message(e).unwrap_or_else(|| e.to_string())
    };
    let mut line = text(e.as_ref());
    for cause in e.chain().skip(1) {
        let cause = text(cause);
        if !line.contains(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
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

async fn run(cli: Cli, secrets: &mut Secrets) -> anyhow::Result<Outcome> {
    let Cli {
        command,
        seed,
        common,
    } = cli;
    match &command {
        Some(Command::Completions { shell }) => return docs::completions(*shell),
        Some(Command::Man) => return docs::man(),
        Some(Command::Scenarios) => {
            return scenarios::list(Output::from_flags(common.quiet, common.json));
        }
        Some(Command::Scenario {
            command: ScenarioCommand::Show(args),
        }) => return scenarios::show(&common, args),
        _ => {}
    }
    // Everything the user typed is checked before any database is opened:
    // the scenario (a file's errors carry its line and column), the sizes,
    // the tables, the tenants, the URL.
    let dataset = Dataset::from_scenario(&common.scenario()?, common.seed)?;
    let seed_args = match &command {
        None => Some(&seed),
        Some(Command::Seed(args)) => Some(args),
        _ => None,
    };
    let only = match seed_args {
        Some(args) => args::parse_only(&args.only)?,
        None => Vec::new(),
    };
    let tenants = Seeder::new(&dataset)
        .tenants(common.tenant_ids.iter().cloned())
        .tenant_ids()?;
    let target = match common
        .database_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        Some(url) => DatabaseTarget::parse(url)?,
        None => DatabaseTarget::default_sqlite(
            &std::env::current_dir().context("reading the working directory")?,
        ),
    };
    *secrets = target.secrets().clone();
    if common.schema.is_some() && target.backend != sea_orm::DbBackend::Postgres {
        anyhow::bail!(
            "--schema applies to PostgreSQL only; {} has no schemas to choose from",
            target.display
        );
    }
    let ctx = Context {
        target,
        dataset,
        tenants,
        output: Output::from_flags(common.quiet, common.json),
        cancel: Cancel::new(),
        connect_timeout: Duration::from_secs(common.connect_timeout),
        common,
    };
    match command {
        Some(Command::Verify) => commands::verify(ctx).await,
        Some(Command::Reset(args)) => commands::reset(ctx, &args).await,
        Some(Command::Seed(args)) => commands::seed(ctx, &args, &only).await,
        None => commands::seed(ctx, &seed, &only).await,
        // Answered before any of the above.
        Some(
            Command::Completions { .. }
            | Command::Man
            | Command::Scenarios
            | Command::Scenario { .. },
        ) => Ok(Outcome::Ok),
    }
}
