//! A three-node MariaDB Galera cluster of the test's own, started by
//! `scripts/galera-cluster` on free loopback ports in a temporary directory
//! (~12 s, ~0.9 GB). Dropping the [`GaleraCluster`] stops every node and
//! removes the directory, also when the test panics.
//!
//! Reads that compare nodes ([`GaleraCluster::checksums`],
//! [`GaleraCluster::row_counts`]) first wait until the node has applied
//! every write the cluster committed before them (`wsrep_sync_wait = 15`):
//! a Galera commit returns once the write set is certified, and the other
//! nodes apply it shortly after.
//!
//! Without Galera (`/usr/lib/galera/libgalera_smm.so`, `mariadbd`,
//! `mariadb-install-db`, the `mariadb` client, `rsync`, `socat`) the test
//! is skipped with a line on the terminal and a record for the end-of-run
//! summary; under `CI=true` (or `OTA_SEED_REQUIRE_BACKENDS=1`) that is a
//! failure (`.ci/run` runs `scripts/galera-cluster install`). The tests
//! never install anything themselves.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection, Statement};

use crate::{Spawned, describe, output_within, skips};

/// The script's directory, inside the cluster's temporary directory (see
/// `start_once`).
pub const CLUSTER_DIR: &str = "cluster";

/// Nodes of the cluster; they are numbered from 1, as the script does.
pub const NODES: usize = 3;

/// The seeder's tables, in the order of the verification's counts (and of
/// [`crate::assert_verified`]).
pub use crate::platform_schema::TABLES;

/// What the skip summary calls the cases that need a cluster.
pub const SKIP_NAME: &str = "MariaDB Galera";

/// How long `start` may take: three nodes, each given up to the script's
/// 120 s to reach Synced (a start takes ~12 s on an idle 2-core machine).
const START_LIMIT: Duration = Duration::from_secs(400);
/// How long `rejoin` may take: one node's restart and state transfer.
const REJOIN_LIMIT: Duration = Duration::from_secs(200);
/// `kill` and `stop`: SIGKILL and waiting for the processes to go.
const KILL_LIMIT: Duration = Duration::from_secs(60);
/// How long every node may take to see a database created through node 1.
const REPLICATION_LIMIT: Duration = Duration::from_secs(60);
/// Starts tried when another process took a port between the script's
/// probe and a node's bind.
const START_TRIES: usize = 3;

/// A running three-node cluster. Dropping it stops the nodes and removes
/// their files.
pub struct GaleraCluster {
    /// The directory given to the script: data directories, sockets, logs.
    dir: tempfile::TempDir,
    /// A working directory for seeder processes.
    scratch: tempfile::TempDir,
    /// The client port of each node.
    ports: Vec<u16>,
}

impl GaleraCluster {
    /// Starts a cluster: `scripts/galera-cluster start DIR`, bounded in
    /// time.
    ///
    /// `Ok(None)`: Galera is not installed and backends are not required;
    /// a line on the terminal said the test was skipped.
    pub fn start() -> anyhow::Result<Option<GaleraCluster>> {
        let missing = missing_packages();
        if !missing.is_empty() {
            skips::skip_or_fail(
                SKIP_NAME,
                &format!(
                    "missing {} (scripts/galera-cluster install installs it)",
                    missing.join(", ")
                ),
            );
            return Ok(None);
        }
        crate::sweep::dirs_once();
        let mut tries = 0;
        loop {
            tries += 1;
            match Self::start_once()? {
                Ok(cluster) => return Ok(Some(cluster)),
                Err(out) => {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    if tries < START_TRIES && stderr.contains("Address already in use") {
                        continue;
                    }
                    bail!("scripts/galera-cluster start failed:\n{}", describe(&out));
                }
            }
        }
    }

    /// One start: the cluster, or the script's output when it failed.
    fn start_once() -> anyhow::Result<Result<GaleraCluster, Output>> {
        // The nodes run as user `mysql` when we are root: the script makes
        // the directory readable by it (mode 755), but its parents must
        // let it through too.
        //
        // The script's directory is `cluster` inside the temporary one,
        // beside the file naming this process as its owner (the script
        // wants an empty directory): the nodes run detached, so should this
        // process die, the next one's sweep stops them (`sweep::dirs_in`).
        let dir = tempfile::Builder::new().prefix("ota-galera").tempdir()?;
        crate::sweep::claim_dir(dir.path())?;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let cluster_dir = dir.path().join(CLUSTER_DIR);
        if running_as_root() {
            for parent in cluster_dir.ancestors().skip(1) {
                let mode = std::fs::metadata(parent)?.permissions().mode();
                anyhow::ensure!(
                    mode & 0o001 != 0,
                    "{} is not searchable by others (mode {mode:o}): the cluster's nodes run as \
                     user mysql and could not reach {}; set TMPDIR to a directory they can",
                    parent.display(),
                    cluster_dir.display()
                );
            }
        }
        let scratch = tempfile::tempdir()?;
        // Owns the directory before anything runs in it: should the start
        // panic (past its deadline), dropping this stops what it started.
        let mut cluster = GaleraCluster {
            dir,
            scratch,
            ports: Vec::new(),
        };
        let out = output_within(
            &mut cluster.script(&["start"]),
            "scripts/galera-cluster start",
            START_LIMIT,
        );
        if !out.status.success() {
            return Ok(Err(out));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        for line in stdout.lines().filter(|l| l.starts_with("mysql://")) {
            let port = line
                .rsplit_once(':')
                .and_then(|(_, port)| port.parse::<u16>().ok())
                .with_context(|| format!("no port in the node URL {line:?}"))?;
            cluster.ports.push(port);
        }
        anyhow::ensure!(
            cluster.ports.len() == NODES,
            "scripts/galera-cluster start printed {} node URLs, not {NODES}:\n{}",
            cluster.ports.len(),
            describe(&out)
        );
        Ok(Ok(cluster))
    }

    /// `scripts/galera-cluster COMMAND DIR ARGS...`.
    fn script(&self, command: &[&str]) -> Command {
        let mut cmd = Command::new(script_path());
        cmd.arg(command[0])
            .arg(self.dir.path().join(CLUSTER_DIR))
            .args(&command[1..])
            // The script's defaults, whatever the caller's environment.
            .env_remove("GALERA_DIR")
            .env_remove("GALERA_SYNC_TIMEOUT");
        cmd
    }

    fn run_script(&self, command: &[&str], limit: Duration) -> anyhow::Result<()> {
        let what = format!("scripts/galera-cluster {}", command.join(" "));
        let out = output_within(&mut self.script(command), &what, limit);
        anyhow::ensure!(out.status.success(), "{what} failed:\n{}", describe(&out));
        Ok(())
    }

    fn index(n: usize) -> usize {
        assert!(
            (1..=NODES).contains(&n),
            "node {n}: the cluster's nodes are 1 to {NODES}"
        );
        n - 1
    }

    /// Node `n`'s client port (nodes count from 1).
    pub fn port(&self, n: usize) -> u16 {
        self.ports[Self::index(n)]
    }

    /// `127.0.0.1:PORT` of node `n`: what the seeder names a node by.
    pub fn address(&self, n: usize) -> String {
        format!("127.0.0.1:{}", self.port(n))
    }

    /// `mysql://root@127.0.0.1:PORT` of node `n`, without a database.
    pub fn url(&self, n: usize) -> String {
        format!("mysql://root@{}", self.address(n))
    }

    /// Every node's URL, without a database, node 1 first.
    pub fn urls(&self) -> Vec<String> {
        (1..=NODES).map(|n| self.url(n)).collect()
    }

    /// The URL of database `db` through node `n`.
    pub fn database_url(&self, n: usize, db: &str) -> String {
        format!("{}/{db}", self.url(n))
    }

    /// A working directory for seeder processes, as long as the cluster.
    pub fn scratch(&self) -> &Path {
        self.scratch.path()
    }

    /// Creates database `name` through node 1 and waits (bounded) until
    /// every node has it.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<()> {
        let admin = self.connect(1, None).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("creating database {name} through node 1"))?;
        admin.close().await?;
        for n in 1..=NODES {
            crate::wait_until(
                &format!("node {n} has database {name}"),
                REPLICATION_LIMIT,
                || async move {
                    let conn = self.connect(n, None).await?;
                    let found = count(
                        &conn,
                        &format!(
                            "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA \
                             WHERE SCHEMA_NAME = '{name}'"
                        ),
                    )
                    .await?;
                    conn.close().await?;
                    Ok(found == 1)
                },
            )
            .await?;
        }
        Ok(())
    }

    /// A connection as root to node `n` (to database `db`, or none), one
    /// session whose reads first wait until the node has applied what the
    /// cluster committed before them (`wsrep_sync_wait = 15`).
    pub async fn connect(&self, n: usize, db: Option<&str>) -> anyhow::Result<DatabaseConnection> {
        let url = match db {
            Some(db) => self.database_url(n, db),
            None => self.url(n),
        };
        let mut options = ConnectOptions::new(url.clone());
        // One connection: the session setting below holds for every
        // statement sent through it.
        options
            .max_connections(1)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        let conn = crate::connect(options)
            .await
            .with_context(|| format!("connecting to node {n} ({url})"))?;
        conn.execute_unprepared("SET SESSION wsrep_sync_wait = 15")
            .await
            .with_context(|| format!("SET SESSION wsrep_sync_wait = 15 on node {n}"))?;
        Ok(conn)
    }

    /// SIGKILL node `n` (the script waits until it is gone).
    pub fn kill(&self, n: usize) -> anyhow::Result<()> {
        Self::index(n);
        self.run_script(&["kill", &n.to_string()], KILL_LIMIT)
    }

    /// Starts node `n` again and waits until it is Synced (it catches up
    /// from the others).
    pub fn rejoin(&self, n: usize) -> anyhow::Result<()> {
        Self::index(n);
        self.run_script(&["rejoin", &n.to_string()], REJOIN_LIMIT)
    }

    /// `scripts/galera-cluster status`: each node's URL, pid and state,
    /// for failure messages.
    pub fn status(&self) -> String {
        let out = output_within(
            &mut self.script(&["status"]),
            "scripts/galera-cluster status",
            KILL_LIMIT,
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// What each node is doing, for a test whose seeder hangs: the
    /// script's status, then per node its replication state and every
    /// session with its statement (`mariadb` client over TCP, 10 s at
    /// most per node; a node that does not answer says so), then the
    /// nodes' logs.
    pub fn activity(&self) -> String {
        let mut text = self.status();
        for n in 1..=NODES {
            let port = self.port(n).to_string();
            let out = output_within(
                // Bounded by `timeout` too: this runs while a test is
                // already failing, and must not panic on its own.
                Command::new("timeout")
                    .args(["10", "mariadb", "--connect-timeout=5"])
                    .args(["-h", "127.0.0.1", "-P", &port])
                    .args(["-u", "root", "--table", "-e"])
                    .arg(
                        "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state_comment', \
                         'wsrep_cluster_status', 'wsrep_cluster_size', 'wsrep_flow_control_paused', \
                         'wsrep_local_recv_queue', 'wsrep_local_send_queue'); \
                         SELECT ID, USER, DB, COMMAND, TIME, STATE, LEFT(INFO, 200) AS INFO \
                         FROM information_schema.PROCESSLIST ORDER BY ID",
                    ),
                &format!("mariadb on node {n}"),
                Duration::from_secs(30),
            );
            text.push_str(&format!(
                "\n--- node {n}: replication and sessions ---\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        text.push('\n');
        text.push_str(&self.logs());
        text
    }

    /// `CHECKSUM TABLE` of each of the five tables of `db` on node `n`,
    /// once the node has applied everything committed before.
    pub async fn checksums(&self, n: usize, db: &str) -> anyhow::Result<Vec<(String, u64)>> {
        let conn = self.connect(n, Some(db)).await?;
        // CHECKSUM TABLE is no statement wsrep_sync_wait waits for: a
        // SELECT of the same session does the waiting first.
        count(&conn, "SELECT COUNT(*) AS n FROM tenants").await?;
        let mut sums = Vec::new();
        for table in TABLES {
            let row = conn
                .query_one_raw(Statement::from_string(
                    conn.get_database_backend(),
                    format!("CHECKSUM TABLE {table}"),
                ))
                .await?
                .with_context(|| format!("CHECKSUM TABLE {table} returned no row on node {n}"))?;
            let sum = row
                .try_get::<Option<u64>>("", "Checksum")
                .or_else(|_| {
                    row.try_get::<Option<i64>>("", "Checksum")
                        .map(|sum| sum.and_then(|s| u64::try_from(s).ok()))
                })
                .with_context(|| format!("reading CHECKSUM TABLE {table} on node {n}"))?
                .with_context(|| format!("node {n} has no table {db}.{table}"))?;
            sums.push((table.to_owned(), sum));
        }
        conn.close().await?;
        Ok(sums)
    }

    /// Rows of each of the five tables of `db` on node `n` (in the order
    /// of [`TABLES`]), once the node has applied everything committed
    /// before.
    pub async fn row_counts(&self, n: usize, db: &str) -> anyhow::Result<[i64; 5]> {
        let conn = self.connect(n, Some(db)).await?;
        let mut counts = [0; 5];
        for (slot, table) in counts.iter_mut().zip(TABLES) {
            *slot = count(&conn, &format!("SELECT COUNT(*) AS n FROM {table}"))
                .await
                .with_context(|| format!("counting {db}.{table} on node {n}"))?;
        }
        conn.close().await?;
        Ok(counts)
    }

    /// The `id` column of `table` in `db` on node `n`, in order, once the
    /// node has applied everything committed before.
    pub async fn ids(&self, n: usize, db: &str, table: &str) -> anyhow::Result<Vec<i64>> {
        let conn = self.connect(n, Some(db)).await?;
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT id FROM {table} ORDER BY id"),
            ))
            .await
            .with_context(|| format!("reading the ids of {db}.{table} on node {n}"))?;
        let ids = rows
            .iter()
            .map(|row| row.try_get::<i64>("", "id"))
            .collect::<Result<Vec<_>, _>>()?;
        conn.close().await?;
        Ok(ids)
    }

    /// Tables in database `db` on node `n` (any table: migrations' too),
    /// once the node has applied everything committed before.
    pub async fn table_count(&self, n: usize, db: &str) -> anyhow::Result<i64> {
        let conn = self.connect(n, None).await?;
        let tables = count(
            &conn,
            &format!(
                "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}'"
            ),
        )
        .await?;
        conn.close().await?;
        Ok(tables)
    }

    /// Node `n`'s server log (its error log and what it printed), for
    /// assertion messages.
    pub fn log(&self, n: usize) -> String {
        Self::index(n);
        let node = self.dir.path().join(CLUSTER_DIR).join(format!("node{n}"));
        let read = |name: &str| std::fs::read_to_string(node.join(name)).unwrap_or_default();
        format!("{}{}", read("mariadbd.stderr"), read("error.log"))
    }

    /// The status and the end of every node's log, for assertion
    /// messages.
    pub fn logs(&self) -> String {
        const LINES: usize = 40;
        let mut text = self.status();
        for n in 1..=NODES {
            let log = self.log(n);
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(LINES)..].join("\n");
            text.push_str(&format!(
                "\n--- node {n}: the last {LINES} lines of its log ---\n{tail}"
            ));
        }
        text
    }

    /// `scripts/galera-cluster stop DIR`, bounded; never panics (it runs
    /// from `Drop`, maybe while a test panics).
    fn stop(&self) -> Result<(), String> {
        let mut child = Spawned::start(&mut self.script(&["stop"]), "galera-cluster stop")
            .map_err(|e| format!("could not run scripts/galera-cluster stop: {e}"))?;
        let deadline = Instant::now() + KILL_LIMIT;
        while child.running() {
            if Instant::now() >= deadline {
                // Dropping it kills it.
                return Err(format!(
                    "scripts/galera-cluster stop was still running after {KILL_LIMIT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait(KILL_LIMIT);
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "scripts/galera-cluster stop failed:\n{}",
                describe(&out)
            ))
        }
    }
}

impl Drop for GaleraCluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!(
                "warning: the Galera cluster in {} may still run: {e}",
                self.dir.path().join(CLUSTER_DIR).display()
            );
        }
        // `dir` (removed by the script already) and `scratch` go after this.
    }
}

use crate::sql::number as count;

/// `scripts/galera-cluster` of this checkout.
pub fn script_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("galera-cluster")
}

/// What the script needs and this machine lacks (what its `install`
/// would install): nothing when a cluster can start.
pub fn missing_packages() -> Vec<String> {
    let provider = std::env::var_os("GALERA_PROVIDER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/galera/libgalera_smm.so"));
    let mut missing = Vec::new();
    if std::fs::File::open(&provider).is_err() {
        missing.push(provider.display().to_string());
    }
    for program in [
        "mariadbd",
        "mariadb-install-db",
        "mariadb",
        "rsync",
        "socat",
    ] {
        if find_program(program).is_none() {
            missing.push(program.to_owned());
        }
    }
    missing
}

/// `program` from PATH or the system's sbin and bin directories (`/usr/sbin`
/// is not on an ordinary user's PATH).
fn find_program(program: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

use crate::running_as_root;
