//! The seeder's handle on a caller's connection: SeaORM's pool for SQLite
//! and MySQL/MariaDB, the same pool taken as sqlx's for PostgreSQL (see
//! `txn` for why), and the settings every transaction gets.

use std::time::Duration;

use sea_orm::sqlx::Connection as _;
use sea_orm::sqlx::mysql::{MySqlConnection, MySqlPoolOptions};
use sea_orm::sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseConnectionType, DbBackend, DbErr, Statement,
};

use super::txn::Session;

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
            session.galera = session.mariadb && super::galera::is_node(conn).await?;
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
                first_connection(timeout, PgConnection::connect_with(&options)).await?;
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(timeout)
                    .connect_with(options)
                    .await
                    .map_err(conn_err)?;
                Ok(DatabaseConnection::from(pool))
            }
            DatabaseConnectionType::SqlxMySqlPoolConnection(_) => {
                let options = (*self.conn.get_mysql_connection_pool().connect_options()).clone();
                first_connection(timeout, MySqlConnection::connect_with(&options)).await?;
                let pool = MySqlPoolOptions::new()
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

/// Opens and closes one connection outside any pool, so that a refusal is
/// reported at once in the server's words: sqlx's pool retries "too many
/// connections" (a role's CONNECTION LIMIT) and a refused port until its
/// acquire timeout, then says only that it timed out.
async fn first_connection<C: sea_orm::sqlx::Connection>(
    timeout: Duration,
    connect: impl Future<Output = Result<C, sea_orm::sqlx::Error>>,
) -> Result<(), DbErr> {
    let conn_err = |e: sea_orm::sqlx::Error| DbErr::Conn(sea_orm::RuntimeErr::SqlxError(e.into()));
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(conn)) => {
            let _ = tokio::time::timeout(timeout, conn.close()).await;
            Ok(())
        }
        Ok(Err(e)) => Err(conn_err(e)),
        Err(_) => Err(conn_err(sea_orm::sqlx::Error::PoolTimedOut)),
    }
}
