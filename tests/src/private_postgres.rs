//! A private PostgreSQL primary with a streaming hot standby, for tests
//! that need a server in a state the shared one must never be put in (a
//! read-only replica). Both run from Debian's PostgreSQL binaries as user
//! `postgres` (initdb refuses root), on free loopback ports, in a temporary
//! directory; dropping the value stops them and removes everything.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// A primary and its hot standby.
pub struct PrimaryWithStandby {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub primary_port: u16,
    pub standby_port: u16,
}

impl PrimaryWithStandby {
    /// Starts both, or `Ok(None)` when PostgreSQL's server binaries are not
    /// installed and backends are not required (the caller skips).
    pub fn start() -> anyhow::Result<Option<PrimaryWithStandby>> {
        let Some(bin) = server_binaries() else {
            if crate::backends_required() {
                bail!("PostgreSQL server binaries (initdb, pg_ctl) are required but not installed");
            }
            eprintln!(
                "\nSKIPPED hot-standby case: no PostgreSQL server binaries under /usr/lib/postgresql"
            );
            return Ok(None);
        };
        let dir = tempfile::tempdir()?;
        as_postgres(
            Command::new("chown").args(["postgres:", &path_str(dir.path())?]),
            false,
        )?;
        let pair = PrimaryWithStandby {
            primary_port: free_port()?,
            standby_port: free_port()?,
            bin,
            dir,
        };
        let primary = pair.dir.path().join("primary");
        let standby = pair.dir.path().join("standby");
        pair.run(
            "initdb",
            &[
                "-D",
                &path_str(&primary)?,
                "-U",
                "postgres",
                "--auth=trust",
                "-N",
            ],
        )?;
        pair.pg_ctl_start(&primary, pair.primary_port)?;
        pair.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &pair.primary_port.to_string(),
                "-U",
                "postgres",
                "-D",
                &path_str(&standby)?,
                "-R",
                "-X",
                "stream",
            ],
        )?;
        pair.pg_ctl_start(&standby, pair.standby_port)?;
        Ok(Some(pair))
    }

    pub fn primary_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.primary_port
        )
    }

    pub fn standby_url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}",
            self.standby_port
        )
    }

    fn pg_ctl_start(&self, data: &Path, port: u16) -> anyhow::Result<()> {
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            path_str(self.dir.path())?
        );
        let log = path_str(&self.dir.path().join(format!("{port}.log")))?;
        // -w waits (bounded by -t) until the server accepts connections.
        self.run(
            "pg_ctl",
            &[
                "-D",
                &path_str(data)?,
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
    }

    fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        as_postgres(Command::new(self.bin.join(tool)).args(args), true)
    }
}

impl Drop for PrimaryWithStandby {
    fn drop(&mut self) {
        for data in ["standby", "primary"] {
            let data = self.dir.path().join(data);
            if data.exists() {
                let _ = Command::new(self.bin.join("pg_ctl"))
                    .args([
                        "-D",
                        &data.to_string_lossy(),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ])
                    .uid_postgres()
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
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

fn server_binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn path_str(path: &Path) -> anyhow::Result<String> {
    path.to_str()
        .map(str::to_owned)
        .with_context(|| format!("non-UTF-8 path {}", path.display()))
}

trait AsPostgres {
    fn uid_postgres(&mut self) -> &mut Self;
}

impl AsPostgres for Command {
    /// PostgreSQL's tools refuse to run as root: drop to `postgres` when
    /// running as root.
    fn uid_postgres(&mut self) -> &mut Self {
        use std::os::unix::process::CommandExt as _;
        if is_root()
            && let Some((uid, gid)) = postgres_ids()
        {
            self.gid(gid).uid(uid);
        }
        self
    }
}

fn as_postgres(command: &mut Command, drop_privileges: bool) -> anyhow::Result<()> {
    if drop_privileges {
        command.uid_postgres();
    }
    // Bounded: a server tool that hangs is killed and the test fails,
    // saying so.
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
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn postgres_ids() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}
