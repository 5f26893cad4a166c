//! The seeder's handle on a caller's connection: SeaORM's pool for SQLite
//! and MySQL/MariaDB, the same pool taken as sqlx's for PostgreSQL (see
//! `txn` for why), and the settings every transaction gets.

use std::time::Duration;

use sea_orm::sqlx::Connection as _;
use sea_orm::sqlx::mysql::{MySqlConnection, MySqlPoolOptions};
use sea_orm::sqlx::pool::PoolOptions;
use sea_orm::sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseConnectionType, DbBackend, DbErr,
    Statement,
};

/// Pool settings under which sqlx runs no task of its own beside an open
/// pool: no reaping of idle or old connections (`idle_timeout`,
/// `max_lifetime`; a `min_connections` above 0 is still opened, once).
/// Connections a server dropped are still noticed: the pool pings each
/// one before handing it out (`test_before_acquire`, on by default).
///
/// Why: with either timeout set (sqlx sets both unless told otherwise),
/// sqlx 0.9.0 spawns a maintenance task that sweeps the idle connections
/// when the pool opens and then every `min(idle_timeout, max_lifetime)`,
/// `for _ in 0..pool.num_idle()`. `num_idle` can read `usize::MAX` for a
/// moment: `PoolInner::release` hands a connection back (queue and
/// semaphore permit) before it counts it, and an `acquire` on another
/// thread that takes it in between subtracts first. A sweep that starts
/// then runs 2^64 iterations that never await: one worker thread at 100%
/// CPU, and the runtime's drop waits for that worker for ever (sqlx issue
/// 3645). That is how `cargo test` hung in issue 20. Without the timeouts
/// there is no sweep, so the count's brief wrap does no harm.
///
/// For the caller's own pools, as the `seeder` command uses it:
///
/// ```
/// let mut options = sea_orm::ConnectOptions::new("sqlite::memory:");
/// seeder::without_pool_maintenance(&mut options).max_connections(1);
/// assert_eq!(options.get_idle_timeout(), Some(None));
/// assert_eq!(options.get_max_lifetime(), Some(None));
/// ```
pub fn without_pool_maintenance(options: &mut ConnectOptions) -> &mut ConnectOptions {
    options.idle_timeout(None).max_lifetime(None)
}

/// [`without_pool_maintenance`] for the pools the seeder opens itself
/// (with sqlx's own options).
pub(crate) fn without_maintenance<DB: sea_orm::sqlx::Database>(
    options: PoolOptions<DB>,
) -> PoolOptions<DB> {
    options.idle_timeout(None).max_lifetime(None)
}

/// Settings a run gives each of its transactions, whatever the role or
/// database defaults are.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// PostgreSQL: the schema holding the OTA tables.
    pub pg_schema: Option<String>,
    /// PostgreSQL `search_path` for the run: that schema first.
    pub search_path: Option<String>,
    /// Longest a statement may run, a lock be waited for, or a transaction
    /// sit idle. `None`: no limit.
    pub statement_timeout: Option<Duration>,
    /// MariaDB names its statement limit `max_statement_time`; MySQL has
    /// none for writes.
    pub mariadb: bool,
    /// A MariaDB Galera node: reads wait for the cluster's earlier commits
    /// (`wsrep_sync_wait`), and the tenant lock is certified (`galera`).
    pub galera: bool,
}

/// A caller's database, as the seeder works on it.
pub struct Db {
    pub(super) backend: DbBackend,
    pub(super) pool: Pool,
    pub(super) session: Session,
    /// The caller's connection (for migrations, which need SeaORM's own).
    pub(super) conn: DatabaseConnection,
}

pub(super) enum Pool {
    Orm(DatabaseConnection),
    Pg(PgPool),
}

impl Db {
    /// Wraps `conn`; nothing is opened, but on MySQL/MariaDB one query
    /// asks which of the two it is, and on MariaDB another whether it is a
    /// Galera node.
    pub async fn new(conn: &DatabaseConnection, mut session: Session) -> Result<Db, DbErr> {
        let backend = conn.get_database_backend();
        let pool = match &conn.inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                Pool::Pg(conn.get_postgres_connection_pool().clone())
            }
            _ => Pool::Orm(conn.clone()),
        };
        if backend == DbBackend::MySql {
            let version = conn
                .query_one_raw(Statement::from_string(
                    DbBackend::MySql,
                    "SELECT VERSION() AS v",
                ))
                .await?
                .map(|row| row.try_get::<String>("", "v"))
                .transpose()?;
            session.mariadb = version.is_some_and(|v| v.contains("MariaDB"));
            session.galera = session.mariadb && is_node(conn).await?;
        }
        Ok(Db {
            backend,
            pool,
            session,
            conn: conn.clone(),
        })
    }

    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Where the connection goes, for messages: `host:port`, or the
    /// socket's path; "the database server" for SQLite and other kinds.
    pub fn server_address(&self) -> String {
        match &self.conn.inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                let options = self.conn.get_postgres_connection_pool().connect_options();
                match options.get_socket() {
                    Some(socket) => socket.display().to_string(),
                    None => format!("{}:{}", options.get_host(), options.get_port()),
                }
            }
            DatabaseConnectionType::SqlxMySqlPoolConnection(_) => {
                let options = self.conn.get_mysql_connection_pool().connect_options();
                match options.get_socket() {
                    Some(socket) => socket.display().to_string(),
                    None => format!("{}:{}", options.get_host(), options.get_port()),
                }
            }
            _ => "the database server".to_owned(),
        }
    }

    /// Whether the server is a MariaDB Galera node (see `galera`).
    pub fn is_galera(&self) -> bool {
        self.session.galera
    }

    /// How many transactions may be open at once without one waiting for
    /// a pooled connection another holds: the pool's size on PostgreSQL
    /// and MySQL/MariaDB, 1 on SQLite and on any other kind of connection.
    pub fn concurrent_transactions(&self) -> usize {
        let size = match (&self.pool, &self.conn.inner) {
            (Pool::Pg(pool), _) => pool.options().get_max_connections(),
            (Pool::Orm(conn), DatabaseConnectionType::SqlxMySqlPoolConnection(_)) => conn
                .get_mysql_connection_pool()
                .options()
                .get_max_connections(),
            _ => 1,
        };
        (size as usize).max(1)
    }

    /// A SeaORM connection of its own holding exactly one server session,
    /// opened like the caller's: for session locks that must cover every
    /// statement run through it (MySQL), and for PostgreSQL migrations
    /// (see `schema::migrate_pg`). SQLite has one connection anyway.
    pub(super) async fn session_connection(
        &self,
        timeout: Duration,
    ) -> Result<DatabaseConnection, DbErr> {
        let conn_err =
            |e: sea_orm::sqlx::Error| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e.into()));
        // Matched on the connection itself: the pool getters panic for any
        // other kind (a mock or proxy connection of the caller's).
        match &self.conn.inner {
            DatabaseConnectionType::SqlxPostgresPoolConnection(_) => {
                let options = (*self.conn.get_postgres_connection_pool().connect_options()).clone();
                first_connection(timeout, || PgConnection::connect_with(&options)).await?;
                let pool = without_maintenance(PgPoolOptions::new())
                    .max_connections(1)
                    .acquire_timeout(timeout)
                    .connect_with(options)
                    .await
                    .map_err(conn_err)?;
                Ok(DatabaseConnection::from(pool))
            }
            DatabaseConnectionType::SqlxMySqlPoolConnection(_) => {
                let options = (*self.conn.get_mysql_connection_pool().connect_options()).clone();
                first_connection(timeout, || MySqlConnection::connect_with(&options)).await?;
                let pool = without_maintenance(MySqlPoolOptions::new())
                    .max_connections(1)
                    .acquire_timeout(timeout)
                    .connect_with(options)
                    .await
                    .map_err(conn_err)?;
                Ok(DatabaseConnection::from(pool))
            }
            _ => Ok(self.conn.clone()),
        }
    }
}

/// Whether the server is a Galera node: the wsrep provider is loaded
/// (`wsrep_provider` other than `none`). The variable is absent on MySQL
/// and on MariaDB builds without wsrep: not a node. A node whose
/// `wsrep_on` is OFF is still one (and refused, see `galera`). Here rather
/// than in `galera` because [`Db::new`] asks it, and `galera` builds on
/// `Db`: the dependency goes one way.
async fn is_node<C: ConnectionTrait>(conn: &C) -> Result<bool, DbErr> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::MySql,
            "SHOW GLOBAL VARIABLES LIKE 'wsrep_provider'",
        ))
        .await?;
    let mut provider = None;
    for row in &rows {
        provider = Some(row.try_get_by_index::<String>(1)?);
    }
    Ok(provider.is_some_and(|p| !p.trim().is_empty() && !p.eq_ignore_ascii_case("none")))
}

/// Opens and closes one connection outside any pool, so that a refusal is
/// reported at once in the server's words: sqlx's pool retries "too many
/// connections" (a role's CONNECTION LIMIT) and a refused port until its
/// acquire timeout, then says only that it timed out. A connection limit
/// reached is tried again for up to 2 s: the run's own connection, just
/// closed, may still count on the server for a moment.
async fn first_connection<C: sea_orm::sqlx::Connection, F>(
    timeout: Duration,
    connect: impl Fn() -> F,
) -> Result<(), DbErr>
where
    F: Future<Output = Result<C, sea_orm::sqlx::Error>>,
{
    let conn_err = |e: sea_orm::sqlx::Error| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e.into()));
    let started = std::time::Instant::now();
    let attempt = async {
        loop {
            match connect().await {
                Err(e) if over_limit(&e) && started.elapsed() < LIMIT_GRACE => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(conn)) => {
            let _ = tokio::time::timeout(timeout, conn.close()).await;
            Ok(())
        }
        Ok(Err(e)) => Err(conn_err(e)),
        Err(_) => Err(conn_err(sea_orm::sqlx::Error::PoolTimedOut)),
    }
}

/// How long [`first_connection`] tries again when a limit is reached.
const LIMIT_GRACE: Duration = Duration::from_secs(2);

/// Whether the server refused a connection for a connection limit:
/// PostgreSQL 53300, MySQL/MariaDB 1040, 1203 and 1226.
fn over_limit(error: &sea_orm::sqlx::Error) -> bool {
    match error {
        sea_orm::sqlx::Error::Database(db) => {
            db.code().is_some_and(|c| c == "53300")
                || db
                    .try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
                    .is_some_and(|e| matches!(e.number(), 1040 | 1203 | 1226))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use sea_orm::{ConnectOptions, ConnectionTrait, Database};

    use super::{without_maintenance, without_pool_maintenance};

    /// The tasks alive in this runtime once there are `wanted` or fewer
    /// (a pool returns each connection in a task of its own), or after 10 s.
    async fn tasks_settled_at(wanted: usize) -> usize {
        let metrics = tokio::runtime::Handle::current().metrics();
        let deadline = Instant::now() + Duration::from_secs(10);
        while metrics.num_alive_tasks() > wanted && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        metrics.num_alive_tasks()
    }

    async fn open_and_use(options: ConnectOptions) -> sea_orm::DatabaseConnection {
        let db = Database::connect(options).await.expect("open");
        for _ in 0..3 {
            db.execute_unprepared("SELECT 1").await.expect("query");
        }
        db
    }

    /// Issue 20: sqlx's maintenance task is what spun (see
    /// `without_pool_maintenance`); under these settings it does not exist
    /// while the pool is open. The control shows the count sees it.
    #[tokio::test]
    async fn a_pool_under_these_settings_runs_no_task_of_its_own() {
        let plain = open_and_use(ConnectOptions::new("sqlite::memory:")).await;
        assert_eq!(
            tasks_settled_at(1).await,
            1,
            "control: sqlx's defaults keep its maintenance task running beside an \
             open pool (if not, this sqlx no longer does; see without_pool_maintenance)"
        );
        plain.close().await.expect("close");
        assert_eq!(tasks_settled_at(0).await, 0, "closing ends it");

        let mut options = ConnectOptions::new("sqlite::memory:");
        without_pool_maintenance(&mut options);
        let db = open_and_use(options).await;
        assert_eq!(
            tasks_settled_at(0).await,
            0,
            "a task is still running beside the open pool"
        );
        db.close().await.expect("close");
    }

    /// The same for the pools the seeder opens itself (`session_connection`).
    #[tokio::test]
    async fn the_seeders_own_pools_run_no_task_of_their_own() {
        let pool = without_maintenance(SqlitePoolOptions::new())
            .max_connections(1)
            .connect_with(SqliteConnectOptions::new().in_memory(true))
            .await
            .expect("open");
        let db = sea_orm::DatabaseConnection::from(pool);
        db.execute_unprepared("SELECT 1").await.expect("query");
        assert_eq!(
            tasks_settled_at(0).await,
            0,
            "a task is still running beside the open pool"
        );
        db.close().await.expect("close");
    }
}
