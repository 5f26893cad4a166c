//! Regenerates the `entity` crate's `src/generated/` from the migrations.
//!
//! The generator is sea-orm-cli 2.0.4's own `generate entity` command,
//! linked as a library (the same sea-orm-codegen and sea-schema versions
//! the CLI release uses) and run in process with the options the committed
//! entities were made with ([`GENERATE_OPTIONS`]). Nothing is installed: it
//! builds from the workspace's dependencies.
//!
//! PostgreSQL is the reference backend: generating from SQLite loses
//! integer widths and composite unique keys, and MySQL has no `text`
//! primary keys.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser as _;
use migration::MigratorTrait;
use sea_orm::{ConnectionTrait, Database};
use sea_orm_cli::{Cli, Commands, run_generate_command};
use url::Url;

/// The server the scratch database is made on when none is given.
pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// sea-orm-cli options of the committed entities (after
/// `generate entity --database-url URL --output-dir DIR`).
pub const GENERATE_OPTIONS: &[&str] = &[
    "--entity-format",
    "compact",
    "--with-serde",
    "both",
    "--date-time-crate",
    "chrono",
    "--ignore-tables",
    "seaql_migrations",
    "--banner-version",
    "off",
];

/// Where the committed entities live: `entity/src/generated`.
pub fn committed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../src/generated")
}

/// Runs the generator on the database at `database_url` (a PostgreSQL URL
/// naming the database) and writes one file per table, `mod.rs` and
/// `prelude.rs` into `out_dir`, replacing the `.rs` files there.
///
/// Errors: the URL or the options are refused, the database cannot be
/// read, or a file cannot be written.
pub async fn generate(database_url: &str, out_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    // Stale files of dropped tables must go: the directory is all output.
    for entry in std::fs::read_dir(out_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let out = out_dir
        .to_str()
        .context("the output directory's path is not UTF-8")?;
    let mut argv = vec![
        "sea-orm-cli",
        "generate",
        "entity",
        "--database-url",
        database_url,
        "--output-dir",
        out,
    ];
    argv.extend_from_slice(GENERATE_OPTIONS);
    let cli = Cli::try_parse_from(argv).context("sea-orm-cli refused the generator's options")?;
    let Commands::Generate { command } = cli.command else {
        bail!("sea-orm-cli parsed `generate entity` as another command");
    };
    // sea-orm-cli's error is a `Box<dyn Error>` (not `Send`): said as text.
    run_generate_command(command, false)
        .await
        .map_err(|e| anyhow::anyhow!("sea-orm-cli generate entity: {e}"))
}

/// A database made for one generation on a PostgreSQL server and dropped
/// by [`ScratchDatabase::drop_now`].
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    /// URL of the scratch database itself.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `ota_seed_regen_<pid>_<n>` on `server` (a PostgreSQL URL
    /// without a database, e.g. [`DEFAULT_SERVER`]).
    pub async fn create(server: &str) -> Result<ScratchDatabase> {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("ota_seed_regen_{}_{n}", std::process::id());
        let admin_url = with_database(server, "postgres")?;
        let url = with_database(server, &name)?;
        let admin = Database::connect(&admin_url)
            .await
            .with_context(|| format!("connecting to the PostgreSQL server at {server}"))?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("creating the scratch database {name}"))?;
        admin.close().await?;
        Ok(ScratchDatabase {
            admin_url,
            name,
            url,
        })
    }

    /// Drops the database (closing whatever still uses it).
    pub async fn drop_now(self) -> Result<()> {
        let admin = Database::connect(&self.admin_url).await?;
        admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .with_context(|| format!("dropping the scratch database {}", self.name))?;
        admin.close().await?;
        Ok(())
    }
}

/// `server` with its path set to `/database`.
fn with_database(server: &str, database: &str) -> Result<String> {
    let mut url = Url::parse(server)
        .with_context(|| format!("{server} is not a URL (expected postgres://user@host:port)"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        bail!("{server}: entities are generated from PostgreSQL (postgres://user@host:port)");
    }
    if !matches!(url.path(), "" | "/") {
        bail!("{server}: give the server without a database; a scratch database is made on it");
    }
    url.set_path(database);
    Ok(url.into())
}

/// Migrates a scratch database on `server` with the project's migrations,
/// generates the entities into `out_dir`, and drops the database (also when
/// generating failed).
pub async fn regenerate(server: &str, out_dir: &Path) -> Result<()> {
    let scratch = ScratchDatabase::create(server).await?;
    let outcome = async {
        let db = Database::connect(&scratch.url).await?;
        migration::Migrator::up(&db, None)
            .await
            .context("migrating the scratch database")?;
        db.close().await?;
        generate(&scratch.url, out_dir).await
    }
    .await;
    let dropped = scratch.drop_now().await;
    outcome?;
    dropped
}

/// Names of the files that differ between two generated directories
/// (present in one only, or with other contents), sorted.
pub fn differing_files(committed: &Path, fresh: &Path) -> Result<Vec<String>> {
    let names = |dir: &Path| -> Result<BTreeSet<String>> {
        let mut names = BTreeSet::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            names.insert(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    };
    let all: BTreeSet<String> = names(committed)?.union(&names(fresh)?).cloned().collect();
    let mut differing = Vec::new();
    for name in all {
        let a = std::fs::read(committed.join(&name)).ok();
        let b = std::fs::read(fresh.join(&name)).ok();
        if a != b {
            differing.push(name);
        }
    }
    Ok(differing)
}
