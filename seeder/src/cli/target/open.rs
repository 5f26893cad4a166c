//! Opening a target: one connection first, outside any pool, so that a
//! refusal is reported at once in the server's words (sqlx's pool retries
//! "connection refused" and "too many connections" until its timeout and
//! then says only "pool timed out"); on it, how many more connections the
//! role, the database and the server allow; then a pool of as many as the
//! work needs and the limits allow.

use std::time::Duration;

use sea_orm::sqlx::mysql::{MySqlConnectOptions, MySqlConnection};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _, Row as _};
use sea_orm::{ConnectionTrait as _, DatabaseConnection, DbBackend};

use super::{Connection, DatabaseTarget, failure};
use crate::cli::error::CliError;
use crate::cli::nodelay;

/// An opened database, and what the seeder had to settle for.
pub struct Opened {
    pub db: DatabaseConnection,
    /// Set when the limits allow fewer connections than asked for: says
    /// which limit, and what the run does instead.
    pub note: Option<String>,
}

/// How many more connections may be opened, and which limit says so.
struct Room {
    free: u32,
    limit: String,
}

/// How long a connection limit reached is tried again: a connection just
/// closed may still count on the server for a moment (MySQL's "too many
/// connections" is not retried by sqlx's pool; PostgreSQL's is).
const LIMIT_GRACE: Duration = Duration::from_secs(2);

/// How long closing the first connection may take.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);

impl DatabaseTarget {
    /// Opens the database for a run that writes, on one connection.
    pub async fn connect(&self, timeout: Duration) -> Result<DatabaseConnection, CliError> {
        let want = Want {
            connections: 1,
            jobs: None,
        };
        Ok(self.open(self.connection.clone(), timeout, want).await?.db)
    }

    /// Opens the database for a run that writes with `jobs` transactions
    /// at once and then verifies: a connection each, and a second one for
    /// the verification where one job would leave it with one; fewer where
    /// the limits leave fewer free (one at least: it just connected).
    pub async fn connect_for_jobs(&self, timeout: Duration, jobs: u16) -> Result<Opened, CliError> {
        if jobs > 1 && self.backend == DbBackend::Sqlite {
            return Err(CliError::JobsOnSqlite { jobs });
        }
        let jobs = u32::from(jobs.max(1));
        let want = Want {
            connections: jobs.max(READ_AT_ONCE),
            jobs: Some(jobs),
        };
        self.open(self.connection.clone(), timeout, want).await
    }

    /// Opens the database for reading only, on one connection. A SQLite
    /// file is opened read-only and never created: `None` when it does
    /// not exist.
    pub async fn connect_read_only(
        &self,
        timeout: Duration,
    ) -> Result<Option<DatabaseConnection>, CliError> {
        self.reading(timeout, 1).await
    }

    /// As [`Self::connect_read_only`], for a verification: two connections
    /// where the limits leave them free, to check two tenants at once
    /// (one otherwise, without a word: reading needs only one).
    pub async fn connect_for_verifying(
        &self,
        timeout: Duration,
    ) -> Result<Option<DatabaseConnection>, CliError> {
        self.reading(timeout, READ_AT_ONCE).await
    }

    async fn reading(
        &self,
        timeout: Duration,
        at_once: u32,
    ) -> Result<Option<DatabaseConnection>, CliError> {
        let connection = match &self.connection {
            Connection::Sqlite(options) => {
                if self.sqlite_file.as_ref().is_some_and(|f| !f.exists()) {
                    return Ok(None);
                }
                Connection::Sqlite(options.clone().read_only(true).create_if_missing(false))
            }
            other => other.clone(),
        };
        let want = Want {
            connections: at_once,
            jobs: None,
        };
        Ok(Some(self.open(connection, timeout, want).await?.db))
    }

    async fn open(
        &self,
        connection: Connection,
        timeout: Duration,
        want: Want,
    ) -> Result<Opened, CliError> {
        let timeout = self.connect_timeout.unwrap_or(timeout);
        // Every connection's handshake without Nagle stalls (see `nodelay`).
        let _nodelay = nodelay::Watch::start();
        let opened = match connection {
            Connection::Postgres(options) => self.open_pg(options, timeout, want).await,
            Connection::MySql(options) => self.open_mysql(options, timeout, want).await,
            Connection::Sqlite(options) => self.open_sqlite(options, timeout).await,
        }?;
        // Every connection of the pool is opened now, all at once, rather
        // than one after another as the run first needs them: each costs
        // round trips (with TLS, sqlx 0.9.0 adds a ~40 ms Nagle stall to
        // the handshake), and a run uses every one of them.
        let size = opened.db.get_database_backend();
        let connections = match size {
            DbBackend::Sqlite => 1,
            _ => pool_size(&opened.db),
        };
        let started = std::time::Instant::now();
        let warm = async {
            loop {
                let all = futures_util::future::try_join_all(
                    (0..connections).map(|_| opened.db.execute_unprepared("SELECT 1")),
                )
                .await;
                match all {
                    // The first connection, just closed, may still count.
                    Err(e)
                        if failure::over_limit_text(&e.to_string())
                            && started.elapsed() < LIMIT_GRACE =>
                    {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    other => return other,
                }
            }
        };
        match tokio::time::timeout(timeout + Duration::from_secs(1), warm).await {
            Ok(Ok(_)) => Ok(opened),
            Ok(Err(e)) => Err(self.failed(&failure::with_hint(
                seeder::driver_message(&e).unwrap_or_else(|| e.to_string()),
            ))),
            Err(_) => Err(self.failed(&format!(
                "no connection could be opened within {} s (is the server overloaded?)",
                timeout.as_secs()
            ))),
        }
    }

    async fn open_pg(
        &self,
        options: PgConnectOptions,
        timeout: Duration,
        want: Want,
    ) -> Result<Opened, CliError> {
        let options = options.disable_statement_logging();
        let server = server_of_pg(&options);
        let mut first = self
            .first_connection(timeout, &server, || PgConnection::connect_with(&options))
            .await?;
        let room = if want.connections > 1 {
            pg_room(&mut first, &options).await
        } else {
            None
        };
        let _ = tokio::time::timeout(CLOSE_LIMIT, first.close()).await;
        let (size, note) = fit(want, room);
        Ok(Opened {
            db: DatabaseConnection::from(server_pool::<sqlx::Postgres>(options, size, timeout)),
            note,
        })
    }

    async fn open_mysql(
        &self,
        options: MySqlConnectOptions,
        timeout: Duration,
        want: Want,
    ) -> Result<Opened, CliError> {
        let options = options.disable_statement_logging();
        let server = match options.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => host_port(options.get_host(), options.get_port()),
        };
        let mut first = self
            .first_connection(timeout, &server, || MySqlConnection::connect_with(&options))
            .await?;
        let room = if want.connections > 1 {
            mysql_room(&mut first).await
        } else {
            None
        };
        let _ = tokio::time::timeout(CLOSE_LIMIT, first.close()).await;
        let (size, note) = fit(want, room);
        Ok(Opened {
            db: DatabaseConnection::from(server_pool::<sqlx::MySql>(options, size, timeout)),
            note,
        })
    }

    /// SQLite: one connection (one writer at a time anyway), opened now;
    /// its errors come at once. The busy timeout is how long to wait for
    /// another process's lock on the file.
    async fn open_sqlite(
        &self,
        options: SqliteConnectOptions,
        timeout: Duration,
    ) -> Result<Opened, CliError> {
        let options = options.busy_timeout(timeout).disable_statement_logging();
        let connect = SqlitePoolOptions::new()
            // No sqlx maintenance task: it could spin for ever (see
            // `seeder::without_pool_maintenance`).
            .idle_timeout(None)
            .max_lifetime(None)
            .max_connections(1)
            .acquire_timeout(timeout)
            .connect_with(options);
        match tokio::time::timeout(timeout + Duration::from_secs(1), connect).await {
            Ok(Ok(pool)) => Ok(Opened {
                db: DatabaseConnection::from(pool),
                note: None,
            }),
            Ok(Err(e)) => Err(self.failed(&failure::describe(&e, &self.display))),
            Err(_) => Err(self.failed(&format!(
                "the file could not be opened within {} s",
                timeout.as_secs()
            ))),
        }
    }

    /// Opens a first connection, bounded by `timeout`.
    ///
    /// A connection limit reached is tried again for up to
    /// [`LIMIT_GRACE`]: the server may still count a connection that was
    /// just closed (this run's own, or a previous run's).
    async fn first_connection<C, F>(
        &self,
        timeout: Duration,
        server: &str,
        connect: impl Fn() -> F,
    ) -> Result<C, CliError>
    where
        F: Future<Output = Result<C, sqlx::Error>>,
    {
        let started = std::time::Instant::now();
        let attempt = async {
            loop {
                match connect().await {
                    Err(e) if failure::over_limit(&e) && started.elapsed() < LIMIT_GRACE => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    other => return other,
                }
            }
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(self.failed(&failure::describe(&e, server))),
            Err(_) => Err(self.failed(&format!(
                "{server} did not answer within {} s (is the host reachable, and is a \
                 firewall dropping packets?)",
                timeout.as_secs()
            ))),
        }
    }

    fn failed(&self, reason: &str) -> CliError {
        CliError::Connect {
            target: self.display.clone(),
            reason: self.secrets.scrub(reason),
        }
    }
}

/// A pool of at most `size` connections to a server, opened as they are
/// first used, each with TCP_NODELAY (see `nodelay`), and without sqlx's
/// maintenance task, which could spin for ever (see
/// `seeder::without_pool_maintenance`).
fn server_pool<DB: sqlx::Database>(
    options: <DB::Connection as sqlx::Connection>::Options,
    size: u32,
    timeout: Duration,
) -> sqlx::Pool<DB> {
    sqlx::pool::PoolOptions::<DB>::new()
        .idle_timeout(None)
        .max_lifetime(None)
        .max_connections(size)
        .acquire_timeout(timeout)
        .after_connect(|_, _| {
            Box::pin(async {
                nodelay::set_on_process_sockets();
                Ok(())
            })
        })
        .connect_lazy_with(options)
}

fn pool_size(db: &DatabaseConnection) -> u32 {
    use sea_orm::DatabaseConnectionType as Kind;
    match &db.inner {
        Kind::SqlxPostgresPoolConnection(_) => db
            .get_postgres_connection_pool()
            .options()
            .get_max_connections(),
        Kind::SqlxMySqlPoolConnection(_) => db
            .get_mysql_connection_pool()
            .options()
            .get_max_connections(),
        _ => 1,
    }
}

/// How many connections a run asks for.
#[derive(Clone, Copy)]
struct Want {
    /// The most it can use.
    connections: u32,
    /// Tenant transactions at once the user asked for (`--jobs`): fewer is
    /// said in a note. Reading says nothing: it needs only one.
    jobs: Option<u32>,
}

/// Connections that let a verification check two tenants at once (the
/// library's `TENANTS_AT_ONCE`): 1.7 times as fast as one on 10 tenants.
const READ_AT_ONCE: u32 = 2;

/// The pool's size for `want` within `room`, and a note when that is fewer
/// jobs than asked for.
fn fit(want: Want, room: Option<Room>) -> (u32, Option<String>) {
    let Some(room) = room else {
        return (want.connections, None);
    };
    // Connections beyond the jobs (for verifying) only where one more stays
    // free, for the migrations' own connection.
    let size = if room.free > want.connections {
        want.connections
    } else {
        want.jobs.unwrap_or(want.connections).min(room.free).max(1)
    };
    let note = want.jobs.filter(|jobs| size < *jobs).map(|jobs| {
        format!(
            "{}: running {size} tenant transaction{} at once instead of {jobs}",
            room.limit,
            if size == 1 { "" } else { "s" }
        )
    });
    (size, note)
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn server_of_pg(options: &PgConnectOptions) -> String {
    match options.get_socket() {
        Some(dir) => dir
            .join(format!(".s.PGSQL.{}", options.get_port()))
            .display()
            .to_string(),
        None => host_port(options.get_host(), options.get_port()),
    }
}

/// PostgreSQL's limits as they apply to this session's role: the role's
/// and the database's CONNECTION LIMIT (not for superusers), and
/// max_connections less the reserved slots. `None` when unknown, or when
/// the connection goes through a pooler (the server's port is not the one
/// connected to), whose own limits these are not.
async fn pg_room(conn: &mut PgConnection, options: &PgConnectOptions) -> Option<Room> {
    // Simple protocol (no prepared statement), as through PgBouncer.
    let row = sqlx::raw_sql(
        "SELECT r.rolname::text AS role, r.rolsuper::int4::int8 AS superuser, \
         r.rolconnlimit::int8 AS role_limit, \
         (SELECT count(*) FROM pg_stat_activity a WHERE a.usename = r.rolname)::int8 AS role_used, \
         d.datname::text AS db, d.datconnlimit::int8 AS db_limit, \
         (SELECT count(*) FROM pg_stat_activity a WHERE a.datname = d.datname)::int8 AS db_used, \
         (current_setting('max_connections')::int8 \
           - current_setting('superuser_reserved_connections')::int8 \
           - coalesce(nullif(current_setting('reserved_connections', true), ''), '0')::int8) \
           AS server_limit, \
         (SELECT count(*) FROM pg_stat_activity a WHERE a.backend_type = 'client backend')::int8 \
           AS server_used, \
         coalesce(inet_server_port(), 0)::int8 AS port \
         FROM pg_roles r, pg_database d \
         WHERE r.rolname = current_user AND d.datname = current_database()",
    )
    .fetch_optional(&mut *conn)
    .await
    .ok()??;
    let int = |name: &str| row.try_get::<i64, _>(name).ok();
    let port = int("port")?;
    if options.get_socket().is_none() && port != 0 && port != i64::from(options.get_port()) {
        return None;
    }
    let superuser = int("superuser")? != 0;
    let role: String = row.try_get("role").ok()?;
    let db: String = row.try_get("db").ok()?;
    // Each count includes this connection, which is closed before the
    // pool opens.
    let mut limits = Vec::new();
    let (role_limit, db_limit) = (int("role_limit")?, int("db_limit")?);
    if !superuser && role_limit >= 0 {
        limits.push(Limit {
            allowed: role_limit,
            others: int("role_used")? - 1,
            what: format!(
                "role {role} may open {role_limit} connection{} (CONNECTION LIMIT)",
                plural(role_limit)
            ),
        });
    }
    if !superuser && db_limit >= 0 {
        limits.push(Limit {
            allowed: db_limit,
            others: int("db_used")? - 1,
            what: format!(
                "database {db} admits {db_limit} connection{} (CONNECTION LIMIT)",
                plural(db_limit)
            ),
        });
    }
    let server_limit = int("server_limit")?;
    limits.push(Limit {
        allowed: server_limit,
        others: int("server_used")? - 1,
        what: format!(
            "the server admits {server_limit} connections (max_connections less the reserved \
             ones)"
        ),
    });
    tightest(limits)
}

/// One limit on connections, as read on the first connection.
struct Limit {
    allowed: i64,
    /// Connections counted against it besides the seeder's first one.
    others: i64,
    what: String,
}

fn tightest(limits: Vec<Limit>) -> Option<Room> {
    let limit = limits
        .into_iter()
        .min_by_key(|l| l.allowed - l.others.max(0))?;
    let others = limit.others.max(0);
    let free = limit.allowed - others;
    let mut text = limit.what;
    if others > 0 {
        text.push_str(&format!(", {others} of them in use by other sessions"));
    }
    Some(Room {
        free: u32::try_from(free.max(0)).unwrap_or(u32::MAX),
        limit: text,
    })
}

/// MySQL/MariaDB: the account's max_user_connections (the session's value
/// is the account's own limit where one is set) and max_connections.
async fn mysql_room(conn: &mut MySqlConnection) -> Option<Room> {
    let row = sqlx::raw_sql(
        "SELECT CAST(@@max_user_connections AS SIGNED) AS user_limit, \
         CAST(@@max_connections AS SIGNED) AS server_limit, \
         CAST((SELECT COUNT(*) FROM information_schema.PROCESSLIST \
           WHERE USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1)) AS SIGNED) AS user_used, \
         CAST((SELECT COUNT(*) FROM information_schema.PROCESSLIST) AS SIGNED) AS server_used, \
         CURRENT_USER() AS account",
    )
    .fetch_optional(&mut *conn)
    .await
    .ok()??;
    let int = |name: &str| row.try_get::<i64, _>(name).ok();
    let account: String = row.try_get("account").ok()?;
    let mut limits = Vec::new();
    let user_limit = int("user_limit")?;
    if user_limit > 0 {
        limits.push(Limit {
            allowed: user_limit,
            others: int("user_used")? - 1,
            what: format!(
                "account {account} may open {user_limit} connection{} (max_user_connections)",
                plural(user_limit)
            ),
        });
    }
    let server_limit = int("server_limit")?;
    limits.push(Limit {
        allowed: server_limit,
        others: int("server_used")? - 1,
        what: format!("the server admits {server_limit} connections (max_connections)"),
    });
    tightest(limits)
}

fn plural(n: i64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_fits_the_room_left() {
        let room = |free| {
            Some(Room {
                free,
                limit: "role app may open 2 connections (CONNECTION LIMIT)".to_owned(),
            })
        };
        let jobs = |n: u32| Want {
            connections: n.max(READ_AT_ONCE),
            jobs: Some(n),
        };
        assert_eq!(fit(jobs(4), None), (4, None));
        assert_eq!(fit(jobs(4), room(9)), (4, None));
        assert_eq!(fit(jobs(1), room(9)), (2, None), "a second for verifying");
        assert_eq!(fit(jobs(1), room(2)), (1, None), "one left for migrations");
        assert_eq!(fit(jobs(1), room(1)), (1, None), "one job fits in one");
        let (size, note) = fit(jobs(4), room(2));
        assert_eq!(size, 2);
        assert_eq!(
            note.as_deref(),
            Some(
                "role app may open 2 connections (CONNECTION LIMIT): running 2 tenant \
                 transactions at once instead of 4"
            )
        );
        assert_eq!(
            fit(jobs(3), room(0)).0,
            1,
            "one connection at least: it just worked"
        );
        let read = Want {
            connections: READ_AT_ONCE,
            jobs: None,
        };
        assert_eq!(fit(read, room(1)), (1, None), "reading says nothing");
    }
}
