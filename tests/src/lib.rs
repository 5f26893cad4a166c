//! Shared harness of the cross-backend tests.
//!
//! Every test case runs once per backend (`backend_tests!`), each run in a
//! database of its own that is created for it and dropped afterwards, so the
//! cases run in parallel. SQLite always runs. PostgreSQL and MariaDB run when
//! their server answers; otherwise the case is skipped with a line on the
//! terminal (once per test binary) and recorded for the summary at the end
//! of the run ([`skips`]), except under `CI=true` (or
//! `OTA_SEED_REQUIRE_BACKENDS=1`), where a missing server fails the case.
//!
//! Server addresses: `OTA_SEED_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432`) and `OTA_SEED_TEST_MYSQL` (default
//! `mysql://root@127.0.0.1:3306`), both without a database name; an
//! address that cannot be read fails the case ([`server_url`]).

use std::future::Future;
use std::net::{TcpStream, ToSocketAddrs};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub mod app_role;
pub mod certs;
pub mod cleanup;
pub mod galera;
pub mod gate;
pub mod held;
pub mod mariadb_server;
pub mod pgbouncer;
pub mod platform_schema;
pub mod ports;
pub mod postgres18;
pub mod private_postgres;
pub mod process;
pub mod relay;
pub mod seeded;
pub mod server_url;
pub mod shared;
pub mod skips;
pub mod snapshot;
pub mod sql;
pub mod sweep;

pub use ports::free_port;
pub use process::{SEEDER_LIMIT, Spawned, output_within};
pub use server_url::ServerUrl;

use futures_util::FutureExt as _;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend};

pub use anyhow;

/// `Database::connect` under `seeder::without_pool_maintenance`: every pool
/// a test opens runs no sqlx task of its own, so a test's runtime never
/// waits at its end for sqlx's maintenance sweep (the spin of issue 20).
pub async fn connect(
    options: impl Into<sea_orm::ConnectOptions>,
) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut options = options.into();
    seeder::without_pool_maintenance(&mut options);
    Database::connect(options).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::MySql => "MariaDB/MySQL",
        }
    }

    pub fn db_backend(self) -> DbBackend {
        match self {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
            Backend::MySql => DbBackend::MySql,
        }
    }

    /// The address of this backend's server (`None` for SQLite), from
    /// `OTA_SEED_TEST_POSTGRES` / `OTA_SEED_TEST_MYSQL` or their defaults.
    ///
    /// # Panics
    ///
    /// When the variable holds no readable server address: with or
    /// without CI, a mistyped address must fail the case rather than pass
    /// for an absent server and skip it.
    pub fn server(self) -> Option<ServerUrl> {
        let (var, default) = match self {
            Backend::Sqlite => return None,
            Backend::Postgres => (
                "OTA_SEED_TEST_POSTGRES",
                "postgres://postgres@127.0.0.1:5432",
            ),
            Backend::MySql => ("OTA_SEED_TEST_MYSQL", "mysql://root@127.0.0.1:3306"),
        };
        let value = match std::env::var(var) {
            Ok(value) => Some(value),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(value)) => {
                panic!("{var}={value:?} cannot be read: it is not UTF-8")
            }
        };
        match server_url::from_variable(self, var, value.as_deref(), default) {
            Ok(server) => Some(server),
            Err(e) => panic!("{e}"),
        }
    }

    /// Whether the server's port answers (checked once per test binary).
    fn reachable(self) -> bool {
        static PG: OnceLock<bool> = OnceLock::new();
        static MY: OnceLock<bool> = OnceLock::new();
        let cell = match self {
            Backend::Sqlite => return true,
            Backend::Postgres => &PG,
            Backend::MySql => &MY,
        };
        *cell.get_or_init(|| {
            self.server()
                .is_some_and(|server| server.answers(Duration::from_secs(2)))
        })
    }
}

pub fn backends_required() -> bool {
    let set = |var: &str| std::env::var(var).is_ok_and(|v| v == "true" || v == "1");
    set("CI") || set("OTA_SEED_REQUIRE_BACKENDS")
}

/// One test's own database.
pub struct TestDb {
    pub backend: Backend,
    /// URL of this test's database (pass it to the seeder as DATABASE_URL).
    pub url: String,
    /// A scratch directory: the SQLite file lives here, and it is a working
    /// directory for seeder processes.
    pub dir: tempfile::TempDir,
    server: ServerDatabase,
    /// The server's address (`None` on SQLite), to build other URLs from.
    server_url: Option<ServerUrl>,
}

/// Where a server-side test database lives, to drop it after the case.
#[derive(Clone)]
struct ServerDatabase {
    backend: Backend,
    admin_url: Option<String>,
    name: String,
}

impl ServerDatabase {
    async fn drop_database(&self) -> anyhow::Result<()> {
        let Some(admin) = &self.admin_url else {
            return Ok(());
        };
        let db = connect(admin).await?;
        let sql = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS {}", self.name),
        };
        db.execute_unprepared(&sql).await?;
        db.close().await?;
        Ok(())
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Where databases on `server` are created and dropped from.
pub(crate) fn admin_url(backend: Backend, server: &ServerUrl) -> String {
    match backend {
        Backend::Postgres => server.database_url("postgres"),
        _ => server.server_url(),
    }
}

impl TestDb {
    /// A database on the shared server of `backend`: the first in this
    /// process first removes what dead test processes left there
    /// ([`sweep`]).
    async fn create(backend: Backend) -> anyhow::Result<TestDb> {
        let server = backend.server();
        if let Some(server) = &server {
            sweep::server_once(backend, server);
        }
        TestDb::create_on(backend, server).await
    }

    /// A database on `server_url` (`None`: a SQLite file).
    async fn create_on(backend: Backend, server_url: Option<ServerUrl>) -> anyhow::Result<TestDb> {
        let dir = tempfile::tempdir()?;
        let name = format!(
            "ota_seed_t{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .subsec_nanos()
        );
        let (url, admin_url) = match &server_url {
            None => (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("test.sqlite").display()
                ),
                None,
            ),
            Some(server) => {
                let admin = admin_url(backend, server);
                let db = connect(&admin).await?;
                db.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                db.close().await?;
                (server.database_url(&name), Some(admin))
            }
        };
        let server = ServerDatabase {
            backend,
            admin_url,
            name,
        };
        Ok(TestDb {
            backend,
            url,
            dir,
            server,
            server_url,
        })
    }

    /// This test's database's name (on SQLite, a name it would have).
    pub fn name(&self) -> &str {
        &self.server.name
    }

    /// The test server's address.
    ///
    /// # Panics
    ///
    /// On SQLite, which has no server.
    pub fn server_url(&self) -> &ServerUrl {
        match &self.server_url {
            Some(server) => server,
            None => panic!("a {} test database has no server", self.backend.name()),
        }
    }

    /// The URL of another database, `database`, on this test's server
    /// (same user and options).
    pub fn database_url(&self, database: &str) -> String {
        self.server_url().database_url(database)
    }

    /// Where the harness creates and drops databases: PostgreSQL's
    /// `postgres` database, the MySQL server without a database.
    pub fn admin_url(&self) -> String {
        admin_url(self.backend, self.server_url())
    }

    /// This test's database as `user`, with `password` (none: without).
    pub fn url_as(&self, user: &str, password: Option<&str>) -> String {
        self.server_url()
            .as_user(user, password)
            .database_url(self.name())
    }

    /// This test's database's URL with `options` (`key=value&...`) added
    /// to the server's own.
    pub fn url_with_options(&self, options: &str) -> String {
        self.server_url()
            .with_options(options)
            .database_url(self.name())
    }

    pub async fn connect(&self) -> anyhow::Result<DatabaseConnection> {
        Ok(connect(&self.url).await?)
    }

    /// Applies our migrations to this database.
    pub async fn migrate(&self) -> anyhow::Result<DatabaseConnection> {
        use migration::MigratorTrait;
        let db = self.connect().await?;
        migration::Migrator::up(&db, None).await?;
        Ok(db)
    }

    /// Runs the seeder binary against this database, in the scratch
    /// directory (bounded by [`SEEDER_LIMIT`]).
    pub fn seeder(&self, args: &[&str]) -> Output {
        run_seeder(args, &[("DATABASE_URL", &self.url)], self.dir.path())
    }

    /// Starts the seeder against this database in the background.
    pub fn start_seeder(&self, args: &[&str]) -> std::io::Result<Spawned> {
        start_seeder(args, &[("DATABASE_URL", &self.url)], self.dir.path())
    }

    /// Runs `seeder ARGS --json`, expects exit status `code`, and returns
    /// the parsed summary.
    pub fn seeder_json(&self, args: &[&str], code: i32) -> serde_json::Value {
        let out = self.seeder(&[args, &["--json"]].concat());
        json_summary(&out, code)
    }
}

/// How many migrations the database's `seaql_migrations` records.
pub async fn recorded_migrations(conn: &DatabaseConnection) -> anyhow::Result<i64> {
    sql::table_rows(conn, "seaql_migrations").await
}

/// Runs one test case against one backend: creates the database, runs the
/// case, drops the database whether the case passed or not.
pub async fn run_case<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    // Read first, so that an unreadable address fails the case (panics)
    // whether the server would answer or not.
    let server = backend.server();
    if let Some(server) = server.filter(|_| !backend.reachable()) {
        skips::skip_or_fail(
            backend.name(),
            &format!("no server at {}", server.redacted()),
        );
        return;
    }
    let db = TestDb::create(backend)
        .await
        .unwrap_or_else(|e| panic!("could not create a {} test database: {e:#}", backend.name()));
    run_in(db, case).await
}

/// Runs one test case in a database of its own on `server` (a private
/// server the test started), `backend`'s kind; drops the database whether
/// the case passed or not.
pub async fn run_case_on<F, Fut>(backend: Backend, server: &ServerUrl, case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let db = TestDb::create_on(backend, Some(server.clone()))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "could not create a {} test database on {}: {e:#}",
                backend.name(),
                server.redacted()
            )
        });
    run_in(db, case).await
}

async fn run_in<F, Fut>(db: TestDb, case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let backend = db.backend;
    let server = db.server.clone();
    // Captured: shown when the case fails or overruns its time limit.
    eprintln!(
        "[harness] {}: running the case in database {}",
        backend.name(),
        server.name
    );
    let outcome = AssertUnwindSafe(case(db)).catch_unwind().await;
    if let Err(e) = server.drop_database().await {
        eprintln!(
            "warning: could not drop test database {}: {e:#}",
            server.name
        );
    }
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("{} case failed: {e:?}", backend.name()),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Declares `async fn case(db: TestDb) -> anyhow::Result<()>` functions as
/// tests, one per backend: `case::sqlite`, `case::postgres`, `case::mysql`.
///
/// `backend_tests!(postgres_only: case, ...)` declares PostgreSQL-only
/// cases the same way (`case::postgres`), for what only PostgreSQL has
/// (its catalog, row level security).
#[macro_export]
macro_rules! backend_tests {
    (postgres_only: $($case:ident),+ $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::run_case($crate::Backend::Postgres, super::$case).await
                }
            }
        )+
    };
    ($($case:ident),+ $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::run_case($crate::Backend::Sqlite, super::$case).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::run_case($crate::Backend::Postgres, super::$case).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    $crate::run_case($crate::Backend::MySql, super::$case).await
                }
            }
        )+
    };
}

/// How many migrations this build knows: what a fresh database gets, read
/// from the migrator so that adding a migration changes no test.
pub fn migration_count() -> usize {
    migration::known_migration_names().len()
}

/// Whether the tests run as root (then servers that refuse root run as
/// another user, and `runuser` can switch to one).
pub fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Path of the `seeder` binary that users run, built by cargo from the
/// seeder package itself, once per test process. It is built together with
/// this package (`-p seeder -p tests`) so that cargo resolves the same
/// dependency features as for the tests and reuses their build: only the
/// binary itself is linked. Cargo does not hold its build lock while tests
/// run.
pub fn seeder_bin() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| match build_seeder() {
            Ok(path) => path,
            Err(e) => panic!("building the seeder binary: {e:#}"),
        })
        .clone()
}

fn build_seeder() -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let exe = std::env::current_exe()?;
    let release = exe.components().any(|c| c.as_os_str() == "release");
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "seeder",
        "-p",
        "tests",
        "--bin",
        "seeder",
        "--message-format=json-render-diagnostics",
    ]);
    if release {
        cmd.arg("--release");
    }
    // What cargo sets for this test process describes the tests package,
    // not the build: some build scripts (ring's) rerun when such a
    // variable changes, which would rebuild the tree on every call.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_for_this_process = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"].contains(&name.as_ref());
        if set_for_this_process {
            cmd.env_remove(name.as_ref());
        }
    }
    let out = process::output_within(
        &mut cmd,
        "cargo build of the seeder",
        Duration::from_secs(600),
    );
    anyhow::ensure!(
        out.status.success(),
        "cargo build -p seeder -p tests --bin seeder failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|message| {
            let built = message["reason"] == "compiler-artifact"
                && message["target"]["name"] == "seeder"
                && message["target"]["kind"][0] == "bin";
            built
                .then(|| message["executable"].as_str().map(PathBuf::from))
                .flatten()
        })
        .ok_or_else(|| anyhow::anyhow!("cargo reported no seeder executable"))
}

/// The seeder as a command with exactly the given environment additions
/// (the caller's DATABASE_URL is removed), in `cwd`, without colour.
pub fn seeder_command(args: &[&str], env: &[(&str, &str)], cwd: &std::path::Path) -> Command {
    let mut cmd = Command::new(seeder_bin());
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs the seeder with exactly the given environment additions (the
/// caller's DATABASE_URL is removed) in `cwd`, for at most
/// [`SEEDER_LIMIT`]: a run still going then is killed and the test fails,
/// saying so.
pub fn run_seeder(args: &[&str], env: &[(&str, &str)], cwd: &std::path::Path) -> Output {
    output_within(
        &mut seeder_command(args, env, cwd),
        &format!("seeder {args:?}"),
        SEEDER_LIMIT,
    )
}

/// Starts the seeder in the background (see [`Spawned`]).
pub fn start_seeder(
    args: &[&str],
    env: &[(&str, &str)],
    cwd: &std::path::Path,
) -> std::io::Result<Spawned> {
    Spawned::start(
        &mut seeder_command(args, env, cwd),
        &format!("seeder {args:?}"),
    )
}

/// Asserts exit status 2 with exactly one `error:` line on stderr and no
/// panic; returns that line.
pub fn assert_clean_error(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{}", describe(out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{}", describe(out));
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "one line of error expected:\n{}",
        describe(out)
    );
    assert!(lines[0].starts_with("error: "), "{}", describe(out));
    lines[0].to_owned()
}

/// Runs the seeder and insists it exited 0; returns its stdout.
pub fn assert_ok(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", describe(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stdout and stderr of a finished process, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The `--json` summary of a run that exited with `code`.
pub fn json_summary(out: &Output, code: i32) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(code), "{}", describe(out));
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", describe(out)))
}

/// BENCHMARKS.md's 100k fleet: 10 tenants (the scenario's default) of 100
/// sites of 100 devices. Not [`FLEET_100K`]: the same number of devices in
/// twice as many, smaller, tenants.
pub const BENCHMARK_FLEET_100K: &[&str] = &[
    "--scenario",
    "fleet",
    "--sites-per-tenant",
    "100",
    "--devices-per-site",
    "100",
];

/// A fleet of 100,000 devices in 5 tenants of 20,000 (`--scenario fleet`):
/// a run long enough to disturb a server in the middle of it, after its
/// first tenant committed.
pub const FLEET_100K: &[&str] = &[
    "--scenario",
    "fleet",
    "--tenants",
    "5",
    "--sites-per-tenant",
    "40",
    "--devices-per-site",
    "500",
];

/// The `fleet` scenario's sizes when no option changes them
/// (seeder/scenarios/fleet.toml): 2 named tenants and 8 generated ones, 10
/// sites of 100 devices each, 5 campaigns per tenant.
const FLEET_DEFAULTS: [(&str, u64); 4] = [
    ("--tenants", 10),
    ("--sites-per-tenant", 10),
    ("--devices-per-site", 100),
    ("--campaigns-per-tenant", 5),
];

/// The dataset's rows per table (tenants, devices, firmware, campaigns,
/// status rows) for the seeder arguments `dataset`, which must be
/// `--scenario fleet` and its size options: worked out from the dataset's
/// definition (docs/dataset.md, "Larger fleets"; fleet.toml), not from the
/// seeder. Per tenant: sites × devices per site devices; the base build
/// `1.0.0` plus one build per campaign; the campaigns, which split the
/// devices into slices, so one status row per device.
///
/// A dry run on an empty SQLite file must predict the same (a cross-check:
/// a disagreement fails here, naming both).
pub fn dataset_counts(dataset: &[&str]) -> anyhow::Result<[i64; 5]> {
    let mut sizes = FLEET_DEFAULTS;
    let mut scenario = None;
    let mut args = dataset.iter();
    while let Some(&arg) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| anyhow::anyhow!("{arg} without a value in {dataset:?}"))?;
        if arg == "--scenario" {
            scenario = Some(*value);
            continue;
        }
        let slot = sizes
            .iter_mut()
            .find(|(name, _)| *name == arg)
            .ok_or_else(|| {
                anyhow::anyhow!("dataset_counts knows the fleet's size options only, not {arg}")
            })?;
        slot.1 = value.parse()?;
    }
    anyhow::ensure!(
        scenario == Some("fleet"),
        "dataset_counts works out the fleet scenario only: {dataset:?}"
    );
    let [tenants, sites, devices_per_site, campaigns] = sizes.map(|(_, n)| n as i64);
    let devices = tenants * sites * devices_per_site;
    let expected = [
        tenants,
        devices,
        tenants * (1 + campaigns),
        tenants * campaigns,
        devices,
    ];
    let predicted = dry_run_counts(dataset)?;
    anyhow::ensure!(
        predicted == expected,
        "the seeder's dry run of {dataset:?} predicts {predicted:?} rows (tenants, devices, \
         firmware, campaigns, status rows), the dataset's definition {expected:?}"
    );
    Ok(expected)
}

/// What a dry run of the seeder with `dataset` on an empty SQLite file
/// would insert, per table (tenants, devices, firmware, campaigns, status
/// rows).
fn dry_run_counts(dataset: &[&str]) -> anyhow::Result<[i64; 5]> {
    let dir = tempfile::tempdir()?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("expected.sqlite").display()
    );
    let out = run_seeder(
        &[dataset, &["--dry-run", "--json"]].concat(),
        &[("DATABASE_URL", &url)],
        dir.path(),
    );
    let summary = json_summary(&out, 0);
    let mut counts = [0; 5];
    for (slot, table) in counts.iter_mut().zip(platform_schema::TABLES) {
        *slot = i64::try_from(table_counts(&summary, table).0)?;
    }
    Ok(counts)
}

/// `(inserted, present, updated)` of one table in a `--json` summary;
/// `(0, 0, 0)` for a table the run did not touch.
pub fn table_counts(summary: &serde_json::Value, table: &str) -> (u64, u64, u64) {
    let counts = &summary["tables"][table];
    if counts.is_null() {
        return (0, 0, 0);
    }
    let n = |k: &str| {
        counts[k]
            .as_u64()
            .unwrap_or_else(|| panic!("no {k} count for {table}: {summary}"))
    };
    (n("inserted"), n("present"), n("updated"))
}

/// The verification's row counts of a `--json` summary, in the report's
/// order: tenants, devices, firmware, campaigns, status rows.
pub fn verified_counts(summary: &serde_json::Value) -> Vec<(String, i64)> {
    summary["verification"]["counts"]
        .as_array()
        .unwrap_or_else(|| panic!("no verification counts: {summary}"))
        .iter()
        .map(|pair| {
            (
                pair[0].as_str().expect("table name").to_owned(),
                pair[1].as_i64().expect("row count"),
            )
        })
        .collect()
}

/// The violations of a `--json` summary as `invariant N: row: problem`
/// lines (the report's own wording of each).
pub fn violations(summary: &serde_json::Value) -> Vec<String> {
    summary["verification"]["violations"]
        .as_array()
        .unwrap_or_else(|| panic!("no verification in the summary: {summary}"))
        .iter()
        .map(|v| {
            format!(
                "invariant {}: {}: {}",
                v["invariant"],
                v["row"].as_str().unwrap_or_default(),
                v["problem"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// Asserts that the summary's verification ran over `counts` rows
/// (tenants, devices, firmware, campaigns, status rows) and found no
/// violation.
pub fn assert_verified(summary: &serde_json::Value, counts: [i64; 5]) {
    let want: Vec<(String, i64)> = platform_schema::TABLES
        .iter()
        .zip(counts)
        .map(|(t, n)| ((*t).to_owned(), n))
        .collect();
    assert_eq!(verified_counts(summary), want, "{summary:#}");
    assert_eq!(violations(summary), Vec::<String>::new(), "{summary:#}");
}

/// Asserts that a verification (the library's report) ran over `counts`
/// rows (tenants, devices, firmware, campaigns, status rows) and found no
/// violation.
pub fn assert_report_verified(report: &seeder::VerifyReport, counts: [i64; 5]) {
    let want: Vec<(&str, i64)> = platform_schema::TABLES.into_iter().zip(counts).collect();
    assert_eq!(report.counts, want, "{report:#?}");
    assert_eq!(report.violations, [], "{report:#?}");
}

/// The demo dataset's rows per table: tenants, devices, firmware,
/// campaigns, status rows (docs/dataset.md).
pub const DEMO_COUNTS: [i64; 5] = [2, 30, 4, 2, 30];

/// Polls `probe` until it holds, for at most `limit` (a readiness signal
/// with a deadline, never a fixed sleep). The bound is generous: failing
/// it means the awaited state never came.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut probe: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        if probe().await? {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            anyhow::bail!("{what}: not within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A loopback TCP port that accepts connections and never answers: a
/// database client connecting to it waits for a reply until its own
/// timeout (the same on every machine, unlike an unrouted address).
pub struct SilentServer {
    listener: std::net::TcpListener,
    /// Accepted connections, held open (closing them would answer).
    accepted: Vec<TcpStream>,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        Self::bind(std::net::IpAddr::from([127, 0, 0, 1]))
    }

    /// On one of this machine's addresses (see [`this_machine_by_name`]).
    pub fn bind(ip: std::net::IpAddr) -> SilentServer {
        let listener = std::net::TcpListener::bind((ip, 0)).expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        SilentServer {
            listener,
            accepted: Vec::new(),
        }
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().expect("local address").port()
    }

    /// Connections accepted so far (those already waiting are accepted
    /// first).
    pub fn connections(&mut self) -> usize {
        while let Ok((stream, _)) = self.listener.accept() {
            self.accepted.push(stream);
        }
        self.accepted.len()
    }

    /// Waits until a client has connected (a readiness signal: whoever
    /// connects is now waiting for an answer), at most `limit`.
    pub fn wait_for_connection(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + limit;
        while self.connections() == 0 {
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "nobody connected to port {} within {limit:?}",
                self.port()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

/// This machine's own name, if it resolves, with the address it resolves
/// to. The seeder's wrong-database guard counts it as remote (only
/// loopback names and addresses, sockets and files are local), yet a
/// connection to it reaches this machine: a deterministic "remote" host.
pub fn this_machine_by_name() -> Option<(String, std::net::IpAddr)> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim().to_owned();
    if name.is_empty() || name.eq_ignore_ascii_case("localhost") {
        return None;
    }
    let ip = (name.as_str(), 0).to_socket_addrs().ok()?.next()?.ip();
    Some((name, ip))
}

/// The `history` scenario at its hand-worked size (docs/scenarios.md,
/// seeder/src/dataset/scenario_tests.rs): one tenant, one site of 10
/// devices (6 sensors, 2 gateways, 2 cameras), none revoked, all
/// provisioned at the window's start, so every campaign of a type targets
/// all its devices.
pub fn small_history() -> seeder::Scenario {
    let mut s = seeder::Scenario::builtin("history").expect("the built-in history scenario");
    s.set_tenant_count(1);
    s.fleet.sites_per_tenant = 1;
    s.fleet.devices_per_site = 10;
    s.fleet.revoked_share = 0.0;
    if let seeder::Provisioning::Spread(g) = &mut s.fleet.provisioned {
        g.initial_share = 1.0;
    }
    s
}
