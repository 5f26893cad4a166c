//! A starting gate for seeders that must run at the same time: the test
//! holds the lock every seeder takes before migrating an empty database,
//! starts them, waits until every one of them is provably queued on it
//! (a readiness signal read from the server, or from the processes), and
//! only then lets them go. Without it, seeders "started together" may in
//! fact run one after another, and a race test passes without a race.
//!
//! The locks are the ones the README documents for racing first runs:
//! PostgreSQL `pg_advisory_xact_lock(7246101301)` (per database), MySQL/
//! MariaDB `GET_LOCK('ota_seed_migrations')` (per server); SQLite has no
//! lock server, so the gate is an exclusive transaction on the file and
//! the signal is every seeder process having the file open.

use std::path::PathBuf;
use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction, Statement,
    TransactionTrait,
};

use crate::{Backend, Spawned, TestDb, describe};

/// The seeder's migration lock on PostgreSQL (seeder/src/db/schema.rs).
const PG_MIGRATION_LOCK: i64 = 7_246_101_301;
/// The seeder's migration lock on MySQL/MariaDB.
const MYSQL_MIGRATION_LOCK: &str = "ota_seed_migrations";

/// How long seeders may take to reach the gate (start, connect, queue).
const QUEUE_LIMIT: Duration = Duration::from_secs(120);

pub struct MigrationGate {
    backend: Backend,
    /// Holds the lock: a transaction (PostgreSQL, MySQL) ...
    txn: Option<DatabaseTransaction>,
    /// ... or, on SQLite, a one-connection pool inside `BEGIN EXCLUSIVE`.
    sqlite: Option<DatabaseConnection>,
    sqlite_file: PathBuf,
    /// Asks the server who waits (never the holder's own connection).
    observer: Option<DatabaseConnection>,
    /// Keeps the holder's pool alive for the transaction.
    _holder: Option<DatabaseConnection>,
}

impl MigrationGate {
    /// Takes the lock on `db` (an empty database: the seeders will all
    /// want to migrate it).
    pub async fn close(db: &TestDb) -> anyhow::Result<MigrationGate> {
        let sqlite_file = db.dir.path().join("test.sqlite");
        match db.backend {
            Backend::Sqlite => {
                let mut options = ConnectOptions::new(db.url.clone());
                options.max_connections(1).min_connections(1);
                let conn = crate::connect(options).await?;
                conn.execute_unprepared("BEGIN EXCLUSIVE").await?;
                Ok(MigrationGate {
                    backend: db.backend,
                    txn: None,
                    sqlite: Some(conn),
                    sqlite_file,
                    observer: None,
                    _holder: None,
                })
            }
            Backend::Postgres | Backend::MySql => {
                let holder = db.connect().await?;
                let txn = holder.begin().await?;
                if db.backend == Backend::Postgres {
                    // Waits until granted: it returns only holding the lock.
                    txn.execute_unprepared(&format!(
                        "SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})"
                    ))
                    .await?;
                } else {
                    take_mysql_lock(&txn, MYSQL_MIGRATION_LOCK, 120).await?;
                }
                Ok(MigrationGate {
                    backend: db.backend,
                    txn: Some(txn),
                    sqlite: None,
                    sqlite_file,
                    observer: Some(db.connect().await?),
                    _holder: Some(holder),
                })
            }
        }
    }

    /// How many of `seeders` wait at the gate.
    async fn queued(&self, seeders: &mut [Spawned]) -> anyhow::Result<usize> {
        let count = |sql: String| async move {
            let observer = self.observer.as_ref().expect("an observer");
            anyhow::Ok(crate::sql::number(observer, &sql).await? as usize)
        };
        match self.backend {
            Backend::Postgres => {
                count(format!(
                    "SELECT COUNT(*) AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                     WHERE d.datname = current_database() AND l.locktype = 'advisory' \
                       AND NOT l.granted AND l.classid::int8 = ({PG_MIGRATION_LOCK}::int8 >> 32) \
                       AND l.objid::int8 = ({PG_MIGRATION_LOCK}::int8 & 4294967295)"
                ))
                .await
            }
            Backend::MySql => {
                count(
                    "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST \
                     WHERE DB = DATABASE() AND STATE = 'User lock' AND ID <> CONNECTION_ID()"
                        .to_owned(),
                )
                .await
            }
            Backend::Sqlite => Ok(seeders
                .iter()
                .filter(|s| has_open(s.id(), &self.sqlite_file))
                .count()),
        }
    }

    /// Waits until all of `seeders` are queued at the gate (bounded); fails,
    /// with the output of the one that ended, if any of them ends first.
    pub async fn wait_for_all(&self, seeders: &mut [Spawned]) -> anyhow::Result<()> {
        let deadline = std::time::Instant::now() + QUEUE_LIMIT;
        loop {
            let queued = self.queued(seeders).await?;
            if queued == seeders.len() {
                return Ok(());
            }
            let total = seeders.len();
            if let Some(ended) = seeders.iter_mut().find_map(|s| (!s.running()).then_some(s)) {
                anyhow::bail!(
                    "a seeder ended before all {total} were queued at the gate:\n{}",
                    ended.stderr_so_far()
                );
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "only {queued} of {} seeders queued at the migration lock within {QUEUE_LIMIT:?}",
                seeders.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Releases the lock: the queued seeders go.
    pub async fn open(mut self) -> anyhow::Result<()> {
        if let Some(txn) = self.txn.take() {
            if self.backend == Backend::MySql {
                txn.execute_unprepared(&format!("SELECT RELEASE_LOCK('{MYSQL_MIGRATION_LOCK}')"))
                    .await?;
            }
            txn.commit().await?;
        }
        if let Some(conn) = self.sqlite.take() {
            conn.execute_unprepared("COMMIT").await?;
            conn.close().await?;
        }
        if let Some(observer) = self.observer.take() {
            observer.close().await?;
        }
        Ok(())
    }
}

/// `GET_LOCK(name, timeout)` on `conn`'s session, which must give 1: a gate
/// that does not hold its lock lets the seeders through one by one, and a
/// race test would pass without a race. 0 is a timeout (someone else holds
/// it), NULL an error.
pub async fn take_mysql_lock(
    conn: &impl ConnectionTrait,
    name: &str,
    timeout_secs: u32,
) -> anyhow::Result<()> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT GET_LOCK('{name}', {timeout_secs}) AS granted"),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("GET_LOCK('{name}') returned no row"))?;
    let granted: Option<i64> = row.try_get("", "granted")?;
    anyhow::ensure!(
        granted == Some(1),
        "the gate did not get the lock: GET_LOCK('{name}', {timeout_secs}) gave {} \
         (another session holds it)",
        granted.map_or("NULL".to_owned(), |g| g.to_string())
    );
    Ok(())
}

/// Whether process `pid` has `file` open (Linux: its /proc fd links).
fn has_open(pid: u32, file: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .any(|target| target == file)
}

/// Starts `n` seeders on `db` with `args`, lets them queue at a closed
/// gate, opens it, and returns their outputs (each bounded by
/// [`crate::SEEDER_LIMIT`]).
pub async fn seeders_at_once(
    db: &TestDb,
    url: &str,
    n: usize,
    args: &[&str],
) -> anyhow::Result<Vec<std::process::Output>> {
    let gate = MigrationGate::close(db).await?;
    let mut seeders = (0..n)
        .map(|_| crate::start_seeder(args, &[("DATABASE_URL", url)], db.dir.path()))
        .collect::<Result<Vec<_>, _>>()?;
    gate.wait_for_all(&mut seeders).await?;
    gate.open().await?;
    let outputs: Vec<_> = seeders
        .into_iter()
        .map(|s| s.wait(crate::SEEDER_LIMIT))
        .collect();
    for out in &outputs {
        anyhow::ensure!(out.status.code() == Some(0), "{}", describe(out));
    }
    Ok(outputs)
}
