//! Which database a run names: its URL (parsed, redacted for display),
//! whether it is on this machine (the wrong-database guard), and opening
//! it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use url::Url;

use super::error::{CliError, scrub};
use super::nodelay;

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

    pub fn parse(raw: &str) -> Result<DatabaseTarget, CliError> {
        let parsed = Url::parse(raw).map_err(|e| CliError::BadUrl {
            url: redact_unparsed(raw),
            reason: format!("{e} (expected e.g. postgres://user@localhost/db, mysql://root@localhost/db or sqlite://path/to/file.sqlite)"),
        })?;
        let (display, password) = redacted(&parsed);
        let backend = match parsed.scheme() {
            "postgres" | "postgresql" => DbBackend::Postgres,
            "mysql" | "mariadb" => DbBackend::MySql,
            "sqlite" => DbBackend::Sqlite,
            other => {
                return Err(CliError::BadUrl {
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
            _ => on_this_machine(backend, &url).map_err(|reason| CliError::BadUrl {
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

impl DatabaseTarget {
    /// Opens the database for a run that writes.
    pub async fn connect(&self, timeout: Duration) -> Result<DatabaseConnection, CliError> {
        self.open(&self.url, timeout, 1).await
    }

    /// Opens the database for a run that writes with `jobs` transactions at
    /// once (a connection each, and one to spare).
    pub async fn connect_for_jobs(
        &self,
        timeout: Duration,
        jobs: u16,
    ) -> Result<DatabaseConnection, CliError> {
        if jobs > 1 && self.backend == DbBackend::Sqlite {
            return Err(CliError::JobsOnSqlite { jobs });
        }
        self.open(&self.url, timeout, u32::from(jobs)).await
    }

    /// Opens the database for reading only. A SQLite file is opened
    /// read-only and never created: `None` when it does not exist.
    pub async fn connect_read_only(
        &self,
        timeout: Duration,
    ) -> Result<Option<DatabaseConnection>, CliError> {
        let Some(file) = &self.sqlite_file else {
            return self.connect(timeout).await.map(Some);
        };
        if !file.exists() {
            return Ok(None);
        }
        let url = format!("sqlite://{}?mode=ro", file.display());
        self.open(&url, timeout, 1).await.map(Some)
    }

    /// Opens a pool and all of its connections at once, each answering
    /// one query before the run starts (see the comment on
    /// `connect_lazy` below).
    async fn open(
        &self,
        url: &str,
        timeout: Duration,
        jobs: u32,
    ) -> Result<DatabaseConnection, CliError> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .connect_timeout(timeout)
            .acquire_timeout(timeout)
            .sqlx_logging(false)
            // sqlx sends extra_float_digits at startup, which PgBouncer
            // refuses unless told to ignore it; values come back in binary,
            // where the setting plays no part.
            .map_sqlx_postgres_opts(|o| o.extra_float_digits(None).application_name("ota-seed"))
            // How long to wait for another process's lock on a SQLite file.
            .map_sqlx_sqlite_opts(move |o| o.busy_timeout(timeout))
            // Every connection the pool opens gets TCP_NODELAY (see
            // `nodelay` for why sqlx does not set it).
            .map_sqlx_postgres_pool_opts(|o| {
                o.after_connect(|_, _| {
                    Box::pin(async {
                        nodelay::set_on_process_sockets();
                        Ok(())
                    })
                })
            })
            .map_sqlx_mysql_pool_opts(|o| {
                o.after_connect(|_, _| {
                    Box::pin(async {
                        nodelay::set_on_process_sockets();
                        Ok(())
                    })
                })
            });
        // SQLite allows one writer at a time; a single connection makes that
        // explicit and keeps IMMEDIATE transactions simple. Elsewhere one
        // per concurrent tenant transaction, and one to spare.
        let connections = if self.backend == DbBackend::Sqlite {
            1
        } else {
            jobs.max(1) + 1
        };
        options.max_connections(connections);
        // A server's connections are opened all at once rather than one
        // after another as the run first needs them: each costs round
        // trips (and with TLS, sqlx 0.9.0 adds a ~40 ms Nagle stall to the
        // handshake), and a run uses every one of them (tenants and their
        // checks run beside each other).
        options.connect_lazy(self.backend != DbBackend::Sqlite);
        let connect = async {
            let db = Database::connect(options).await?;
            futures_util::future::try_join_all(
                (0..connections).map(|_| db.execute_unprepared("SELECT 1")),
            )
            .await?;
            Ok::<_, sea_orm::DbErr>(db)
        };
        match tokio::time::timeout(timeout + Duration::from_secs(1), connect).await {
            Ok(Ok(db)) => Ok(db),
            Ok(Err(e)) => Err(self.connect_error(&e.to_string())),
            Err(_) => Err(self.connect_error(&format!(
                "no answer within {} s (is the server running and reachable?)",
                timeout.as_secs()
            ))),
        }
    }

    fn connect_error(&self, reason: &str) -> CliError {
        CliError::Connect {
            target: self.display.clone(),
            reason: connect_hint(scrub(reason, self.secret())),
        }
    }
}

/// Adds what to do to the connection errors a user is likeliest to meet.
fn connect_hint(mut reason: String) -> String {
    // Each hint applies when all of its fragments occur in the message.
    const HINTS: [(&[&str], &str); 7] = [
        (
            &["pool timed out"],
            "no connection could be opened in time: is the server running and reachable at this address?",
        ),
        (
            &["database \"", "does not exist"],
            "create the database first, or name an existing one in the URL",
        ),
        (
            &["Unknown database"],
            "create the database first, or name an existing one in the URL",
        ),
        (
            &["role \"", "does not exist"],
            "check the user name in the URL",
        ),
        (
            &["file is not a database"],
            "the file is not a SQLite database; name another file",
        ),
        (
            &["database is locked"],
            "another process holds a lock on the file; try again when it has finished",
        ),
        (
            &["unable to open database file"],
            "does the directory exist and is it writable?",
        ),
    ];
    if let Some((_, hint)) = HINTS
        .iter()
        .find(|(fragments, _)| fragments.iter().all(|f| reason.contains(f)))
    {
        reason.push_str(&format!(" ({hint})"));
    }
    reason
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
