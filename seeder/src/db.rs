//! Which database to open, opening it, and bringing its schema up to date.

use std::path::{Path, PathBuf};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, IsolationLevel, Statement, TransactionOptions, TransactionTrait,
};
use url::Url;

use crate::error::{SeedError, scrub, with_hint};
use crate::interrupt::{Interrupt, Phase};

/// File used when no database is named.
pub const DEFAULT_SQLITE_FILE: &str = "ota-seed.sqlite";

/// A database named by URL (or the default SQLite file).
#[derive(Debug, Clone)]
pub struct DatabaseTarget {
    url: String,
    /// The URL with any password replaced by `***`: the only form printed.
    pub display: String,
    pub backend: DbBackend,
    password: Option<String>,
    /// The SQLite file, when the target is one.
    pub sqlite_file: Option<PathBuf>,
    /// Whether the database is on this machine (see [`on_this_machine`]).
    pub local: bool,
}

impl DatabaseTarget {
    /// The embedded SQLite file `ota-seed.sqlite` in `dir`.
    pub fn default_sqlite(dir: &Path) -> DatabaseTarget {
        let path = dir.join(DEFAULT_SQLITE_FILE);
        DatabaseTarget {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            display: path.display().to_string(),
            backend: DbBackend::Sqlite,
            password: None,
            sqlite_file: Some(path),
            local: true,
        }
    }

    pub fn parse(raw: &str) -> Result<DatabaseTarget, SeedError> {
        let parsed = Url::parse(raw).map_err(|e| SeedError::BadUrl {
            url: redact_unparsed(raw),
            reason: format!("{e} (expected e.g. postgres://user@localhost/db, mysql://root@localhost/db or sqlite://path/to/file.sqlite)"),
        })?;
        let (display, password) = redacted(&parsed);
        let backend = match parsed.scheme() {
            "postgres" | "postgresql" => DbBackend::Postgres,
            "mysql" | "mariadb" => DbBackend::MySql,
            "sqlite" => DbBackend::Sqlite,
            other => {
                return Err(SeedError::BadUrl {
                    url: display,
                    reason: format!(
                        "unsupported scheme {other:?}; use postgres://, mysql:// or sqlite://"
                    ),
                });
            }
        };
        let mut url = raw.to_owned();
        if parsed.scheme() == "mariadb" {
            url = format!("mysql{}", &raw["mariadb".len()..]);
        }
        let sqlite_file = (backend == DbBackend::Sqlite).then(|| {
            let rest = raw.trim_start_matches("sqlite:").trim_start_matches("//");
            let path = rest.split('?').next().unwrap_or(rest);
            // The driver decodes %-escapes in the file name; so must we.
            PathBuf::from(
                percent_encoding::percent_decode_str(path)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        });
        let local = match backend {
            DbBackend::Sqlite => true,
            _ => on_this_machine(backend, &url).map_err(|reason| SeedError::BadUrl {
                url: display.clone(),
                reason: scrub(&reason, password.as_deref()),
            })?,
        };
        Ok(DatabaseTarget {
            url,
            display,
            backend,
            password,
            local,
            sqlite_file,
        })
    }

    /// The password, to scrub from any message that might echo it.
    pub fn secret(&self) -> Option<&str> {
        self.password.as_deref()
    }

    pub async fn connect(&self, timeout: Duration) -> Result<DatabaseConnection, SeedError> {
        self.connect_pool(&self.url, timeout, 2).await
    }

    /// Opens the database for reading only. A SQLite file is opened
    /// read-only and never created: `None` when it does not exist.
    pub async fn connect_read_only(
        &self,
        timeout: Duration,
    ) -> Result<Option<DatabaseConnection>, SeedError> {
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
    pub async fn connect_session(
        &self,
        timeout: Duration,
    ) -> Result<DatabaseConnection, SeedError> {
        self.connect_pool(&self.url, timeout, 1).await
    }

    async fn connect_pool(
        &self,
        url: &str,
        timeout: Duration,
        size: u32,
    ) -> Result<DatabaseConnection, SeedError> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .connect_timeout(timeout)
            .acquire_timeout(timeout)
            .sqlx_logging(false)
            // How long to wait for another process's lock on a SQLite file.
            .map_sqlx_sqlite_opts(move |o| o.busy_timeout(timeout));
        // SQLite: one writer at a time is all it allows; a single connection
        // makes that explicit and keeps IMMEDIATE transactions simple.
        options.max_connections(if self.backend == DbBackend::Sqlite {
            1
        } else {
            size
        });
        let connect = Database::connect(options);
        let db = match tokio::time::timeout(timeout + Duration::from_secs(1), connect).await {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => return Err(self.connect_error(&e.to_string())),
            Err(_) => {
                return Err(self.connect_error(&format!(
                    "no answer within {} s (is the server running and reachable?)",
                    timeout.as_secs()
                )));
            }
        };
        // A pool connects lazily on some backends: make sure one answers now.
        if let Err(e) = db.execute_unprepared("SELECT 1").await {
            return Err(self.connect_error(&e.to_string()));
        }
        Ok(db)
    }

    fn connect_error(&self, reason: &str) -> SeedError {
        SeedError::Connect {
            target: self.display.clone(),
            reason: with_hint(scrub(reason, self.secret())),
        }
    }
}

/// The URL as it may be shown, with every password replaced by `***`
/// (in the user-info part and in a `password=` parameter, which the
/// PostgreSQL driver accepts too), and the password to scrub from messages.
fn redacted(url: &Url) -> (String, Option<String>) {
    let decode = |p: &str| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut password = url.password().map(decode);
    let mut shown = url.clone();
    if url.password().is_some() {
        // Cannot fail for URLs that already carry a password.
        let _ = shown.set_password(Some("***"));
    }
    let is_secret = |k: &str| k.eq_ignore_ascii_case("password");
    if url.query_pairs().any(|(k, _)| is_secret(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                if is_secret(&k) {
                    password.get_or_insert_with(|| v.clone().into_owned());
                    (k.into_owned(), "***".to_owned())
                } else {
                    (k.into_owned(), v.into_owned())
                }
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    (shown.to_string(), password)
}

/// Whether the server the driver will actually reach is on this machine: a
/// Unix socket, or a loopback name or address. The URL is read by the
/// driver's own parser, so whatever it honours (query parameters such as
/// `host=` or `socket=`, and PostgreSQL's `PGHOST`/`PGHOSTADDR`, which a
/// `.env` file may set) is what is judged. Anything else, including this
/// machine's own name or LAN address, counts as remote: the guard errs on
/// the side of asking.
fn on_this_machine(backend: DbBackend, url: &str) -> Result<bool, String> {
    use sea_orm::sqlx::mysql::MySqlConnectOptions;
    use sea_orm::sqlx::postgres::PgConnectOptions;
    use std::str::FromStr as _;

    fn loopback(host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.starts_with('/')
            || host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
    match backend {
        DbBackend::Postgres => {
            let options = PgConnectOptions::from_str(url).map_err(|e| e.to_string())?;
            Ok(options.get_socket().is_some() || loopback(options.get_host()))
        }
        DbBackend::MySql => {
            let options = MySqlConnectOptions::from_str(url).map_err(|e| e.to_string())?;
            Ok(options.get_socket().is_some() || loopback(options.get_host()))
        }
        _ => Ok(true),
    }
}

/// Best-effort redaction of a URL that did not parse: drop `user:pass@`.
fn redact_unparsed(raw: &str) -> String {
    match (raw.find("://"), raw.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &raw[..scheme_end], &raw[at + 1..])
        }
        _ => raw.to_owned(),
    }
}

/// Scopes a transaction to one tenant for PostgreSQL's tenant-isolation
/// policies (`app.tenant_id`). `true` makes the setting transaction-local,
/// so a pooled connection never carries it into another tenant's work.
/// Elsewhere there is no row level security and nothing to set.
pub async fn scope_to_tenant(txn: &DatabaseTransaction, tenant_id: &str) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config('app.tenant_id', $1, true)",
            [tenant_id.into()],
        ))
        .await?;
    }
    Ok(())
}

/// A read-only transaction scoped to one tenant, reading one consistent
/// snapshot (REPEATABLE READ on PostgreSQL and MySQL; SQLite's read
/// transactions are snapshots already).
pub async fn begin_tenant_read(
    db: &DatabaseConnection,
    tenant_id: &str,
) -> Result<DatabaseTransaction, DbErr> {
    let server = db.get_database_backend() != DbBackend::Sqlite;
    let txn = db
        .begin_with_options(TransactionOptions {
            isolation_level: server.then_some(IsolationLevel::RepeatableRead),
            access_mode: server.then_some(AccessMode::ReadOnly),
            sqlite_transaction_mode: None,
        })
        .await?;
    scope_to_tenant(&txn, tenant_id).await?;
    Ok(txn)
}

/// Where the database's schema stands against the migrations we know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaState {
    pub applied: Vec<String>,
    pub pending: Vec<String>,
    pub unknown: Vec<String>,
}

pub async fn schema_state(db: &DatabaseConnection) -> Result<SchemaState, sea_orm::DbErr> {
    let known = migration::known_migration_names();
    let backend = db.get_database_backend();
    let manager = migration::SchemaManager::new(db);
    let applied: Vec<String> = if manager.has_table("seaql_migrations").await? {
        db.query_all_raw(Statement::from_string(
            backend,
            "SELECT version FROM seaql_migrations ORDER BY version",
        ))
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "version"))
        .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    let pending = known
        .iter()
        .filter(|k| !applied.contains(k))
        .cloned()
        .collect();
    let unknown = applied
        .iter()
        .filter(|a| !known.contains(a))
        .cloned()
        .collect();
    Ok(SchemaState {
        applied,
        pending,
        unknown,
    })
}

/// Applies pending migrations (or, with `migrate` false, insists there are
/// none). Refuses a schema migrated by a newer ota-seed either way.
///
/// Seeders started together on an empty database all find the schema
/// missing. On PostgreSQL and MySQL/MariaDB they take turns on a server-side
/// lock, held by a connection of its own that also runs the migrations; each
/// re-reads the history once it holds the lock, so the later ones find
/// nothing left to do. SQLite serialises writers itself.
pub async fn prepare_schema(
    db: &DatabaseConnection,
    target: &DatabaseTarget,
    migrate: bool,
    timeout: Duration,
    interrupt: &Interrupt,
) -> Result<usize, SeedError> {
    let state = usable_schema(db, target, migrate).await?;
    if state.pending.is_empty() {
        return Ok(0);
    }
    let (lock, unlock) = match target.backend {
        DbBackend::Postgres => (
            "SELECT pg_advisory_lock(7246101301)",
            "SELECT pg_advisory_unlock(7246101301)",
        ),
        DbBackend::MySql => (
            "SELECT GET_LOCK('ota_seed_migrations', 600)",
            "SELECT RELEASE_LOCK('ota_seed_migrations')",
        ),
        _ => return apply(db, target, interrupt).await,
    };
    let session = target.connect_session(timeout).await?;
    let locked = session
        .execute_unprepared(lock)
        .await
        .map_err(|e| SeedError::database("waiting for the migration lock", e, target.secret()));
    let applied = match locked {
        Ok(_) => apply(&session, target, interrupt).await,
        Err(e) => Err(e),
    };
    // Closing the session releases the lock too; unlocking first is tidier.
    let _ = session.execute_unprepared(unlock).await;
    let _ = session.close().await;
    applied
}

/// The schema's state, refused if a newer ota-seed migrated it, or if
/// migrations are pending and may not be applied (`migrate` false).
pub async fn usable_schema(
    db: &DatabaseConnection,
    target: &DatabaseTarget,
    migrate: bool,
) -> Result<SchemaState, SeedError> {
    let state = checked_state(db, target).await?;
    if !migrate && !state.pending.is_empty() {
        return Err(SeedError::SchemaMissing {
            target: target.display.clone(),
            pending: state.pending.len(),
            known: migration::known_migration_names().len(),
        });
    }
    Ok(state)
}

async fn checked_state(
    db: &DatabaseConnection,
    target: &DatabaseTarget,
) -> Result<SchemaState, SeedError> {
    let state = schema_state(db)
        .await
        .map_err(|e| SeedError::database("reading the migration history", e, target.secret()))?;
    if !state.unknown.is_empty() {
        return Err(SeedError::SchemaNewer {
            target: target.display.clone(),
            unknown: state.unknown.join(", "),
        });
    }
    Ok(state)
}

/// Applies what is still pending; returns how many migrations that was.
/// Signals wait for the migrations (see `interrupt`).
async fn apply(
    db: &DatabaseConnection,
    target: &DatabaseTarget,
    interrupt: &Interrupt,
) -> Result<usize, SeedError> {
    let pending = checked_state(db, target).await?.pending.len();
    if pending == 0 {
        return Ok(0);
    }
    let migrating = interrupt.enter(Phase::Migrating);
    let applied = Migrator::up(db, None).await;
    drop(migrating);
    let Err(error) = applied else {
        return Ok(pending);
    };
    // SQLite has no lock to wait on: a seeder started at the same moment may
    // be applying the same migrations. Give it time to finish; if it does,
    // the schema is complete and there is nothing to report.
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if checked_state(db, target)
            .await
            .is_ok_and(|s| s.pending.is_empty())
        {
            return Ok(0);
        }
    }
    Err(SeedError::database(
        "applying migrations",
        error,
        target.secret(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_displayed_url() {
        let t =
            DatabaseTarget::parse("postgres://app:s3cr%40t@db.local:5432/pulse").expect("valid");
        assert_eq!(t.display, "postgres://app:***@db.local:5432/pulse");
        assert_eq!(t.secret(), Some("s3cr@t"));
        assert_eq!(t.backend, DbBackend::Postgres);
    }

    #[test]
    fn unknown_schemes_and_garbage_are_refused_with_a_hint() {
        let err = DatabaseTarget::parse("oracle://u:pw@host/db")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unsupported scheme \"oracle\""), "{err}");
        assert!(!err.contains("pw@"), "{err}");
        let err = DatabaseTarget::parse("not a url").unwrap_err().to_string();
        assert!(err.contains("expected e.g. postgres://"), "{err}");
    }

    #[test]
    fn only_sockets_loopback_and_files_count_as_local() {
        for url in [
            "postgres://u@localhost/db",
            "postgres://u@127.0.0.1:5432/db",
            "postgres://u@127.0.0.2/db",
            "postgres://u@[::1]:5432/db",
            "postgres:///db?host=/var/run/postgresql",
            "postgres://%2Fvar%2Frun%2Fpostgresql/db",
            "mysql://root@LOCALHOST/db",
            "mysql://root@db.example.com/db?socket=/run/mysqld/mysqld.sock",
            "sqlite://x.sqlite",
        ] {
            assert!(DatabaseTarget::parse(url).expect(url).local, "{url}");
        }
        for url in [
            "postgres://u@db.example.com/db",
            "postgres://u@10.0.0.5/db",
            "postgres://u@localhost/db?host=db.example.com",
            "postgres://u@localhost.example.com/db",
            "mysql://root@192.168.1.20:3306/db",
            // Parameters a driver ignores do not make a remote host local.
            "postgres://u@db.example.com/db?socket=/tmp",
            "mysql://root@db.example.com/db?host=localhost",
        ] {
            assert!(!DatabaseTarget::parse(url).expect(url).local, "{url}");
        }
    }

    #[test]
    fn a_password_parameter_is_redacted_and_scrubbed() {
        let t =
            DatabaseTarget::parse("postgres://app@localhost/pulse?sslmode=require&password=s3cret")
                .expect("valid");
        assert_eq!(
            t.display,
            "postgres://app@localhost/pulse?sslmode=require&password=***"
        );
        assert_eq!(t.secret(), Some("s3cret"));
    }

    #[test]
    fn sqlite_file_names_are_percent_decoded() {
        let t = DatabaseTarget::parse("sqlite://my%20data.sqlite?mode=rwc").expect("valid");
        assert_eq!(t.sqlite_file, Some(PathBuf::from("my data.sqlite")));
    }

    #[test]
    fn sqlite_urls_name_their_file() {
        let t = DatabaseTarget::parse("sqlite://data/x.sqlite?mode=rwc").expect("valid");
        assert_eq!(t.sqlite_file, Some(PathBuf::from("data/x.sqlite")));
    }
}
