//! A private PgBouncer in front of the test PostgreSQL server, started by
//! the test that needs it: Debian's `pgbouncer` (1.18) on a free loopback
//! port, every database forwarded to the server of `OTA_SEED_TEST_POSTGRES`,
//! small pools so that clients really share server connections. It is
//! stopped, and its files removed, when the [`PgBouncer`] is dropped, also
//! when the test panics.
//!
//! No `pgbouncer` binary: the test is skipped with a line on the terminal
//! ([`available`]), unless `CI=true` or `OTA_SEED_REQUIRE_BACKENDS=1`, where
//! that is a failure (`.ci/run` installs the Debian package).

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::ports::{PORT_TRIES, free_port, port_taken};
use crate::{Backend, TestDb, skips};

/// PgBouncer's `pool_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    Session,
    Transaction,
    Statement,
}

impl PoolMode {
    fn as_str(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
            PoolMode::Statement => "statement",
        }
    }
}

/// What a test may vary about its PgBouncer.
#[derive(Debug, Clone)]
pub struct Options {
    /// `ignore_startup_parameters = extra_float_digits`: what most
    /// deployments set so that JDBC/sqlx-style clients can connect. Without
    /// it PgBouncer refuses a client that sends that startup parameter.
    pub ignore_extra_float_digits: bool,
    /// Server connections per (database, user) pair. Small, so that the
    /// seeder's client connections share few server connections.
    pub default_pool_size: u32,
    /// Roles besides the server URL's user that may log in (PgBouncer's
    /// `trust` still requires a user to be listed in its auth_file).
    pub extra_users: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ignore_extra_float_digits: true,
            default_pool_size: 2,
            extra_users: Vec::new(),
        }
    }
}

/// A running PgBouncer. Dropping it stops the process and deletes its
/// configuration, auth file and log.
pub struct PgBouncer {
    child: Child,
    port: u16,
    user: String,
    pool_mode: PoolMode,
    dir: tempfile::TempDir,
}

/// How long PgBouncer gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the binary is: `OTA_SEED_PGBOUNCER`, else `PATH`, else Debian's
/// `/usr/sbin` (not on a normal user's PATH).
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("OTA_SEED_PGBOUNCER") {
        return Some(PathBuf::from(path));
    }
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(["/usr/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join("pgbouncer"))
        .find(|candidate| candidate.is_file())
}

/// Whether PgBouncer cases can run: without a binary, the case is skipped
/// or, under `CI=true`, fails ([`skips::skip_or_fail`]).
pub fn available() -> bool {
    if binary().is_some() {
        return true;
    }
    skips::skip_or_fail(
        "PgBouncer",
        "no pgbouncer binary (apt-get install pgbouncer, or set OTA_SEED_PGBOUNCER)",
    );
    false
}

/// User, host and port of the PostgreSQL test server.
fn upstream() -> anyhow::Result<(String, String, u16)> {
    let server = Backend::Postgres
        .server()
        .context("PostgreSQL has a server address")?;
    Ok((
        server.user().to_owned(),
        server.host().to_owned(),
        server.port(),
    ))
}

/// PgBouncer refuses to run as root: then it drops to this account
/// (`-u`), which must own its files. `None` when we are not root.
fn unprivileged_account() -> anyhow::Result<Option<(String, u32, u32)>> {
    if !crate::running_as_root() {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").context("read /etc/passwd")?;
    for name in ["postgres", "nobody"] {
        let found = passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.len() > 3 && fields[0] == name)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        });
        if let Some((uid, gid)) = found {
            return Ok(Some((name.to_owned(), uid, gid)));
        }
    }
    anyhow::bail!(
        "running as root, and neither a postgres nor a nobody account exists for pgbouncer -u"
    )
}

impl PgBouncer {
    /// Starts PgBouncer in `pool_mode` and waits until it accepts
    /// connections. Call [`available`] first to apply the skip rule.
    pub fn start(pool_mode: PoolMode, options: Options) -> anyhow::Result<PgBouncer> {
        let bin = binary().context("no pgbouncer binary (apt-get install pgbouncer)")?;
        let (user, host, server_port) = upstream()?;
        let account = unprivileged_account()?;
        crate::sweep::dirs_once();
        let mut last_error = None;
        for _ in 0..PORT_TRIES {
            let dir = tempfile::Builder::new()
                .prefix("ota-pgbouncer-")
                .tempdir()?;
            crate::sweep::claim_dir(dir.path())?;
            let port = free_port()?;
            write_files(
                dir.path(),
                port,
                pool_mode,
                &options,
                &user,
                &host,
                server_port,
            )?;
            if let Some((_, uid, gid)) = &account {
                for entry in std::iter::once(dir.path().to_owned()).chain(
                    std::fs::read_dir(dir.path())?
                        .filter_map(Result::ok)
                        .map(|e| e.path()),
                ) {
                    std::os::unix::fs::chown(&entry, Some(*uid), Some(*gid))
                        .with_context(|| format!("chown {}", entry.display()))?;
                }
            }
            let mut cmd = Command::new(&bin);
            // As root, started as the account rather than with `-u`: a
            // process that changes its own user loses its parent-death
            // signal (see `spawn_owned`).
            if let Some((_, uid, gid)) = &account {
                use std::os::unix::process::CommandExt as _;
                cmd.gid(*gid).uid(*uid);
            }
            // Not daemonized (-d): the Child is PgBouncer itself, so Drop
            // stops exactly this process, and it dies with the test.
            cmd.arg(dir.path().join("pgbouncer.ini"))
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(dir.path().join("stderr.log"))?);
            let child = crate::process::spawn_owned(&mut cmd)
                .with_context(|| format!("start {}", bin.display()))?;
            let mut bouncer = PgBouncer {
                child,
                port,
                user: user.clone(),
                pool_mode,
                dir,
            };
            match bouncer.wait_until_listening() {
                Ok(()) => return Ok(bouncer),
                // Another process took the port first: dropping it stops
                // the process and removes the files; try a fresh port.
                Err(e) if port_taken(&bouncer.log()) => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("pgbouncer did not start")))
    }

    /// Polls until the port accepts a TCP connection, failing at once if the
    /// process exits (a port taken meanwhile, a bad configuration).
    fn wait_until_listening(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "pgbouncer exited ({status}) before listening on port {}:\n{}",
                    self.port,
                    self.log()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "pgbouncer did not listen on port {} within {START_TIMEOUT:?}:\n{}",
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends signal `name` (`STOP`, `CONT`, ...) to the process: `STOP`
    /// makes it stop answering while its connections stay open, as a hung
    /// host or a network that drops packets looks from the client.
    /// (Dropping it kills it, paused or not.)
    pub fn signal(&self, name: &str) -> anyhow::Result<()> {
        crate::process::signal_pid(self.child.id(), name)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pool_mode(&self) -> PoolMode {
        self.pool_mode
    }

    /// URL of `database` through PgBouncer, as the server URL's user.
    pub fn url(&self, database: &str) -> String {
        self.url_as(&self.user, database)
    }

    /// URL of `database` through PgBouncer as `user` (one of
    /// [`Options::extra_users`], or the server URL's user).
    pub fn url_as(&self, user: &str, database: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{database}", self.port)
    }

    /// URL of a test's own database through PgBouncer.
    pub fn url_for(&self, db: &TestDb) -> String {
        self.url(&db.server.name)
    }

    /// PgBouncer's log so far (for assertion messages).
    pub fn log(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("pgbouncer.log"), read("stderr.log"))
    }

    /// The directory holding its configuration and log; gone after drop.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // SIGKILL: nothing of PgBouncer's outlives it that matters (the
        // server ends its sessions when the sockets close). Reaping it frees
        // the port before the TempDir removes the files.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(clippy::too_many_arguments)]
fn write_files(
    dir: &Path,
    port: u16,
    pool_mode: PoolMode,
    options: &Options,
    user: &str,
    server_host: &str,
    server_port: u16,
) -> anyhow::Result<()> {
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut users = vec![user.to_owned()];
    users.extend(options.extra_users.iter().cloned());
    let auth: String = users
        .iter()
        .map(|u| format!("{} \"\"\n", quote(u)))
        .collect();
    std::fs::write(dir.join("userlist.txt"), auth)?;
    let ignore = if options.ignore_extra_float_digits {
        "ignore_startup_parameters = extra_float_digits\n"
    } else {
        ""
    };
    let ini = format!(
        "[databases]\n\
         * = host={server_host} port={server_port}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         auth_type = trust\n\
         auth_file = {auth}\n\
         pool_mode = {mode}\n\
         default_pool_size = {pool}\n\
         min_pool_size = 0\n\
         reserve_pool_size = 0\n\
         max_client_conn = 200\n\
         {ignore}\
         logfile = {log}\n\
         pidfile = {pid}\n\
         log_connections = 0\n\
         log_disconnections = 0\n",
        auth = dir.join("userlist.txt").display(),
        mode = pool_mode.as_str(),
        pool = options.default_pool_size,
        log = dir.join("pgbouncer.log").display(),
        pid = dir.join("pgbouncer.pid").display(),
    );
    std::fs::write(dir.join("pgbouncer.ini"), ini)?;
    // Created here so that it exists (and gets chowned) before PgBouncer,
    // running as another user, opens it.
    File::create(dir.join("pgbouncer.log"))?;
    Ok(())
}
