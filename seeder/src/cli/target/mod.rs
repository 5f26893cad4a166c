//! Which database a run names: its connection string read as the database
//! clients read it (see `postgres`, `mysql`, `sqlite`), the form that may
//! be shown (credentials masked), whether it is on this machine (the
//! wrong-database guard), and opening it (`open`).

mod conninfo;
mod environment;
mod failure;
mod mysql;
mod open;
mod pgpass;
mod postgres;
mod secrets;
mod sqlite;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sea_orm::DbBackend;

use super::error::CliError;
pub use environment::Environment;
pub use secrets::Secrets;

/// File used when no database is named.
pub const DEFAULT_SQLITE_FILE: &str = "ota-seed.sqlite";

/// A database named by a connection string (or the default SQLite file).
#[derive(Debug, Clone)]
pub struct DatabaseTarget {
    /// The string with every credential masked: the only form printed.
    pub display: String,
    pub backend: DbBackend,
    secrets: Secrets,
    /// The SQLite file, when the target is one.
    pub sqlite_file: Option<PathBuf>,
    /// Whether the database is on this machine: a Unix socket, a loopback
    /// name or address, or a file. This machine's own name or LAN address
    /// counts as remote: the guard errs on the side of asking.
    pub local: bool,
    connection: Connection,
    /// A connect timeout the string itself sets (libpq's `connect_timeout`).
    connect_timeout: Option<Duration>,
}

#[derive(Debug, Clone)]
enum Connection {
    Postgres(sea_orm::sqlx::postgres::PgConnectOptions),
    MySql(sea_orm::sqlx::mysql::MySqlConnectOptions),
    Sqlite(sea_orm::sqlx::sqlite::SqliteConnectOptions),
}

impl DatabaseTarget {
    /// The embedded SQLite file `ota-seed.sqlite` in `dir`.
    pub fn default_sqlite(dir: &Path) -> DatabaseTarget {
        let path = dir.join(DEFAULT_SQLITE_FILE);
        let target = sqlite::file(&path);
        DatabaseTarget {
            display: path.display().to_string(),
            backend: DbBackend::Sqlite,
            secrets: Secrets::default(),
            sqlite_file: Some(path),
            local: true,
            connection: Connection::Sqlite(target.options),
            connect_timeout: None,
        }
    }

    /// Reads a connection string with this process's environment.
    pub fn parse(raw: &str) -> Result<DatabaseTarget, CliError> {
        DatabaseTarget::parse_in(raw, &Environment::of_process())
    }

    /// Reads a connection string: `postgres://`/`postgresql://`, a libpq
    /// `key=value` string, `mysql://`/`mariadb://`, or `sqlite:`. A string
    /// that cannot be what was meant is refused before any connection,
    /// without showing it (it may hold a password cut in two).
    pub fn parse_in(raw: &str, env: &Environment) -> Result<DatabaseTarget, CliError> {
        let raw = raw.trim();
        let refused = |reason: String| CliError::BadUrl { reason };
        let scheme = raw
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase())
            .or_else(|| raw.starts_with("sqlite:").then(|| "sqlite".to_owned()));
        match scheme.as_deref() {
            Some("postgres" | "postgresql") => Self::postgres(raw, env),
            None if looks_like_keyword_value(raw) => Self::postgres(raw, env),
            Some("mysql" | "mariadb") => {
                let t = mysql::parse(raw, env).map_err(refused)?;
                Ok(DatabaseTarget {
                    display: t.display,
                    backend: DbBackend::MySql,
                    secrets: t.secrets,
                    sqlite_file: None,
                    local: t.local,
                    connection: Connection::MySql(t.options),
                    connect_timeout: None,
                })
            }
            Some("sqlite") => {
                let t = sqlite::parse(raw).map_err(refused)?;
                Ok(DatabaseTarget {
                    display: raw.to_owned(),
                    backend: DbBackend::Sqlite,
                    secrets: Secrets::default(),
                    sqlite_file: t.file,
                    local: true,
                    connection: Connection::Sqlite(t.options),
                    connect_timeout: None,
                })
            }
            Some(other)
                if other.len() <= 20 && other.bytes().all(|b| b.is_ascii_alphanumeric()) =>
            {
                Err(refused(format!(
                    "unsupported scheme {other:?}; use postgres://, mysql:// or sqlite://"
                )))
            }
            _ => Err(refused(
                "expected a URL such as postgres://user@localhost/db, mysql://root@localhost/db \
                 or sqlite://path/to/file.sqlite, or a libpq string such as \
                 \"host=localhost dbname=db\""
                    .to_owned(),
            )),
        }
    }

    fn postgres(raw: &str, env: &Environment) -> Result<DatabaseTarget, CliError> {
        let t = postgres::parse(raw, env).map_err(|reason| CliError::BadUrl { reason })?;
        Ok(DatabaseTarget {
            display: t.display,
            backend: DbBackend::Postgres,
            secrets: t.secrets,
            sqlite_file: None,
            local: t.local,
            connection: Connection::Postgres(t.options),
            connect_timeout: t.connect_timeout,
        })
    }

    /// The credentials to remove from any message that might echo them.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }
}

/// libpq's `key=value` form: a first word that is a name followed by `=`.
fn looks_like_keyword_value(raw: &str) -> bool {
    raw.split_once('=').is_some_and(|(key, _)| {
        let key = key.trim();
        !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
