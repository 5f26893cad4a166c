//! Opening a database: a SeaORM pool for SQLite and MySQL/MariaDB, a sqlx
//! pool of our own for PostgreSQL (see `txn` for why).

use std::str::FromStr as _;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sea_orm::sqlx::{self, AssertSqlSafe};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};

use super::target::DatabaseTarget;
use super::txn::Session;
use crate::error::{SeedError, scrub, with_hint};

/// An open database: its connections and the settings each of the run's
/// transactions gets (see [`Db::begin`]).
pub struct Db {
    pub(super) backend: DbBackend,
    pub(super) pool: Pool,
    pub(super) session: Session,
}

pub(super) enum Pool {
    Orm(DatabaseConnection),
    Pg(PgPool),
}

impl Db {
    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Statements, lock waits and idle moments of the run's transactions
    /// end after `timeout` (`None`: never), whatever the role or database
    /// default says.
    pub fn set_statement_timeout(&mut self, timeout: Option<Duration>) {
        self.session.statement_timeout = timeout;
    }

    /// The PostgreSQL schema the run works in, once located.
    pub fn pg_schema(&self) -> Option<&str> {
        self.session.pg_schema.as_deref()
    }

    /// SeaORM's connection (SQLite and MySQL/MariaDB only).
    pub(super) fn orm(&self) -> Option<&DatabaseConnection> {
        match &self.pool {
            Pool::Orm(db) => Some(db),
            Pool::Pg(_) => None,
        }
    }

    /// An empty in-memory SQLite database, standing in for a SQLite file
    /// that does not exist yet (a dry run creates nothing).
    pub async fn empty_sqlite() -> Result<Db, SeedError> {
        let db = Database::connect("sqlite::memory:")
            .await
            .map_err(|e| SeedError::Connect {
                target: "sqlite::memory:".to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Db {
            backend: DbBackend::Sqlite,
            pool: Pool::Orm(db),
            session: Session::default(),
        })
    }

    pub async fn close(self) {
        match self.pool {
            Pool::Orm(db) => {
                let _ = db.close().await;
            }
            Pool::Pg(pool) => pool.close().await,
        }
    }
}

impl DatabaseTarget {
    pub async fn connect(&self, timeout: Duration) -> Result<Db, SeedError> {
        self.connect_pool(&self.url, timeout, 2).await
    }

    /// Opens the database for reading only. A SQLite file is opened
    /// read-only and never created: `None` when it does not exist.
    pub async fn connect_read_only(&self, timeout: Duration) -> Result<Option<Db>, SeedError> {
        let Some(file) = &self.sqlite_file else {
            return self.connect(timeout).await.map(Some);
        };
        if !file.exists() {
            return Ok(None);
        }
        let url = format!("sqlite://{}?mode=ro", file.display());
        self.connect_pool(&url, timeout, 1).await.map(Some)
    }

    /// A pool of exactly one connection: one server session, for session
    /// locks that must cover every statement run through it.
    pub async fn connect_session(&self, timeout: Duration) -> Result<Db, SeedError> {
        self.connect_pool(&self.url, timeout, 1).await
    }

    async fn connect_pool(&self, url: &str, timeout: Duration, size: u32) -> Result<Db, SeedError> {
        let pool = match tokio::time::timeout(
            timeout + Duration::from_secs(1),
            self.open(url, timeout, size),
        )
        .await
        {
            Ok(Ok(pool)) => pool,
            Ok(Err(reason)) => return Err(self.connect_error(&reason)),
            Err(_) => {
                return Err(self.connect_error(&format!(
                    "no answer within {} s (is the server running and reachable?)",
                    timeout.as_secs()
                )));
            }
        };
        let mut session = Session::default();
        if let Pool::Orm(db) = &pool
            && self.backend == DbBackend::MySql
        {
            let version = db
                .query_one_raw(Statement::from_string(
                    DbBackend::MySql,
                    "SELECT VERSION() AS v",
                ))
                .await
                .map_err(|e| self.connect_error(&e.to_string()))?
                .map(|row| row.try_get::<String>("", "v"))
                .transpose()
                .map_err(|e| self.connect_error(&e.to_string()))?;
            session.mariadb = version.is_some_and(|v| v.contains("MariaDB"));
        }
        Ok(Db {
            backend: self.backend,
            pool,
            session,
        })
    }

    /// SeaORM's own connection to a PostgreSQL database, one server
    /// session, for its migrator (see `schema::migrate_pg` for how it stays
    /// safe behind a transaction pooler).
    pub(super) async fn connect_orm_session(
        &self,
        timeout: Duration,
    ) -> Result<DatabaseConnection, SeedError> {
        match self.open_orm(&self.url, timeout, 1).await {
            Ok(Pool::Orm(db)) => Ok(db),
            Ok(Pool::Pg(_)) => Err(self.connect_error("expected a SeaORM connection")),
            Err(reason) => Err(self.connect_error(&reason)),
        }
    }

    /// Opens the pool and makes sure one connection answers now (pools
    /// connect lazily on some backends).
    async fn open(&self, url: &str, timeout: Duration, size: u32) -> Result<Pool, String> {
        if self.backend == DbBackend::Postgres {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| e.to_string())?
                // sqlx sends extra_float_digits at startup, which PgBouncer
                // refuses unless told to ignore it; values come back in
                // binary, where the setting plays no part.
                .extra_float_digits(None)
                .application_name("ota-seed");
            let pool = PgPoolOptions::new()
                .max_connections(size)
                .acquire_timeout(timeout)
                .connect_with(options)
                .await
                .map_err(|e| e.to_string())?;
            sqlx::raw_sql(AssertSqlSafe("SELECT 1"))
                .execute(&pool)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(Pool::Pg(pool));
        }
        self.open_orm(url, timeout, size).await
    }

    async fn open_orm(&self, url: &str, timeout: Duration, size: u32) -> Result<Pool, String> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .connect_timeout(timeout)
            .acquire_timeout(timeout)
            .sqlx_logging(false)
            // See `open` on PgBouncer and extra_float_digits.
            .map_sqlx_postgres_opts(|o| o.extra_float_digits(None).application_name("ota-seed"))
            // How long to wait for another process's lock on a SQLite file.
            .map_sqlx_sqlite_opts(move |o| o.busy_timeout(timeout));
        // SQLite: one writer at a time is all it allows; a single connection
        // makes that explicit and keeps IMMEDIATE transactions simple.
        options.max_connections(if self.backend == DbBackend::Sqlite {
            1
        } else {
            size
        });
        let db = Database::connect(options)
            .await
            .map_err(|e| e.to_string())?;
        db.execute_unprepared("SELECT 1")
            .await
            .map_err(|e| e.to_string())?;
        Ok(Pool::Orm(db))
    }

    fn connect_error(&self, reason: &str) -> SeedError {
        SeedError::Connect {
            target: self.display.clone(),
            reason: with_hint(scrub(reason, self.secret())),
        }
    }
}
