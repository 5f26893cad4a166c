//! A private MariaDB server for tests that need server settings the shared
//! server must keep (a small `max_allowed_packet`, `read_only`, ...): those
//! are global, and other tests run against the shared server in parallel.
//!
//! [`PrivateMariaDb::start`] initialises a fresh data directory in a
//! temporary directory, starts `mariadbd` on a free loopback port with its
//! own socket and pid file, waits (bounded) until it answers and creates a
//! database for the test. Dropping it kills the server and removes the
//! directory, also when the test panics.
//!
//! Without `mariadbd` the test is skipped with a line on the terminal, as
//! the shared servers' cases are; under `CI=true` (or
//! `OTA_SEED_REQUIRE_BACKENDS=1`) that is a failure instead.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection};

use crate::ports::{PORT_TRIES, free_port, port_taken};

/// How long the server may take to answer after it was started. A cold
/// start takes well under a second; the margin is for a loaded machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The database [`PrivateMariaDb::start`] creates.
pub const DATABASE: &str = "ota_seed";

/// Server settings that keep a throwaway server small and quick to start,
/// and make it behave as the shared server (Debian's packaged defaults:
/// utf8mb4). None changes what SQL means; later arguments (the caller's)
/// override these.
const BASE_ARGS: &[&str] = &[
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=8M",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
    "--skip-name-resolve",
    "--skip-log-bin",
    // Durability of a throwaway server does not matter; commit latency does.
    "--innodb-flush-log-at-trx-commit=2",
];

/// A running private MariaDB server. Dropping it stops the server and
/// removes its files.
pub struct PrivateMariaDb {
    child: Child,
    port: u16,
    /// Data directory, socket, pid file and logs; also a scratch directory
    /// (see [`PrivateMariaDb::dir`]). Removed when it is dropped, after
    /// `Drop` killed the server.
    dir: tempfile::TempDir,
}

impl PrivateMariaDb {
    /// Starts a server with `extra_args` appended to its command line (e.g.
    /// `--max-allowed-packet=1M`, `--read-only`) and creates the database
    /// [`DATABASE`] in it.
    ///
    /// Connections as root (`url`, `admin`, `connect`) have every
    /// privilege, so settings such as `--read-only` do not hold them back:
    /// test those with a user of the test's own.
    ///
    /// `Ok(None)`: MariaDB is not installed and backends are not required;
    /// a line on the terminal said the test was skipped.
    pub async fn start(extra_args: &[&str]) -> anyhow::Result<Option<PrivateMariaDb>> {
        if !available() {
            return Ok(None);
        }
        let (mariadbd, install_db) = binaries().context("mariadbd was there a moment ago")?;
        crate::sweep::dirs_once();
        let mut last_error = None;
        for _ in 0..PORT_TRIES {
            let dir = tempfile::Builder::new().prefix("ota-mariadb").tempdir()?;
            crate::sweep::claim_dir(dir.path())?;
            install(&install_db, dir.path())?;
            let port = free_port()?;
            let child = spawn(&mariadbd, dir.path(), port, extra_args)?;
            // Owns the child and the directory from here: an early return
            // kills the one and removes the other.
            let mut server = PrivateMariaDb { child, port, dir };
            match server.wait_until_ready().await {
                Ok(()) => {
                    server
                        .admin()
                        .await?
                        .execute_unprepared(&format!("CREATE DATABASE {DATABASE}"))
                        .await
                        .context("creating the test database")?;
                    return Ok(Some(server));
                }
                // Dropping `server` cleans up this try.
                Err(e) if server.lost_port_race() => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no free port")))
    }

    /// `mysql://root@127.0.0.1:PORT`, without a database.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// The URL of the test's database ([`DATABASE`]).
    pub fn database_url(&self) -> String {
        format!("{}/{DATABASE}", self.url())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's Unix socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("mariadbd.sock")
    }

    /// A scratch directory that lives as long as the server (e.g. a working
    /// directory for seeder processes).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().join("scratch")
    }

    /// Creates another database and returns its URL.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<String> {
        let admin = self.admin().await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        admin.close().await?;
        Ok(format!("{}/{name}", self.url()))
    }

    /// A connection as root, to the test's database.
    pub async fn connect(&self) -> anyhow::Result<DatabaseConnection> {
        Ok(connect(&self.database_url()).await?)
    }

    /// A connection as root, without a database.
    pub async fn admin(&self) -> anyhow::Result<DatabaseConnection> {
        Ok(connect(&self.url()).await?)
    }

    /// Sends signal `name` (`STOP`, `CONT`, ...) to the process: `STOP`
    /// makes it stop answering while its connections stay open, as a hung
    /// host or a network that drops packets looks from the client.
    /// (Dropping it kills it, paused or not.)
    pub fn signal(&self, name: &str) -> anyhow::Result<()> {
        crate::process::signal_pid(self.child.id(), name)
    }

    /// The server's error log, for assertion messages.
    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.path().join(name));
        format!(
            "{}{}",
            read("mariadbd.stderr").unwrap_or_default(),
            read("error.log").unwrap_or_default()
        )
    }

    /// Polls with a real connection until the server answers, it exits, or
    /// [`STARTUP_TIMEOUT`] passes.
    async fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "mariadbd exited during start-up ({status}):\n{}",
                    self.log()
                );
            }
            // A refused TCP connection answers at once; the driver's pool
            // would instead retry with growing back-off inside one connect.
            // Once the port accepts, the handshake waits for the server to
            // finish starting.
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
            let listening = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1));
            let answer = match listening {
                Ok(_) => connect(&self.url()).await.map_err(anyhow::Error::from),
                Err(e) => Err(e.into()),
            };
            match answer {
                Ok(conn) => {
                    conn.close().await?;
                    return Ok(());
                }
                Err(e) if started.elapsed() > STARTUP_TIMEOUT => {
                    bail!(
                        "mariadbd did not answer within {STARTUP_TIMEOUT:?} ({e}):\n{}",
                        self.log()
                    );
                }
                // Not listening yet: poll again shortly.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// Whether the server failed because its port was taken after we chose it.
    fn lost_port_race(&self) -> bool {
        port_taken(&self.log())
    }

    fn kill(&mut self) {
        // SIGKILL: the data is thrown away, so no clean shutdown is needed,
        // and it cannot be ignored or delayed by a busy server.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        self.kill();
        // `dir` is removed when the field is dropped, after this.
    }
}

async fn connect(url: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    crate::connect(options).await
}

/// `mariadbd` and `mariadb-install-db`, from PATH or where Debian puts them
/// (`/usr/sbin` is not on an ordinary user's PATH).
fn binaries() -> Option<(PathBuf, PathBuf)> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from));
    let find = |name: &str| dirs.iter().map(|d| d.join(name)).find(|p| p.is_file());
    Some((find("mariadbd")?, find("mariadb-install-db")?))
}

/// What the skip summary calls the cases that need a private MariaDB.
pub const SKIP_NAME: &str = "private MariaDB";

/// Whether `mariadbd` and `mariadb-install-db` are installed: without them
/// the case is skipped or, under `CI=true`, fails
/// ([`crate::skips::skip_or_fail`]).
pub fn available() -> bool {
    if binaries().is_some() {
        return true;
    }
    crate::skips::skip_or_fail(
        SKIP_NAME,
        "mariadbd or mariadb-install-db is not installed (apt-get install mariadb-server)",
    );
    false
}

use crate::running_as_root;

/// A fresh data directory under `dir/data`, with a root account that logs
/// in over TCP without a password.
fn install(install_db: &Path, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir(dir.join("scratch"))?;
    let mut cmd = Command::new(install_db);
    // The bootstrap server gets a socket and temporary files of its own, so
    // that installs running at once share nothing.
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--socket={}", dir.join("install.sock").display()))
        .arg(format!("--tmpdir={}", dir.join("scratch").display()))
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
        .args(BASE_ARGS);
    if running_as_root() {
        cmd.arg("--user=root");
    }
    // Bounded: a bootstrap that hangs is killed and the test fails, saying so.
    let out = crate::output_within(
        &mut cmd,
        &install_db.display().to_string(),
        Duration::from_secs(300),
    );
    if !out.status.success() {
        // The server's own log of the bootstrap says why.
        let log: String = std::fs::read_dir(dir.join("data"))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "err"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect();
        bail!(
            "{} failed ({}):\n{}{}{log}",
            install_db.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn spawn(mariadbd: &Path, dir: &Path, port: u16, extra_args: &[&str]) -> anyhow::Result<Child> {
    let mut cmd = Command::new(mariadbd);
    // --no-defaults must come first: no configuration file of the machine
    // applies.
    cmd.arg("--no-defaults");
    if running_as_root() {
        cmd.arg("--user=root");
    }
    cmd.arg(format!("--datadir={}", dir.join("data").display()))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--socket={}", dir.join("mariadbd.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mariadbd.pid").display()))
        .arg(format!("--log-error={}", dir.join("error.log").display()))
        // Temporary tables in a directory of its own, not the machine's
        // /tmp: a CI run failed with "Error on delete of
        // '/tmp/#sql-temptable-….MAI' (Errcode: 2)" while servers shared it.
        .arg(format!("--tmpdir={}", dir.join("scratch").display()))
        .args(BASE_ARGS)
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("mariadbd.stderr"))?);
    crate::process::spawn_owned(&mut cmd)
        .with_context(|| format!("starting {}", mariadbd.display()))
}
