//! Fleet-scale benchmark: the seeder against the database's own bulk load.
//!
//!     cargo bench -p seeder --bench fleet
//!
//! In one run, against the local servers (see BENCHMARKS.md for figures):
//! - PostgreSQL: the seeder on 10 tenants × 10,000 and × 100,000 devices
//!   (100k and 1M devices, as many status rows), as the owner and as the
//!   README's least-privilege role under FORCE ROW LEVEL SECURITY, and with
//!   `--jobs 2`; the very
//!   same rows loaded with `COPY` into an empty schema (three samples of
//!   each, their order alternating, median and range reported) and with one
//!   `INSERT` per row; reruns over the complete 1M fleet with and without
//!   the closing verification (and whether any id sequence moved), and
//!   `seeder verify` alone;
//! - PostgreSQL, many small tenants (`BENCH_ONLY=tenants`, issue 22):
//!   1,000 tenants × 10 devices and 20,000 × 5, one campaign each, as the
//!   owner (and at 1,000 as the RLS role) against `COPY` of the same
//!   rows (three samples, alternating); reruns and `seeder verify` over the fleet, peak
//!   RSS, the lines of plain output, and the targets as pass/miss;
//! - MariaDB and SQLite at 100k devices: the same, against
//!   `LOAD DATA LOCAL INFILE` and one prepared INSERT reused in a single
//!   transaction (three samples each, alternating; one-INSERT-per-row on
//!   MariaDB once, over the first BENCH_PER_ROW_SAMPLE rows);
//! - MariaDB Galera (`BENCH_ONLY=galera`): the 100k fleet through one node
//!   of a three-node cluster on loopback against a standalone server with
//!   the same settings, both started by `scripts/galera-cluster`.
//!
//! Peak memory is the seeder process's maximum RSS (VmHWM, polled).
//! Environment: BENCH_PG (default postgres://postgres@127.0.0.1:5432),
//! BENCH_MYSQL (default mysql://root@127.0.0.1:3306), BENCH_SCALE (divides
//! every fleet size, for a quick smoke run), BENCH_PER_ROW_SAMPLE (rows
//! timed for one-INSERT-per-row on PostgreSQL, default 50000). Every
//! method gets the same untimed setup: a fresh database, already migrated.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status, tenants};
use migration::MigratorTrait;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, EntityTrait, IntoActiveModel,
    QueryOrder, Statement, TransactionTrait,
};

const TENANTS: usize = 10;
const CAMPAIGNS: usize = 5;

struct SeederRun {
    wall: Duration,
    max_rss_kb: i64,
    rows: u64,
}

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

fn scale() -> usize {
    std::env::var("BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

/// A fleet of the demo scenario, as the seeder's flags shape it.
struct Fleet {
    tenants: usize,
    sites: usize,
    per_site: usize,
    campaigns: usize,
}

impl Fleet {
    /// TENANTS tenants of `devices_per_tenant` devices (100 a site) and
    /// CAMPAIGNS campaigns each: the fleets of the sections before `tenants`.
    fn of(devices_per_tenant: usize) -> Fleet {
        let sites = (devices_per_tenant / 100).max(1);
        Fleet {
            tenants: TENANTS,
            sites,
            per_site: devices_per_tenant / sites,
            campaigns: CAMPAIGNS,
        }
    }

    fn args(&self) -> Vec<String> {
        [
            "--tenants",
            &self.tenants.to_string(),
            "--campaigns-per-tenant",
            &self.campaigns.to_string(),
            "--sites-per-tenant",
            &self.sites.to_string(),
            "--devices-per-site",
            &self.per_site.to_string(),
        ]
        .map(str::to_owned)
        .into()
    }
}

/// One finished process: wall time, peak RSS, exit status, and its stdout
/// (with stderr interleaved when asked).
struct Measured {
    wall: Duration,
    max_rss_kb: i64,
    status: std::process::ExitStatus,
    out: String,
}

/// Runs `cmd` to its end and measures wall time and peak RSS.
fn measure(mut cmd: Command, merge_stderr: bool) -> Result<Measured> {
    let (mut reader, writer) = std::io::pipe()?;
    if merge_stderr {
        cmd.stderr(writer.try_clone()?);
    }
    cmd.stdout(writer);
    let started = Instant::now();
    let mut child = cmd.spawn().context("starting the seeder")?;
    // Our copies of the pipe's write end must close for the reader to end.
    drop(cmd);
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::io::Read::read_to_string(&mut reader, &mut out).map(|_| out)
    });
    // Peak RSS from the child's own VmHWM, polled until it exits: rusage
    // of a child forked from this (large) process would count our pages.
    let pid = child.id();
    let mut max_rss_kb = 0;
    let status = loop {
        if let Some(kb) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .map(str::to_owned)
            })
            .and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<i64>().ok())
            })
        {
            max_rss_kb = max_rss_kb.max(kb);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let wall = started.elapsed();
    let out = reader
        .join()
        .map_err(|_| anyhow::anyhow!("output reader panicked"))??;
    Ok(Measured {
        wall,
        max_rss_kb,
        status,
        out,
    })
}

/// Runs the release seeder binary and measures wall time and peak RSS.
fn run_seeder(url: &str, fleet: &Fleet, extra: &[&str], verify: bool) -> Result<SeederRun> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_seeder"));
    cmd.args(if verify {
        &[][..]
    } else {
        &["--no-verify"][..]
    })
    .arg("--json")
    .args(fleet.args())
    .args(["--database-url", url])
    .args(extra);
    let run = measure(cmd, false)?;
    if !run.status.success() {
        bail!("seeder failed ({}):\n{}", run.status, run.out);
    }
    let summary: serde_json::Value =
        serde_json::from_str(&run.out).context("the seeder's --json summary")?;
    Ok(SeederRun {
        wall: run.wall,
        max_rss_kb: run.max_rss_kb,
        rows: summary["rows_inserted"].as_u64().unwrap_or(0),
    })
}

async fn fresh_database(
    server: &str,
    backend: DbBackend,
    name: &str,
) -> Result<(String, DatabaseConnection)> {
    let admin_url = if backend == DbBackend::Postgres {
        format!("{server}/postgres")
    } else {
        server.to_owned()
    };
    let admin = Database::connect(&admin_url).await?;
    let drop = if backend == DbBackend::Postgres {
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    } else {
        format!("DROP DATABASE IF EXISTS {name}")
    };
    admin.execute_unprepared(&drop).await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    admin.close().await?;
    let url = format!("{server}/{name}");
    let db = Database::connect(&url).await?;
    Ok((url, db))
}

async fn empty_schema(db: &DatabaseConnection) -> Result<()> {
    migration::Migrator::up(db, None).await?;
    Ok(())
}

/// Every row of the five tables, in dependency order.
struct Rows {
    tenants: Vec<tenants::Model>,
    devices: Vec<device_registry::Model>,
    firmware: Vec<firmware_versions::Model>,
    campaigns: Vec<ota_campaigns::Model>,
    statuses: Vec<ota_device_status::Model>,
}

impl Rows {
    async fn read(db: &DatabaseConnection) -> Result<Rows> {
        Ok(Rows {
            tenants: tenants::Entity::find().all(db).await?,
            devices: device_registry::Entity::find().all(db).await?,
            firmware: firmware_versions::Entity::find()
                .order_by_asc(firmware_versions::Column::Id)
                .all(db)
                .await?,
            campaigns: ota_campaigns::Entity::find()
                .order_by_asc(ota_campaigns::Column::Id)
                .all(db)
                .await?,
            statuses: ota_device_status::Entity::find()
                .order_by_asc(ota_device_status::Column::Id)
                .all(db)
                .await?,
        })
    }

    fn len(&self) -> usize {
        self.tenants.len()
            + self.devices.len()
            + self.firmware.len()
            + self.campaigns.len()
            + self.statuses.len()
    }
}

/// One INSERT per row, each its own statement and (outside `in_txn`) its
/// own transaction, as the platform's Python script does. Stops after
/// `limit` rows; returns (rows, time).
async fn insert_per_row(
    db: &DatabaseConnection,
    rows: &Rows,
    limit: usize,
    in_txn: bool,
) -> Result<(usize, Duration)> {
    let started = Instant::now();
    let txn = if in_txn {
        Some(db.begin().await?)
    } else {
        None
    };
    let mut n = 0;
    macro_rules! each {
        ($models:expr, $entity:ty) => {
            for m in $models.iter() {
                if n >= limit {
                    break;
                }
                let insert = <$entity>::insert(m.clone().into_active_model());
                match &txn {
                    Some(t) => insert.exec_without_returning(t).await?,
                    None => insert.exec_without_returning(db).await?,
                };
                n += 1;
            }
        };
    }
    each!(rows.tenants, tenants::Entity);
    each!(rows.firmware, firmware_versions::Entity);
    each!(rows.campaigns, ota_campaigns::Entity);
    each!(rows.devices, device_registry::Entity);
    each!(rows.statuses, ota_device_status::Entity);
    if let Some(t) = txn {
        t.commit().await?;
    }
    Ok((n, started.elapsed()))
}

const TABLES: [&str; 5] = [
    "tenants",
    "firmware_versions",
    "ota_campaigns",
    "device_registry",
    "ota_device_status",
];

/// `COPY ... TO` from the seeded database, then a timed `COPY ... FROM` of
/// all five tables into `target_url`, through psql.
/// Writes every table of the seeded database to `dir` as CSV (untimed).
fn export_postgres(source_url: &str, dir: &Path) -> Result<()> {
    for table in TABLES {
        let file = dir.join(format!("{table}.csv"));
        psql(
            source_url,
            &format!("\\copy {table} TO '{}' CSV", file.display()),
        )?;
    }
    Ok(())
}

/// Loads the exported CSV files into `target_url` with `COPY`, in one
/// transaction, and returns the time psql took.
fn copy_postgres(target_url: &str, dir: &Path) -> Result<Duration> {
    let script: String = TABLES
        .iter()
        .map(|t| {
            format!(
                "\\copy {t} FROM '{}' CSV\n",
                dir.join(format!("{t}.csv")).display()
            )
        })
        .collect();
    let started = Instant::now();
    psql(target_url, &format!("BEGIN;\n{script}COMMIT;\n"))?;
    Ok(started.elapsed())
}

/// The README's least-privilege application role (created once per
/// server), with FORCE ROW LEVEL SECURITY on the OTA tables of `db`;
/// returns the URL that connects as it to `database`.
async fn application_role(db: &DatabaseConnection, server: &str, database: &str) -> Result<String> {
    let role = "ota_bench_app";
    db.execute_unprepared(&format!(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') \
             THEN CREATE ROLE {role} LOGIN; END IF; END $$;
         ALTER TABLE firmware_versions FORCE ROW LEVEL SECURITY;
         ALTER TABLE ota_campaigns FORCE ROW LEVEL SECURITY;
         ALTER TABLE ota_device_status FORCE ROW LEVEL SECURITY;
         GRANT CONNECT ON DATABASE {database} TO {role};
         GRANT USAGE ON SCHEMA public TO {role};
         GRANT SELECT ON seaql_migrations TO {role};
         GRANT SELECT, INSERT, UPDATE ON tenants, device_registry, firmware_versions,
               ota_campaigns, ota_device_status TO {role};
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};"
    ))
    .await?;
    let host = server.rsplit('@').next().context("BENCH_PG has no host")?;
    Ok(format!("postgres://{role}@{host}/{database}"))
}

/// Timed runs of one method, summed up as median and range.
struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
}

impl Stats {
    fn of(runs: &[Duration]) -> Stats {
        let mut sorted = runs.to_vec();
        sorted.sort();
        let at = |i: usize| sorted.get(i).copied().unwrap_or_default();
        Stats {
            median: at(sorted.len() / 2),
            min: at(0),
            max: at(sorted.len().saturating_sub(1)),
        }
    }
}

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>7.2} s ({:.2}–{:.2})",
            self.median.as_secs_f64(),
            self.min.as_secs_f64(),
            self.max.as_secs_f64()
        )
    }
}

#[derive(Clone, Copy)]
enum Pg {
    Owner,
    Role,
    Jobs2,
    Copy,
}

/// Timed runs per method.
const SAMPLES: usize = 3;

fn psql(url: &str, script: &str) -> Result<()> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .map(|mut s| s.write_all(script.as_bytes()))
                .transpose()?;
            child.wait_with_output()
        })
        .context("running psql")?;
    if !out.status.success() {
        bail!("psql failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// A value in LOAD DATA's default text format.
fn tsv<T: ToString>(v: Option<T>) -> String {
    match v {
        None => "\\N".to_owned(),
        Some(v) => v
            .to_string()
            .replace('\\', "\\\\")
            .replace('\t', "\\t")
            .replace('\n', "\\n"),
    }
}

fn ts(t: &chrono::DateTime<chrono::FixedOffset>) -> String {
    t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

fn write_tsv(rows: &Rows, dir: &Path) -> Result<()> {
    let mut files: Vec<(&str, String)> = Vec::new();
    let mut out = String::new();
    for t in &rows.tenants {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            tsv(Some(&t.tenant_id)),
            tsv(Some(&t.name)),
            tsv(Some(&t.status)),
            ts(&t.created_at),
            tsv(t.contact_email.as_ref()),
            tsv(t.country.as_ref()),
            tsv(t.data_residency_region.as_ref())
        )?;
    }
    files.push(("tenants", std::mem::take(&mut out)));
    for f in &rows.firmware {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            f.id,
            tsv(Some(&f.tenant_id)),
            tsv(Some(&f.version)),
            tsv(f.description.as_ref()),
            tsv(Some(&f.file_url)),
            tsv(f.file_size_bytes),
            tsv(f.checksum_sha256.as_ref()),
            tsv(f.device_type.as_ref()),
            ts(&f.created_at),
            tsv(f.created_by.as_ref())
        )?;
    }
    files.push(("firmware_versions", std::mem::take(&mut out)));
    for c in &rows.campaigns {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            c.id,
            tsv(Some(&c.tenant_id)),
            tsv(Some(&c.name)),
            c.firmware_version_id,
            tsv(Some(&c.target_group_id)),
            tsv(Some(&c.rollout_strategy)),
            c.rollout_rate,
            c.abort_threshold,
            tsv(Some(&c.status)),
            c.total_devices,
            c.succeeded,
            c.failed,
            tsv(c.started_at.as_ref().map(ts)),
            tsv(c.completed_at.as_ref().map(ts)),
            ts(&c.created_at),
            tsv(c.created_by.as_ref())
        )?;
    }
    files.push(("ota_campaigns", std::mem::take(&mut out)));
    for d in &rows.devices {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            tsv(Some(&d.tenant_id)),
            tsv(Some(&d.device_id)),
            tsv(Some(&d.site_id)),
            tsv(Some(&d.status)),
            ts(&d.provisioned_at),
            tsv(d.provision_token_hash.as_ref()),
            tsv(d.device_pubkey.as_ref()),
            tsv(d.fw_version.as_ref()),
            tsv(Some(d.metadata.to_string()))
        )?;
    }
    files.push(("device_registry", std::mem::take(&mut out)));
    for s in &rows.statuses {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            s.id,
            tsv(Some(&s.tenant_id)),
            s.campaign_id,
            tsv(Some(&s.device_id)),
            tsv(Some(&s.status)),
            s.progress_pct,
            tsv(s.error_message.as_ref()),
            tsv(s.started_at.as_ref().map(ts)),
            tsv(s.completed_at.as_ref().map(ts)),
            ts(&s.created_at)
        )?;
    }
    files.push(("ota_device_status", out));
    for (table, text) in files {
        std::fs::write(dir.join(format!("{table}.tsv")), text)?;
    }
    Ok(())
}

/// A timed `LOAD DATA LOCAL INFILE` of all five tables, through the client.
fn load_data_mysql(server: &str, database: &str, dir: &Path) -> Result<Duration> {
    let host_port = server
        .trim_start_matches("mysql://")
        .rsplit('@')
        .next()
        .unwrap_or("127.0.0.1:3306");
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "3306"));
    let script: String = TABLES
        .iter()
        .map(|t| {
            format!(
                "LOAD DATA LOCAL INFILE '{}' INTO TABLE {t};\n",
                dir.join(format!("{t}.tsv")).display()
            )
        })
        .collect();
    let started = Instant::now();
    let out = Command::new("mariadb")
        .args([
            "--local-infile=1",
            "-h",
            host,
            "-P",
            port,
            "-u",
            "root",
            database,
            "-e",
        ])
        .arg(format!(
            "SET time_zone = '+00:00'; START TRANSACTION; {script} COMMIT;"
        ))
        .output()
        .context("running the mariadb client")?;
    let elapsed = started.elapsed();
    if !out.status.success() {
        bail!("LOAD DATA failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(elapsed)
}

async fn sequences(db: &DatabaseConnection) -> Result<Vec<(String, i64)>> {
    let mut out = Vec::new();
    for seq in [
        "firmware_versions_id_seq",
        "ota_campaigns_id_seq",
        "ota_device_status_id_seq",
    ] {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT last_value FROM {seq}"),
            ))
            .await?
            .context("sequence row")?;
        out.push((seq.to_owned(), row.try_get::<i64>("", "last_value")?));
    }
    Ok(out)
}

fn rate(rows: usize, d: Duration) -> f64 {
    rows as f64 / d.as_secs_f64().max(1e-9)
}

fn mb(kb: i64) -> f64 {
    kb as f64 / 1024.0
}

#[tokio::main]
async fn main() -> Result<()> {
    // cargo bench passes `--bench`; nothing else is expected.
    let scale = scale();
    let pg = env_or("BENCH_PG", "postgres://postgres@127.0.0.1:5432");
    let my = env_or("BENCH_MYSQL", "mysql://root@127.0.0.1:3306");
    let per_row_sample = std::env::var("BENCH_PER_ROW_SAMPLE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000usize);
    let dir = tempfile::tempdir()?;
    let mut report = String::new();
    writeln!(
        report,
        "machine: {} cores, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        os_line()
    )?;

    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let runs = |section: &str| only.is_empty() || only.split(',').any(|s| s.trim() == section);
    if runs("postgres") {
        bench_postgres(&pg, scale, per_row_sample, dir.path(), &mut report).await?;
    }
    if runs("tenants") {
        bench_tenants(&pg, scale, dir.path(), &mut report).await?;
    }
    if runs("mariadb") {
        bench_mariadb(&my, scale, per_row_sample, dir.path(), &mut report).await?;
    }
    if runs("sqlite") {
        bench_sqlite(scale, dir.path(), &mut report).await?;
    }
    if runs("galera") {
        bench_galera(scale, &mut report).await?;
    }
    println!("{report}");
    Ok(())
}

/// PostgreSQL: 100k and 1M devices; reruns and verify over the 1M fleet.
async fn bench_postgres(
    pg: &str,
    scale: usize,
    per_row_sample: usize,
    dir: &Path,
    report: &mut String,
) -> Result<()> {
    // PostgreSQL: 100k and 1M devices. Every method gets the same setup (a
    // fresh, migrated database, untimed) and SAMPLES timed runs, the order
    // of methods alternating between samples.
    let mut rss = Vec::new();
    for per_tenant in [10_000 / scale, 100_000 / scale] {
        let devices = per_tenant * TENANTS;
        let mut owner = Vec::new();
        let mut role = Vec::new();
        let mut jobs2 = Vec::new();
        let mut copy = Vec::new();
        let mut exported = false;
        let mut max_rss_kb = 0;
        for sample in 0..SAMPLES {
            let order = if sample % 2 == 0 {
                [Pg::Owner, Pg::Role, Pg::Jobs2, Pg::Copy]
            } else {
                [Pg::Copy, Pg::Jobs2, Pg::Role, Pg::Owner]
            };
            for method in order {
                match method {
                    Pg::Owner => {
                        let (url, db) =
                            fresh_database(pg, DbBackend::Postgres, "ota_bench_seeded").await?;
                        empty_schema(&db).await?;
                        db.close().await?;
                        let run = run_seeder(&url, &Fleet::of(per_tenant), &[], false)?;
                        max_rss_kb = max_rss_kb.max(run.max_rss_kb);
                        owner.push(run.wall);
                        if !exported {
                            export_postgres(&url, dir)?;
                            exported = true;
                        }
                    }
                    Pg::Role => {
                        let (_, db) =
                            fresh_database(pg, DbBackend::Postgres, "ota_bench_role").await?;
                        empty_schema(&db).await?;
                        let role_url = application_role(&db, pg, "ota_bench_role").await?;
                        db.close().await?;
                        let run = run_seeder(&role_url, &Fleet::of(per_tenant), &[], false)?;
                        max_rss_kb = max_rss_kb.max(run.max_rss_kb);
                        role.push(run.wall);
                    }
                    Pg::Jobs2 => {
                        let (url, db) =
                            fresh_database(pg, DbBackend::Postgres, "ota_bench_jobs").await?;
                        empty_schema(&db).await?;
                        db.close().await?;
                        let run =
                            run_seeder(&url, &Fleet::of(per_tenant), &["--jobs", "2"], false)?;
                        max_rss_kb = max_rss_kb.max(run.max_rss_kb);
                        jobs2.push(run.wall);
                    }
                    Pg::Copy => {
                        if !exported {
                            continue;
                        }
                        let (copy_url, copy_db) =
                            fresh_database(pg, DbBackend::Postgres, "ota_bench_copy").await?;
                        empty_schema(&copy_db).await?;
                        copy_db.close().await?;
                        copy.push(copy_postgres(&copy_url, dir)?);
                    }
                }
            }
        }
        rss.push((devices, max_rss_kb));
        let url = format!("{pg}/ota_bench_seeded");
        let db = Database::connect(&url).await?;
        let rows = Rows::read(&db).await?;
        let total = rows.len();
        let copy_median = Stats::of(&copy).median;
        writeln!(
            report,
            "\nPostgreSQL, {TENANTS} tenants × {per_tenant} devices ({devices} devices, {total} rows in all), \
             median of {SAMPLES} (min–max)"
        )?;
        for (name, runs) in [
            ("seeder (owner)", &owner),
            ("seeder (RLS role)", &role),
            ("seeder --jobs 2", &jobs2),
        ] {
            let stats = Stats::of(runs);
            writeln!(
                report,
                "  {name:<18} {stats}  {:>9.0} rows/s  ÷ COPY {:.2}",
                rate(total, stats.median),
                copy_median.as_secs_f64() / stats.median.as_secs_f64()
            )?;
        }
        writeln!(
            report,
            "  COPY               {}  {:>9.0} rows/s",
            Stats::of(&copy),
            rate(total, copy_median)
        )?;
        writeln!(report, "  peak RSS of the seeder: {:.1} MB", mb(max_rss_kb))?;

        let (_, per_row_db) = fresh_database(pg, DbBackend::Postgres, "ota_bench_per_row").await?;
        empty_schema(&per_row_db).await?;
        let (n, t) = insert_per_row(&per_row_db, &rows, per_row_sample, false).await?;
        let owner_median = Stats::of(&owner).median;
        writeln!(
            report,
            "  INSERT per row     {:>8.2} s  {:>9.0} rows/s  seeder ÷ per-row {:.1}{}",
            t.as_secs_f64(),
            rate(n, t),
            rate(total, owner_median) / rate(n, t),
            if n < total {
                format!("  (first {n} rows timed)")
            } else {
                String::new()
            }
        )?;
        per_row_db.close().await?;
        drop(rows);

        if per_tenant == 100_000 / scale {
            // Reruns over the complete fleet, as users type them (with the
            // closing verification) and with --no-verify; then verify alone.
            let before = sequences(&db).await?;
            let mut with_verify = Vec::new();
            let mut without = Vec::new();
            let mut inserted = 0;
            for sample in 0..SAMPLES {
                for verify in if sample % 2 == 0 {
                    [true, false]
                } else {
                    [false, true]
                } {
                    let run = run_seeder(&url, &Fleet::of(per_tenant), &[], verify)?;
                    inserted += run.rows;
                    if verify {
                        with_verify.push(run.wall);
                    } else {
                        without.push(run.wall);
                    }
                }
            }
            let after = sequences(&db).await?;
            writeln!(
                report,
                "  rerun              {}  (closing verification included)",
                Stats::of(&with_verify)
            )?;
            writeln!(
                report,
                "  rerun --no-verify  {}  inserted {inserted} in all reruns, sequences {}",
                Stats::of(&without),
                if before == after {
                    "unchanged"
                } else {
                    "ADVANCED"
                }
            )?;
            let mut verify_runs = Vec::new();
            let mut all_hold = true;
            for _ in 0..SAMPLES {
                let started = Instant::now();
                let out = Command::new(env!("CARGO_BIN_EXE_seeder"))
                    .args([
                        "verify",
                        "--quiet",
                        "--tenants",
                        &TENANTS.to_string(),
                        "--database-url",
                        &url,
                    ])
                    .status()?;
                verify_runs.push(started.elapsed());
                all_hold &= out.success();
            }
            writeln!(
                report,
                "  verify             {}  {}",
                Stats::of(&verify_runs),
                if all_hold {
                    "all invariants hold"
                } else {
                    "VIOLATIONS"
                }
            )?;
        }
        db.close().await?;
    }
    if let [(small, small_rss), (large, large_rss)] = rss[..] {
        writeln!(
            report,
            "\npeak RSS: {:.1} MB at {small} devices, {:.1} MB at {large} devices ({:+.0}%)",
            mb(small_rss),
            mb(large_rss),
            100.0 * (large_rss as f64 / small_rss as f64 - 1.0)
        )?;
    }
    let admin = Database::connect(format!("{pg}/postgres")).await?;
    for name in [
        "ota_bench_seeded",
        "ota_bench_role",
        "ota_bench_jobs",
        "ota_bench_copy",
        "ota_bench_per_row",
    ] {
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
    }
    admin
        .execute_unprepared("DROP ROLE IF EXISTS ota_bench_app")
        .await?;
    Ok(())
}

/// Issue 22's targets for one many-tenant fleet: seeding throughput as a
/// share of COPY's (as owner, and as the RLS role where set: the role is
/// only timed there, as one RLS run of 20,000 tenants took over 5 minutes
/// on the 2-core machine, the three samples too long), rerun and
/// verify times as a share of COPY's time, and whether the plain output
/// and peak RSS are bounded.
struct Targets {
    seed: f64,
    role: Option<f64>,
    rerun: f64,
    bounded_output: bool,
}

fn target(report: &mut String, what: &str, met: bool, got: String) -> Result<()> {
    let verdict = if met { "pass" } else { "MISS" };
    writeln!(report, "  {verdict}: {what} ({got})")?;
    Ok(())
}

/// PostgreSQL, many small tenants (issue 22): 1,000 tenants × 10 devices
/// and 20,000 × 5, one site and one campaign each (the demo scenario's
/// default), seeded as owner (and at 1,000 as the RLS role) against COPY
/// of the same rows (SAMPLES each, alternating); reruns and verify over the owner's
/// fleet; peak RSS and the lines of plain output; the targets.
async fn bench_tenants(pg: &str, scale: usize, dir: &Path, report: &mut String) -> Result<()> {
    let fleets = [
        (
            Fleet {
                tenants: (1_000 / scale).max(1),
                sites: 1,
                per_site: 10,
                campaigns: 1,
            },
            Targets {
                seed: 0.5,
                role: Some(0.3),
                rerun: 0.5,
                bounded_output: false,
            },
        ),
        (
            Fleet {
                tenants: (20_000 / scale).max(1),
                sites: 1,
                per_site: 5,
                campaigns: 1,
            },
            Targets {
                seed: 0.5,
                role: None,
                rerun: 0.3,
                bounded_output: true,
            },
        ),
    ];
    for (fleet, targets) in fleets {
        let mut owner = Vec::new();
        let mut role = Vec::new();
        let mut copy = Vec::new();
        let mut total = 0;
        let mut seed_rss = 0;
        for sample in 0..SAMPLES {
            let order = if sample % 2 == 0 {
                [Pg::Owner, Pg::Role, Pg::Copy]
            } else {
                [Pg::Copy, Pg::Role, Pg::Owner]
            };
            for method in order {
                match method {
                    Pg::Owner => {
                        let (url, db) =
                            fresh_database(pg, DbBackend::Postgres, "ota_bench_seeded").await?;
                        empty_schema(&db).await?;
                        db.close().await?;
                        let run = run_seeder(&url, &fleet, &[], false)?;
                        seed_rss = seed_rss.max(run.max_rss_kb);
                        owner.push(run.wall);
                        if total == 0 {
                            export_postgres(&url, dir)?;
                            total = run.rows as usize;
                        }
                    }
                    Pg::Role if targets.role.is_some() => {
                        let (_, db) =
                            fresh_database(pg, DbBackend::Postgres, "ota_bench_role").await?;
                        empty_schema(&db).await?;
                        let role_url = application_role(&db, pg, "ota_bench_role").await?;
                        db.close().await?;
                        let run = run_seeder(&role_url, &fleet, &[], false)?;
                        seed_rss = seed_rss.max(run.max_rss_kb);
                        role.push(run.wall);
                    }
                    Pg::Copy if total > 0 => {
                        let (copy_url, copy_db) =
                            fresh_database(pg, DbBackend::Postgres, "ota_bench_copy").await?;
                        empty_schema(&copy_db).await?;
                        copy_db.close().await?;
                        copy.push(copy_postgres(&copy_url, dir)?);
                    }
                    Pg::Copy | Pg::Role | Pg::Jobs2 => {}
                }
            }
        }
        let copy_secs = Stats::of(&copy).median.as_secs_f64();
        // COPY's time over the seeder's: a throughput ratio for seeding.
        let share = |runs: &[Duration]| copy_secs / Stats::of(runs).median.as_secs_f64();
        writeln!(
            report,
            "\nPostgreSQL, {} tenants × {} devices (1 site, 1 campaign each; {total} rows in all), \
             median of {SAMPLES} (min–max)",
            fleet.tenants, fleet.per_site
        )?;
        for (name, runs) in [("seeder (owner)", &owner), ("seeder (RLS role)", &role)] {
            if runs.is_empty() {
                continue;
            }
            let stats = Stats::of(runs);
            writeln!(
                report,
                "  {name:<18} {stats}  {:>9.0} rows/s  ÷ COPY {:.2}",
                rate(total, stats.median),
                share(runs)
            )?;
        }
        writeln!(
            report,
            "  COPY               {}  {:>9.0} rows/s",
            Stats::of(&copy),
            rate(total, Stats::of(&copy).median)
        )?;

        // Reruns over the owner's complete fleet, as typed and with
        // --no-verify, alternating; then `seeder verify` alone.
        let url = format!("{pg}/ota_bench_seeded");
        let db = Database::connect(&url).await?;
        let before = sequences(&db).await?;
        let mut with_verify = Vec::new();
        let mut without = Vec::new();
        let mut inserted = 0;
        let mut rerun_rss = 0;
        for sample in 0..SAMPLES {
            for verify in [sample % 2 == 0, sample % 2 != 0] {
                let run = run_seeder(&url, &fleet, &[], verify)?;
                inserted += run.rows;
                rerun_rss = rerun_rss.max(run.max_rss_kb);
                if verify {
                    with_verify.push(run.wall);
                } else {
                    without.push(run.wall);
                }
            }
        }
        let moved = before != sequences(&db).await?;
        db.close().await?;
        let mut verify_runs = Vec::new();
        let mut verify_rss = 0;
        let mut all_hold = true;
        for _ in 0..SAMPLES {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_seeder"));
            cmd.args(["verify", "--quiet", "--database-url", &url])
                .args(fleet.args());
            let run = measure(cmd, false)?;
            verify_runs.push(run.wall);
            verify_rss = verify_rss.max(run.max_rss_kb);
            all_hold &= run.status.success();
        }
        for (name, runs, note) in [
            (
                "rerun",
                &with_verify,
                "closing verification included".to_owned(),
            ),
            (
                "rerun --no-verify",
                &without,
                format!(
                    "inserted {inserted} in all reruns, sequences {}",
                    if moved { "ADVANCED" } else { "unchanged" }
                ),
            ),
            (
                "verify",
                &verify_runs,
                if all_hold {
                    "all invariants hold"
                } else {
                    "VIOLATIONS"
                }
                .to_owned(),
            ),
        ] {
            writeln!(
                report,
                "  {name:<18} {}  = {:.2} × COPY's time  ({note})",
                Stats::of(runs),
                1.0 / share(runs)
            )?;
        }
        let peak_rss = seed_rss.max(rerun_rss).max(verify_rss);
        writeln!(
            report,
            "  peak RSS: seed {:.1} MB, rerun {:.1} MB, verify {:.1} MB",
            mb(seed_rss),
            mb(rerun_rss),
            mb(verify_rss)
        )?;

        // Plain output, as typed with stderr not a terminal: a first seed
        // of a fresh database, its rerun, and verify (untimed).
        let (plain_url, plain_db) =
            fresh_database(pg, DbBackend::Postgres, "ota_bench_plain").await?;
        plain_db.close().await?;
        let mut lines = Vec::new();
        for subcommand in [&[][..], &[][..], &["verify"][..]] {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_seeder"));
            cmd.args(subcommand)
                .args(["--database-url", &plain_url])
                .args(fleet.args());
            let run = measure(cmd, true)?;
            if !run.status.success() {
                bail!("plain seeder run failed ({}):\n{}", run.status, run.out);
            }
            lines.push(run.out.lines().count());
        }
        writeln!(
            report,
            "  plain output (stdout+stderr): seed {} lines, rerun {} lines, verify {} lines",
            lines[0], lines[1], lines[2]
        )?;

        let owner_share = share(&owner);
        target(
            report,
            &format!("seed as owner ≥ {} × COPY", targets.seed),
            owner_share >= targets.seed,
            format!("{owner_share:.2}"),
        )?;
        if let Some(role_target) = targets.role {
            let role_share = share(&role);
            target(
                report,
                &format!("seed as RLS role ≥ {role_target} × COPY"),
                role_share >= role_target,
                format!("{role_share:.2}"),
            )?;
        }
        for (name, runs) in [
            ("rerun as typed", &with_verify),
            ("rerun --no-verify", &without),
            ("verify", &verify_runs),
        ] {
            let time_share = 1.0 / share(runs);
            target(
                report,
                &format!("{name} ≤ {} × COPY's time", targets.rerun),
                time_share <= targets.rerun,
                format!("{time_share:.2}"),
            )?;
        }
        if targets.bounded_output {
            for (name, n) in ["seed", "rerun", "verify"].iter().zip(&lines) {
                target(
                    report,
                    &format!("plain output of {name} < 50 lines"),
                    *n < 50,
                    format!("{n}"),
                )?;
            }
            target(
                report,
                "peak RSS < 150 MB",
                mb(peak_rss) < 150.0,
                format!("{:.1} MB", mb(peak_rss)),
            )?;
        }
    }
    let admin = Database::connect(format!("{pg}/postgres")).await?;
    for name in [
        "ota_bench_seeded",
        "ota_bench_role",
        "ota_bench_copy",
        "ota_bench_plain",
    ] {
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
    }
    admin
        .execute_unprepared("DROP ROLE IF EXISTS ota_bench_app")
        .await?;
    Ok(())
}

/// MariaDB: 100k devices against LOAD DATA and one INSERT per row.
async fn bench_mariadb(
    my: &str,
    scale: usize,
    per_row_sample: usize,
    dir: &Path,
    report: &mut String,
) -> Result<()> {
    // MariaDB and SQLite: 100k devices, SAMPLES runs of the seeder and of
    // the baseline each, alternating, every run on a fresh migrated schema.
    let per_tenant = 10_000 / scale;
    let devices = per_tenant * TENANTS;
    let mut seeder_runs = Vec::new();
    let mut load_runs = Vec::new();
    let mut max_rss_kb = 0;
    let mut rows = None;
    for sample in 0..SAMPLES {
        for seeder_first in [sample % 2 == 0, sample % 2 != 0] {
            if seeder_first {
                let (url, db) = fresh_database(my, DbBackend::MySql, "ota_bench_seeded").await?;
                empty_schema(&db).await?;
                let run = run_seeder(&url, &Fleet::of(per_tenant), &[], false)?;
                max_rss_kb = max_rss_kb.max(run.max_rss_kb);
                seeder_runs.push(run.wall);
                if rows.is_none() {
                    let read = Rows::read(&db).await?;
                    write_tsv(&read, dir)?;
                    rows = Some(read);
                }
                db.close().await?;
            } else if rows.is_some() {
                let (_, load_db) = fresh_database(my, DbBackend::MySql, "ota_bench_load").await?;
                empty_schema(&load_db).await?;
                load_db.close().await?;
                load_runs.push(load_data_mysql(my, "ota_bench_load", dir)?);
            }
        }
    }
    let rows = rows.context("no MariaDB seeder run")?;
    let total = rows.len();
    let seeder_median = Stats::of(&seeder_runs).median;
    writeln!(
        report,
        "\nMariaDB, {TENANTS} tenants × {per_tenant} devices ({devices} devices, {total} rows), \
         median of {SAMPLES} (min–max)"
    )?;
    writeln!(
        report,
        "  seeder             {}  {:>9.0} rows/s  ÷ LOAD DATA {:.2}  peak RSS {:.1} MB",
        Stats::of(&seeder_runs),
        rate(total, seeder_median),
        Stats::of(&load_runs).median.as_secs_f64() / seeder_median.as_secs_f64(),
        mb(max_rss_kb)
    )?;
    writeln!(
        report,
        "  LOAD DATA          {}  {:>9.0} rows/s",
        Stats::of(&load_runs),
        rate(total, Stats::of(&load_runs).median)
    )?;
    let (_, per_row_db) = fresh_database(my, DbBackend::MySql, "ota_bench_per_row").await?;
    empty_schema(&per_row_db).await?;
    let (n, t) = insert_per_row(&per_row_db, &rows, per_row_sample, false).await?;
    writeln!(
        report,
        "  INSERT per row     {:>8.2} s  {:>9.0} rows/s  seeder ÷ per-row {:.1}{}",
        t.as_secs_f64(),
        rate(n, t),
        rate(total, seeder_median) / rate(n, t),
        if n < total {
            format!("  (first {n} rows timed)")
        } else {
            String::new()
        }
    )?;
    per_row_db.close().await?;
    let admin_my = Database::connect(my).await?;
    for name in ["ota_bench_seeded", "ota_bench_load", "ota_bench_per_row"] {
        admin_my
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
            .await?;
    }

    Ok(())
}

/// Servers started by `scripts/galera-cluster` (`start`: three Galera
/// nodes; `standalone`: one server with the nodes' settings and no
/// replication), stopped when dropped.
struct ScriptServers {
    script: std::path::PathBuf,
    dir: tempfile::TempDir,
    urls: Vec<String>,
}

impl ScriptServers {
    fn start(command: &str) -> Result<ScriptServers> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/galera-cluster");
        let dir = tempfile::Builder::new()
            .prefix("ota-bench-galera")
            .tempdir()?;
        let out = Command::new(&script)
            .arg(command)
            .arg(dir.path())
            .output()
            .with_context(|| format!("running {} {command}", script.display()))?;
        let servers = ScriptServers {
            urls: String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_owned)
                .collect(),
            script,
            dir,
        };
        if !out.status.success() || servers.urls.is_empty() {
            bail!(
                "scripts/galera-cluster {command} failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(servers)
    }
}

impl Drop for ScriptServers {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// MariaDB Galera: the 100k fleet through node 1 of a three-node cluster
/// on loopback against a standalone server with the same settings, SAMPLES
/// runs each, alternating, every run on a fresh migrated database.
async fn bench_galera(scale: usize, report: &mut String) -> Result<()> {
    let per_tenant = 10_000 / scale;
    let devices = per_tenant * TENANTS;
    let cluster = ScriptServers::start("start")?;
    let standalone = ScriptServers::start("standalone")?;
    let mut node_runs = Vec::new();
    let mut standalone_runs = Vec::new();
    let mut rows = 0;
    for sample in 0..SAMPLES {
        for galera_first in [sample % 2 == 0, sample % 2 != 0] {
            let (server, runs) = if galera_first {
                (&cluster.urls[0], &mut node_runs)
            } else {
                (&standalone.urls[0], &mut standalone_runs)
            };
            let (url, db) = fresh_database(server, DbBackend::MySql, "ota_bench_galera").await?;
            empty_schema(&db).await?;
            db.close().await?;
            let run = run_seeder(&url, &Fleet::of(per_tenant), &[], false)?;
            rows = run.rows;
            runs.push(run.wall);
        }
    }
    let node = Stats::of(&node_runs);
    let single = Stats::of(&standalone_runs);
    writeln!(
        report,
        "\nMariaDB Galera, {TENANTS} tenants × {per_tenant} devices ({devices} devices, {rows} rows), \
         median of {SAMPLES} (min–max); both servers with the same settings \
         (scripts/galera-cluster)"
    )?;
    writeln!(
        report,
        "  through node 1 of 3   {node}  {:>9.0} rows/s  ÷ standalone {:.2}",
        rate(rows as usize, node.median),
        node.median.as_secs_f64() / single.median.as_secs_f64()
    )?;
    writeln!(
        report,
        "  standalone            {single}  {:>9.0} rows/s",
        rate(rows as usize, single.median)
    )?;
    Ok(())
}

/// SQLite: 100k devices against one prepared INSERT reused in one transaction.
async fn bench_sqlite(scale: usize, dir: &Path, report: &mut String) -> Result<()> {
    let per_tenant = 10_000 / scale;
    let devices = per_tenant * TENANTS;
    let mut seeder_runs = Vec::new();
    let mut prepared_runs = Vec::new();
    let mut max_rss_kb = 0;
    let mut rows = None;
    for sample in 0..SAMPLES {
        for seeder_first in [sample % 2 == 0, sample % 2 != 0] {
            let file = dir.join(format!("sqlite-{sample}-{seeder_first}.sqlite"));
            let url = format!("sqlite://{}?mode=rwc", file.display());
            let db = Database::connect(&url).await?;
            empty_schema(&db).await?;
            if seeder_first {
                db.close().await?;
                let run = run_seeder(&url, &Fleet::of(per_tenant), &[], false)?;
                max_rss_kb = max_rss_kb.max(run.max_rss_kb);
                seeder_runs.push(run.wall);
                if rows.is_none() {
                    let db = Database::connect(&url).await?;
                    rows = Some(Rows::read(&db).await?);
                    db.close().await?;
                }
            } else if let Some(rows) = &rows {
                let (_, t) = insert_per_row(&db, rows, usize::MAX, true).await?;
                prepared_runs.push(t);
                db.close().await?;
            }
            std::fs::remove_file(&file).ok();
        }
    }
    let total = rows.context("no SQLite seeder run")?.len();
    let seeder_median = Stats::of(&seeder_runs).median;
    writeln!(
        report,
        "\nSQLite, {TENANTS} tenants × {per_tenant} devices ({devices} devices, {total} rows), \
         median of {SAMPLES} (min–max)"
    )?;
    writeln!(
        report,
        "  seeder             {}  {:>9.0} rows/s  ÷ prepared {:.2}  peak RSS {:.1} MB",
        Stats::of(&seeder_runs),
        rate(total, seeder_median),
        Stats::of(&prepared_runs).median.as_secs_f64() / seeder_median.as_secs_f64(),
        mb(max_rss_kb)
    )?;
    writeln!(
        report,
        "  prepared INSERT    {}  {:>9.0} rows/s  (one reused statement, one transaction)",
        Stats::of(&prepared_runs),
        rate(total, Stats::of(&prepared_runs).median)
    )?;

    Ok(())
}

fn os_line() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .map(str::to_owned)
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or_else(String::new, |kb| {
            format!("{:.0} GiB RAM", kb as f64 / 1024.0 / 1024.0)
        })
}
