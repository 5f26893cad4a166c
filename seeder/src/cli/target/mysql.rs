//! MySQL/MariaDB URLs as the MySQL clients and sqlx read them:
//! `mysql://[user[:password]@]host[:port][/database][?param=value&...]`,
//! the user defaulting to the OS user (as the `mysql` client does), an
//! IPv6 host in brackets, and sqlx's parameters (`ssl-mode`, `ssl-ca`,
//! `ssl-cert`, `ssl-key`, `socket`, `charset`, `collation`, `timezone`,
//! `statement-cache-capacity`). Any other parameter is refused rather
//! than ignored.

use std::net::IpAddr;

use sea_orm::sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};

use super::conninfo::{self, Refusal, decode, masked, shown_key};
use super::environment::Environment;
use super::secrets::Secrets;

/// A MySQL/MariaDB connection, resolved.
#[derive(Debug, Clone)]
pub struct MySqlTarget {
    pub options: MySqlConnectOptions,
    pub display: String,
    pub secrets: Secrets,
    pub local: bool,
}

const KNOWN: &str = "ssl-mode, ssl-ca, ssl-cert, ssl-key, socket, charset, collation, timezone, \
                     statement-cache-capacity";

/// Reads a `mysql://` or `mariadb://` URL.
pub fn parse(raw: &str, env: &Environment) -> Result<MySqlTarget, Refusal> {
    let parts = conninfo::split_url(raw)?;
    let mut secrets = Secrets::default();
    let mut options = MySqlConnectOptions::new();
    let mut masked_spans = Vec::new();
    let user = match &parts.user {
        Some(u) if u.start < u.end => decode(&raw[u.clone()], "user name")?,
        _ => env.os_user.clone().unwrap_or_else(|| "root".to_owned()),
    };
    options = options.username(&user);
    if let Some(password) = &parts.password {
        secrets.add(&raw[password.clone()]);
        let password_text = decode(&raw[password.clone()], "password")?;
        secrets.add(&password_text);
        options = options.password(&password_text);
        masked_spans.push(password.clone());
    }
    let host = &raw[parts.host.clone()];
    let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => {
            v6.parse::<std::net::Ipv6Addr>()
                .map_err(|_| "the address in [ ] is not an IPv6 address".to_owned())?;
            v6.to_owned()
        }
        None if host.contains(',') => {
            return Err("several hosts are named; the driver connects to one".to_owned());
        }
        None => decode(host, "host")?,
    };
    if !host.is_empty() {
        options = options.host(&host);
    }
    if let Some(port) = parts.port {
        options = options.port(port);
    }
    let path = &raw[parts.path.clone()];
    if !path.is_empty() {
        options = options.database(&decode(path, "database name")?);
    }
    let mut mode: Option<MySqlSslMode> = None;
    let mut ca_given = false;
    for param in &parts.params {
        let value = param.value.as_str();
        match param.key.as_str() {
            "ssl-mode" | "sslmode" | "ssl_mode" => {
                mode = Some(value.parse().map_err(|_| {
                    format!(
                        "ssl-mode={value}: not a mode (DISABLED, PREFERRED, REQUIRED, VERIFY_CA, \
                         VERIFY_IDENTITY)"
                    )
                })?);
            }
            "ssl-ca" | "sslca" => {
                ca_given = true;
                if !std::path::Path::new(value).is_file() {
                    return Err(format!("ssl-ca={value}: no such file"));
                }
                options = options.ssl_ca(value);
            }
            "ssl-cert" | "sslcert" => options = options.ssl_client_cert(value),
            "ssl-key" | "sslkey" => options = options.ssl_client_key(value),
            "socket" => options = options.socket(value),
            "charset" => options = options.charset(value),
            "collation" => options = options.collation(value),
            "timezone" | "time-zone" => options = options.timezone(Some(value.to_owned())),
            "statement-cache-capacity" => {
                let capacity = value
                    .parse::<usize>()
                    .map_err(|_| format!("statement-cache-capacity={value}: not a number"))?;
                options = options.statement_cache_capacity(capacity);
            }
            "password" => {
                secrets.add(value);
                masked_spans.push(param.value_span.clone());
                return Err(
                    "a password parameter is not read for MySQL/MariaDB: write the password in \
                     the URL's user-info (mysql://user:password@host/db), percent-encoded"
                        .to_owned(),
                );
            }
            _ => {
                return Err(format!(
                    "unknown parameter {}; MySQL/MariaDB URLs take {KNOWN}",
                    shown_key(&param.key)
                ));
            }
        }
    }
    // As the MySQL clients: a CA given means the server's certificate is
    // checked against it, unless a mode says otherwise explicitly.
    let mode = match mode {
        Some(MySqlSslMode::Preferred | MySqlSslMode::Required) | None if ca_given => {
            MySqlSslMode::VerifyCa
        }
        Some(m) => m,
        None => MySqlSslMode::Preferred,
    };
    options = options.ssl_mode(mode);
    let local = options.get_socket().is_some() || is_loopback(options.get_host());
    Ok(MySqlTarget {
        display: masked(raw, masked_spans),
        options,
        secrets,
        local,
    })
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment::with(&[], Some("me"))
    }

    #[test]
    fn ipv6_hosts_users_and_sockets() {
        let t = parse("mysql://root@[::1]:3307/db", &env()).expect("valid");
        assert_eq!(t.options.get_host(), "::1");
        assert_eq!(t.options.get_port(), 3307);
        assert!(t.local);
        let t = parse("mysql://localhost/db", &env()).expect("valid");
        assert_eq!(
            t.options.get_username(),
            "me",
            "the OS user, as the mysql client"
        );
        let t = parse(
            "mariadb://u@db.example.com/db?socket=/run/mysqld/mysqld.sock",
            &env(),
        )
        .expect("valid");
        assert!(t.local, "a socket is on this machine");
        let t = parse("mysql://root@db.example.com/db?host=localhost", &env());
        assert!(
            t.is_err(),
            "host= is not a MySQL parameter: refused, not ignored"
        );
    }

    #[test]
    fn passwords_are_masked_and_plus_stays_plus() {
        let t = parse("mysql://app:a+b%2Fc@127.0.0.1/db", &env()).expect("valid");
        assert_eq!(t.display, "mysql://app:***@127.0.0.1/db");
        assert_eq!(t.secrets.scrub("x a+b/c y"), "x *** y");
    }

    #[test]
    fn unknown_and_ignored_parameters_are_refused() {
        let err = parse(
            "mysql://root@localhost/db?sslmode=REQUIRED&sslrootcert=x",
            &env(),
        )
        .expect_err("sslrootcert is libpq's");
        assert!(err.contains("unknown parameter \"sslrootcert\""), "{err}");
        let err = parse("mysql://root@localhost/db?ssl-mode=maybe", &env()).expect_err("bad");
        assert!(err.contains("not a mode"), "{err}");
    }
}
