//! Leftovers of test processes that died without cleaning up (killed by
//! nextest's timeout, `kill -9`, a crash, a machine that went down): each
//! test process removes those of dead processes once, before its first
//! test database on a shared server is created.
//!
//! What a test process leaves is named after its pid, so whose it was can
//! be told, and whether that process still runs (`/proc/PID`):
//!
//! - databases `ota_seed_t<pid>_*` ([`crate::TestDb`]), on PostgreSQL and
//!   MariaDB/MySQL;
//! - PostgreSQL roles `ota_seed_t<pid>_*` ([`crate::cleanup::PgRole`] names
//!   them after the test's database) and MySQL users `ota_seed_t<pid>_*`
//!   ([`crate::cleanup::MySqlUser`]);
//! - the temporary directories of the servers a test starts (`ota-pg*`,
//!   `ota-mariadb*`, `ota-pgbouncer-*`, `ota-galera*`), which hold a file
//!   [`OWNER_FILE`] with the pid ([`claim_dir`]). The processes of the
//!   first three die with the test (see [`crate::process::spawn_owned`]);
//!   Galera nodes run detached (`setsid`), so a dead owner's cluster is
//!   stopped with `scripts/galera-cluster stop DIR/cluster` first.
//!
//! A pid in use again (by any process) keeps its leftovers until it is
//! free: a sweep never removes what a running process may still use. The
//! servers are assumed shared only by test processes of this machine (one
//! pid namespace): the default loopback servers are.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::{Backend, ServerUrl};

/// The prefix of every name a test process gives what it makes on a
/// shared server, followed by its pid and `_`.
pub const NAME_PREFIX: &str = "ota_seed_t";

/// The file in a server's temporary directory that names the test process
/// owning it.
pub const OWNER_FILE: &str = "ota-seed-owner.pid";

/// The prefixes of the servers' temporary directories.
const DIR_PREFIXES: [&str; 4] = ["ota-pgbouncer-", "ota-pg", "ota-mariadb", "ota-galera"];

/// The pid a server-side name (`ota_seed_t<pid>_...`) carries, if it is one
/// of a test process's names.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || rest.as_bytes().get(digits) != Some(&b'_') {
        return None;
    }
    rest[..digits].parse().ok()
}

/// Whether process `pid` runs (a zombie, waiting for whoever reaps orphans
/// here, does not).
pub fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}

/// Whether `name` is a test process's and that process is gone.
pub fn left_by_a_dead_process(name: &str) -> bool {
    owner_pid(name).is_some_and(|pid| !pid_alive(pid))
}

/// What one sweep of a server removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub databases: Vec<String>,
    /// PostgreSQL roles, or MySQL users as `name@host`.
    pub accounts: Vec<String>,
}

/// Sweeps the shared server of `backend` once per test process (on a
/// thread and runtime of its own, so that it can run from anywhere). A
/// failure is reported on stderr and otherwise ignored: the leftovers
/// cost space, not correctness.
pub fn server_once(backend: Backend, server: &ServerUrl) {
    static PG: OnceLock<()> = OnceLock::new();
    static MY: OnceLock<()> = OnceLock::new();
    let cell = match backend {
        Backend::Sqlite => return,
        Backend::Postgres => &PG,
        Backend::MySql => &MY,
    };
    cell.get_or_init(|| {
        let server = server.clone();
        let outcome = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(sweep_server(backend, &server))
        })
        .join();
        match outcome {
            Ok(Ok(swept)) if swept != Swept::default() => eprintln!(
                "[harness] removed leftovers of dead test processes from {}: {swept:?}",
                backend.name()
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!(
                "warning: could not sweep leftovers of dead test processes from {}: {e:#}",
                backend.name()
            ),
            Err(_) => eprintln!("warning: sweeping {} panicked", backend.name()),
        }
    });
}

/// Drops the databases, then the roles or users, that dead test processes
/// left on `server` (see the module's documentation).
pub async fn sweep_server(backend: Backend, server: &ServerUrl) -> anyhow::Result<Swept> {
    let admin = crate::connect(crate::admin_url(backend, server)).await?;
    let outcome = match backend {
        Backend::Sqlite => Ok(Swept::default()),
        Backend::Postgres => sweep_postgres(&admin).await,
        Backend::MySql => sweep_mysql(&admin).await,
    };
    admin.close().await?;
    outcome
}

async fn names(
    conn: &DatabaseConnection,
    sql: &str,
    columns: &[&str],
) -> anyhow::Result<Vec<Vec<String>>> {
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await?;
    rows.iter()
        .map(|row| {
            columns
                .iter()
                .map(|c| Ok(row.try_get::<String>("", c)?))
                .collect()
        })
        .collect()
}

async fn sweep_postgres(admin: &DatabaseConnection) -> anyhow::Result<Swept> {
    let quote = |name: &str| format!("\"{}\"", name.replace('"', "\"\""));
    let mut swept = Swept::default();
    let databases = names(
        admin,
        "SELECT datname::text AS name FROM pg_database WHERE datname LIKE 'ota%'",
        &["name"],
    )
    .await?;
    for name in databases.into_iter().flatten() {
        if left_by_a_dead_process(&name) {
            admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    quote(&name)
                ))
                .await?;
            swept.databases.push(name);
        }
    }
    let roles = names(
        admin,
        "SELECT rolname::text AS name FROM pg_roles WHERE rolname LIKE 'ota%'",
        &["name"],
    )
    .await?;
    for name in roles.into_iter().flatten() {
        if !left_by_a_dead_process(&name) {
            continue;
        }
        let role = quote(&name);
        let drop = format!("DROP ROLE IF EXISTS {role}");
        if admin.execute_unprepared(&drop).await.is_err() {
            // Its database is gone; what it still owns or was granted
            // here goes first.
            admin
                .execute_unprepared(&format!(
                    "REASSIGN OWNED BY {role} TO CURRENT_USER; DROP OWNED BY {role}"
                ))
                .await?;
            admin.execute_unprepared(&drop).await?;
        }
        swept.accounts.push(name);
    }
    Ok(swept)
}

async fn sweep_mysql(admin: &DatabaseConnection) -> anyhow::Result<Swept> {
    let mut swept = Swept::default();
    let databases = names(
        admin,
        "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA \
         WHERE SCHEMA_NAME LIKE 'ota%'",
        &["name"],
    )
    .await?;
    for name in databases.into_iter().flatten() {
        if left_by_a_dead_process(&name) {
            admin
                .execute_unprepared(&format!(
                    "DROP DATABASE IF EXISTS `{}`",
                    name.replace('`', "``")
                ))
                .await?;
            swept.databases.push(name);
        }
    }
    let users = names(
        admin,
        "SELECT CAST(User AS CHAR) AS name, CAST(Host AS CHAR) AS host FROM mysql.user \
         WHERE User LIKE 'ota%'",
        &["name", "host"],
    )
    .await?;
    for user in users {
        let [name, host] = <[String; 2]>::try_from(user)
            .map_err(|_| anyhow::anyhow!("a user row without two columns"))?;
        if left_by_a_dead_process(&name) {
            let literal = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"));
            admin
                .execute_unprepared(&format!(
                    "DROP USER IF EXISTS {}@{}",
                    literal(&name),
                    literal(&host)
                ))
                .await?;
            swept.accounts.push(format!("{name}@{host}"));
        }
    }
    Ok(swept)
}

/// Marks `dir`, a server's temporary directory, as this process's.
pub fn claim_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::write(dir.join(OWNER_FILE), std::process::id().to_string())
}

/// Sweeps the system's temporary directory once per test process (see
/// [`dirs_in`]), before this process makes a server directory of its own.
pub fn dirs_once() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let removed = dirs_in(&std::env::temp_dir());
        if !removed.is_empty() {
            eprintln!("[harness] removed server directories of dead test processes: {removed:?}");
        }
    });
}

/// Removes the servers' directories in `root` whose [`OWNER_FILE`] names a
/// process that is gone, stopping a Galera cluster in one first; returns
/// them. Directories without the file (made by someone else) stay.
pub fn dirs_in(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(prefix) = DIR_PREFIXES.iter().find(|p| name.starts_with(*p)) else {
            continue;
        };
        let dir = entry.path();
        let owner = std::fs::read_to_string(dir.join(OWNER_FILE))
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok());
        if owner.is_none_or(pid_alive) {
            continue;
        }
        let cluster = dir.join(crate::galera::CLUSTER_DIR);
        // Without its base-port file the script started no node there.
        if *prefix == "ota-galera" && cluster.join("base-port").exists() {
            // Bounded; the script stops the nodes and removes the directory.
            let mut stop = std::process::Command::new(crate::galera::script_path());
            stop.arg("stop").arg(&cluster);
            let out = crate::output_within(
                &mut stop,
                "scripts/galera-cluster stop (a dead test's cluster)",
                Duration::from_secs(120),
            );
            if !out.status.success() {
                eprintln!(
                    "warning: could not stop the Galera cluster in {}:\n{}",
                    dir.display(),
                    crate::describe(&out)
                );
                continue;
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        removed.push(dir);
    }
    removed
}

/// A pid no process has now: one that just exited (and was reaped), for
/// tests that need a dead owner.
pub fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true")
        .spawn()
        .expect("run true");
    let pid = child.id();
    child.wait().expect("reap it");
    assert!(!pid_alive(pid), "pid {pid} was reused at once");
    pid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_owners_pid() {
        assert_eq!(owner_pid("ota_seed_t4242_0_123"), Some(4242));
        assert_eq!(owner_pid("ota_seed_t4242_0_123_app"), Some(4242));
        assert_eq!(owner_pid("ota_seed_t17_lim3"), Some(17));
        for other in [
            "ota_seed",
            "ota_seed_t",
            "ota_seed_t_1",
            "ota_seed_t12",
            "ota_seed_test_1",
            "pulse",
        ] {
            assert_eq!(owner_pid(other), None, "{other}");
        }
        assert!(pid_alive(std::process::id()));
        assert!(!left_by_a_dead_process(&format!(
            "ota_seed_t{}_0_1",
            std::process::id()
        )));
        assert!(left_by_a_dead_process(&format!(
            "ota_seed_t{}_0_1",
            dead_pid()
        )));
    }

    #[test]
    fn a_dead_processs_server_directories_are_removed_a_live_ones_kept() {
        let root = tempfile::tempdir().expect("a root");
        let make = |name: &str, owner: Option<u32>| {
            let dir = root.path().join(name);
            std::fs::create_dir(&dir).expect("mkdir");
            std::fs::write(dir.join("server.log"), "…").expect("a file");
            if let Some(pid) = owner {
                std::fs::write(dir.join(OWNER_FILE), pid.to_string()).expect("owner");
            }
            dir
        };
        let dead = dead_pid();
        let dead_pg = make("ota-pgAbc123", Some(dead));
        let dead_bouncer = make("ota-pgbouncer-xyz", Some(dead));
        let live = make("ota-mariadbQ1", Some(std::process::id()));
        let unclaimed = make("ota-pgNoOwner", None);
        let unrelated = make("something-else", Some(dead));
        let mut removed = dirs_in(root.path());
        removed.sort();
        let mut expected = vec![dead_pg.clone(), dead_bouncer.clone()];
        expected.sort();
        assert_eq!(removed, expected);
        assert!(!dead_pg.exists() && !dead_bouncer.exists());
        assert!(live.exists() && unclaimed.exists() && unrelated.exists());
    }
}
