//! `cargo run -p entity-codegen [-- --check]`: regenerates
//! entity/src/generated from the migrations, or (with `--check`, as CI
//! does) fails when the committed files differ from a fresh generation.

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use entity_codegen::{DEFAULT_SERVER, committed_dir, differing_files, regenerate};

/// Regenerates the `entity` crate's generated code: migrates a scratch
/// PostgreSQL database, runs sea-orm-cli 2.0.4's generator on it, drops it.
#[derive(Parser)]
#[command(name = "entity-codegen")]
struct Args {
    /// Compare a fresh generation with the committed files instead of
    /// writing them; exit 1 if they differ.
    #[arg(long)]
    check: bool,
    /// PostgreSQL server (no database) for the scratch database.
    #[arg(long, env = "REGEN_PG_URL", default_value = DEFAULT_SERVER)]
    server: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<ExitCode> {
    let committed = committed_dir();
    if !args.check {
        regenerate(&args.server, &committed).await?;
        println!("regenerated entity/src/generated from the migrations");
        return Ok(ExitCode::SUCCESS);
    }
    let fresh = tempfile::tempdir()?;
    regenerate(&args.server, fresh.path()).await?;
    let differing = differing_files(&committed, fresh.path())?;
    if differing.is_empty() {
        println!("entities are up to date with the migrations");
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "entity/src/generated is stale ({}): run `cargo run -p entity-codegen` and commit the result",
        differing.join(", ")
    );
    Ok(ExitCode::from(1))
}
