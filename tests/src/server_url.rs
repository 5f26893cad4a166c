//! The test servers' addresses, read from `OTA_SEED_TEST_POSTGRES` and
//! `OTA_SEED_TEST_MYSQL`, and the database URLs built from them.
//!
//! A value that cannot be read is an error, never a skip: taking an
//! unreadable address for an absent server would hide the mistake behind a
//! skip that looks like "no server on this machine".

use url::Url;

use crate::Backend;

/// A server address without a database: scheme, user (and password), host,
/// port (defaulted when absent) and connection options (`?sslmode=...`),
/// which every database URL built from it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    /// Canonical scheme (`postgres`, `mysql`), port set, empty path.
    url: Url,
}

impl ServerUrl {
    /// Reads `text` as the address of a `backend` server; the error says
    /// what is wrong with it. `postgresql://` is read as `postgres://` and
    /// `mariadb://` as `mysql://`: SeaORM's `Database::connect` refuses
    /// `mariadb://` (sqlx itself would take it).
    pub fn parse(backend: Backend, text: &str) -> Result<ServerUrl, String> {
        let (schemes, canonical, default_port): (&[&str], _, _) = match backend {
            Backend::Postgres => (&["postgres", "postgresql"], "postgres", 5432),
            Backend::MySql => (&["mysql", "mariadb"], "mysql", 3306),
            Backend::Sqlite => return Err("SQLite has no server".to_owned()),
        };
        let mut url = Url::parse(text.trim()).map_err(|e| format!("not a URL ({e})"))?;
        if !schemes.contains(&url.scheme()) {
            return Err(format!(
                "the scheme {}:// is not {}://",
                url.scheme(),
                schemes.join(":// or ")
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("no host".to_owned());
        }
        if !matches!(url.path(), "" | "/") {
            return Err(format!(
                "it names a database ({}); the tests create their own",
                url.path()
            ));
        }
        if url.fragment().is_some() {
            return Err("a #fragment means nothing to the driver".to_owned());
        }
        // Between two non-special schemes, which these all are, a change
        // of scheme cannot fail.
        url.set_scheme(canonical)
            .map_err(|()| format!("cannot rewrite the scheme as {canonical}://"))?;
        if url.port().is_none() {
            url.set_port(Some(default_port))
                .map_err(|()| "cannot set the default port".to_owned())?;
        }
        url.set_path("");
        Ok(ServerUrl { url })
    }

    /// Host as written (an IPv6 address in brackets).
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// Port, the backend's default when the address gave none.
    pub fn port(&self) -> u16 {
        self.url.port().unwrap_or_default()
    }

    /// User name, percent-decoding left to the driver (empty when none).
    pub fn user(&self) -> &str {
        self.url.username()
    }

    /// Whether something answers on the server's port within `limit` (the
    /// first address its host resolves to).
    pub fn answers(&self, limit: std::time::Duration) -> bool {
        self.url
            .socket_addrs(|| None)
            .ok()
            .and_then(|addrs| addrs.into_iter().next())
            .is_some_and(|addr| std::net::TcpStream::connect_timeout(&addr, limit).is_ok())
    }

    /// The server's URL without a database (what MySQL's administration
    /// connects to), options kept.
    pub fn server_url(&self) -> String {
        self.url.to_string()
    }

    /// The URL of `database` on this server: the name goes in the path,
    /// before the options.
    pub fn database_url(&self, database: &str) -> String {
        let mut url = self.url.clone();
        url.set_path(&format!("/{database}"));
        url.to_string()
    }

    /// The same server as `user`, with `password` (none: without one).
    pub fn as_user(&self, user: &str, password: Option<&str>) -> ServerUrl {
        let mut url = self.url.clone();
        // A URL with a host, which a ServerUrl always has, takes any user
        // and password.
        let _ = url.set_username(user);
        let _ = url.set_password(password);
        ServerUrl { url }
    }

    /// The same server with `options` (`key=value&...`) added to its own.
    pub fn with_options(&self, options: &str) -> ServerUrl {
        let mut url = self.url.clone();
        let query = match url.query().filter(|q| !q.is_empty()) {
            Some(own) => format!("{own}&{options}"),
            None => options.to_owned(),
        };
        url.set_query(Some(&query));
        ServerUrl { url }
    }

    /// The server's URL for messages: a password shows as `***`.
    pub fn redacted(&self) -> String {
        let mut url = self.url.clone();
        if url.password().is_some() {
            let _ = url.set_password(Some("***"));
        }
        url.to_string()
    }
}

/// Reads the variable `var` (whose value is `value`, `None` when unset:
/// then `default`) as the address of a `backend` server; the error names
/// the variable, its value and what is expected.
pub fn from_variable(
    backend: Backend,
    var: &str,
    value: Option<&str>,
    default: &str,
) -> Result<ServerUrl, String> {
    let Some(value) = value else {
        return ServerUrl::parse(backend, default)
            .map_err(|e| format!("the default address {default} is unreadable: {e}"));
    };
    ServerUrl::parse(backend, value).map_err(|problem| {
        let (scheme, alias) = match backend {
            Backend::Postgres => ("postgres", "postgresql"),
            _ => ("mysql", "mariadb"),
        };
        format!(
            "{var}={value:?} cannot be read: {problem}. Expected a server \
             address without a database name, \
             {scheme}://user[:password]@host[:port][?options] ({alias}:// \
             is read the same), e.g. {default}, the default when {var} is unset"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG: &str = "OTA_SEED_TEST_POSTGRES";

    fn pg(value: &str) -> Result<ServerUrl, String> {
        from_variable(
            Backend::Postgres,
            PG,
            Some(value),
            "postgres://postgres@127.0.0.1:5432",
        )
    }

    fn mysql(value: &str) -> Result<ServerUrl, String> {
        from_variable(
            Backend::MySql,
            "OTA_SEED_TEST_MYSQL",
            Some(value),
            "mysql://root@127.0.0.1:3306",
        )
    }

    #[test]
    fn postgresql_scheme_is_read_as_postgres() -> Result<(), String> {
        let server = pg("postgresql://postgres@127.0.0.1:5432")?;
        assert_eq!(server.port(), 5432);
        assert_eq!(server.host(), "127.0.0.1");
        assert_eq!(server.user(), "postgres");
        assert_eq!(
            server.database_url("d"),
            "postgres://postgres@127.0.0.1:5432/d"
        );
        Ok(())
    }

    #[test]
    fn a_missing_port_is_the_default_one() -> Result<(), String> {
        assert_eq!(pg("postgres://postgres@127.0.0.1")?.port(), 5432);
        assert_eq!(mysql("mysql://root@127.0.0.1")?.port(), 3306);
        Ok(())
    }

    #[test]
    fn options_stay_after_the_database_name() -> Result<(), String> {
        let server = pg("postgres://postgres@127.0.0.1:5432?sslmode=disable")?;
        assert_eq!(
            server.database_url("ota_seed_t1"),
            "postgres://postgres@127.0.0.1:5432/ota_seed_t1?sslmode=disable"
        );
        // A trailing slash before the options is no database name.
        let slash = pg("postgresql://postgres@127.0.0.1:5432/?sslmode=disable")?;
        assert_eq!(slash, server);
        assert_eq!(
            server.with_options("password=x").database_url("d"),
            "postgres://postgres@127.0.0.1:5432/d?sslmode=disable&password=x"
        );
        Ok(())
    }

    #[test]
    fn mariadb_scheme_becomes_mysql_for_sea_orm() -> Result<(), String> {
        let server = mysql("mariadb://root@127.0.0.1")?;
        assert_eq!(server.server_url(), "mysql://root@127.0.0.1:3306");
        assert_eq!(server.database_url("d"), "mysql://root@127.0.0.1:3306/d");
        Ok(())
    }

    #[test]
    fn users_and_passwords_are_replaced_and_redacted() -> Result<(), String> {
        let server = pg("postgres://postgres@127.0.0.1")?.as_user("app", Some("hunter2"));
        assert_eq!(
            server.database_url("d"),
            "postgres://app:hunter2@127.0.0.1:5432/d"
        );
        assert_eq!(server.redacted(), "postgres://app:***@127.0.0.1:5432");
        Ok(())
    }

    /// The error names the variable, its value and what is expected.
    fn refused(result: Result<ServerUrl, String>, value: &str, problem: &str) {
        match result {
            Ok(server) => panic!("{value} was read as {server:?}"),
            Err(e) => {
                assert!(
                    e.starts_with(&format!("{PG}={value:?} cannot be read")),
                    "{e}"
                );
                assert!(e.contains(problem), "{e}");
                assert!(
                    e.contains("Expected a server address without a database name"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn a_database_name_is_refused() {
        let value = "postgres://postgres@127.0.0.1:5432/somedb";
        refused(pg(value), value, "it names a database (/somedb)");
    }

    #[test]
    fn another_scheme_is_refused() {
        refused(
            pg("http://x"),
            "http://x",
            "the scheme http:// is not postgres:// or postgresql://",
        );
        refused(
            pg("mysql://root@127.0.0.1"),
            "mysql://root@127.0.0.1",
            "the scheme mysql://",
        );
    }

    #[test]
    fn text_that_is_no_url_is_refused() {
        refused(pg("not a url"), "not a url", "not a URL");
        refused(pg("postgres://"), "postgres://", "no host");
        refused(pg("postgres:///x"), "postgres:///x", "no host");
    }

    #[test]
    fn the_defaults_are_readable() {
        for (backend, default) in [
            (Backend::Postgres, "postgres://postgres@127.0.0.1:5432"),
            (Backend::MySql, "mysql://root@127.0.0.1:3306"),
        ] {
            let server = from_variable(backend, "V", None, default);
            assert_eq!(server.map(|s| s.server_url()), Ok(default.to_owned()));
        }
    }
}
