//! PostgreSQL connection strings as libpq reads them: a URL or the
//! `key=value` form; every parameter from the string, else from its
//! environment variable (`PGHOST`, `PGUSER`, ...), else libpq's default
//! (the OS user, a local socket); `.pgpass`; `sslrootcert` turning
//! `require` into certificate checks. What the driver (sqlx) cannot do is
//! refused before connecting, in one line, rather than ignored.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgSslMode};

use super::conninfo::{self, Param, Refusal, decode, masked, shown_key};
use super::environment::Environment;
use super::pgpass;
use super::secrets::Secrets;

/// A PostgreSQL connection, resolved.
#[derive(Debug, Clone)]
pub struct PgTarget {
    pub options: PgConnectOptions,
    /// The string as given, credentials masked.
    pub display: String,
    pub secrets: Secrets,
    /// A Unix socket or a loopback address.
    pub local: bool,
    /// `connect_timeout` from the string or `PGCONNECT_TIMEOUT`.
    pub connect_timeout: Option<Duration>,
}

/// How the seeder treats a libpq parameter.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Read and applied.
    Used,
    /// Accepted; the driver's behaviour already matches what it asks for,
    /// or it only tunes the network (keepalives).
    NoEffect,
    /// Accepted with the values listed; other values refused.
    Values(&'static [&'static str], &'static str),
    /// Refused: the driver cannot do it (the reason).
    Unsupported(&'static str),
}

/// libpq's parameters (PostgreSQL 18), their environment variables, and
/// what becomes of them.
const PARAMETERS: &[(&str, Option<&str>, Kind)] = &[
    ("host", Some("PGHOST"), Kind::Used),
    ("hostaddr", Some("PGHOSTADDR"), Kind::Used),
    ("port", Some("PGPORT"), Kind::Used),
    ("dbname", Some("PGDATABASE"), Kind::Used),
    ("user", Some("PGUSER"), Kind::Used),
    ("password", Some("PGPASSWORD"), Kind::Used),
    ("passfile", Some("PGPASSFILE"), Kind::Used),
    ("application_name", Some("PGAPPNAME"), Kind::Used),
    ("fallback_application_name", None, Kind::Used),
    ("options", Some("PGOPTIONS"), Kind::Used),
    ("connect_timeout", Some("PGCONNECT_TIMEOUT"), Kind::Used),
    ("sslmode", Some("PGSSLMODE"), Kind::Used),
    ("sslrootcert", Some("PGSSLROOTCERT"), Kind::Used),
    ("sslcert", Some("PGSSLCERT"), Kind::Used),
    ("sslkey", Some("PGSSLKEY"), Kind::Used),
    ("sslpassword", None, Kind::Used),
    (
        "channel_binding",
        Some("PGCHANNELBINDING"),
        Kind::Values(
            &["disable", "prefer"],
            "the driver (sqlx) does not implement SCRAM channel binding \
             (SCRAM-SHA-256-PLUS); remove channel_binding=require or set it to prefer: the \
             password exchange is still SCRAM-SHA-256, inside TLS when sslmode asks for it",
        ),
    ),
    (
        "client_encoding",
        Some("PGCLIENTENCODING"),
        Kind::Values(
            &["UTF8", "utf8", "UTF-8", "utf-8", "unicode", "UNICODE"],
            "the driver speaks UTF8 only",
        ),
    ),
    ("keepalives", None, Kind::NoEffect),
    ("keepalives_idle", None, Kind::NoEffect),
    ("keepalives_interval", None, Kind::NoEffect),
    ("keepalives_count", None, Kind::NoEffect),
    ("tcp_user_timeout", None, Kind::NoEffect),
    ("sslcompression", None, Kind::NoEffect),
    ("sslsni", Some("PGSSLSNI"), Kind::NoEffect),
    ("krbsrvname", Some("PGKRBSRVNAME"), Kind::NoEffect),
    ("gsslib", Some("PGGSSLIB"), Kind::NoEffect),
    ("gssdelegation", Some("PGGSSDELEGATION"), Kind::NoEffect),
    (
        "gssencmode",
        Some("PGGSSENCMODE"),
        Kind::Values(
            &["disable", "prefer"],
            "the driver has no GSSAPI encryption",
        ),
    ),
    (
        "sslnegotiation",
        Some("PGSSLNEGOTIATION"),
        Kind::Values(
            &["postgres"],
            "the driver negotiates TLS the classic way only (sslnegotiation=postgres)",
        ),
    ),
    (
        "sslcertmode",
        Some("PGSSLCERTMODE"),
        Kind::Values(
            &["allow"],
            "the driver sends a client certificate whenever sslcert names one, as \
             sslcertmode=allow does",
        ),
    ),
    (
        "target_session_attrs",
        Some("PGTARGETSESSIONATTRS"),
        Kind::Values(
            &["any"],
            "the driver connects to a single host and does not choose one by its session \
             attributes; name the host you mean",
        ),
    ),
    (
        "load_balance_hosts",
        Some("PGLOADBALANCEHOSTS"),
        Kind::Values(&["disable", "random"], "unknown value"),
    ),
    (
        "ssl_min_protocol_version",
        Some("PGSSLMINPROTOCOLVERSION"),
        Kind::Values(
            &["TLSv1", "TLSv1.1", "TLSv1.2"],
            "the driver (rustls) negotiates TLS 1.2 or 1.3 and cannot be held to 1.3 only",
        ),
    ),
    (
        "ssl_max_protocol_version",
        Some("PGSSLMAXPROTOCOLVERSION"),
        Kind::Values(
            &["TLSv1.3"],
            "the driver (rustls) negotiates TLS 1.2 or 1.3 and cannot be held below 1.3",
        ),
    ),
    (
        "min_protocol_version",
        Some("PGMINPROTOCOLVERSION"),
        Kind::Values(&["3.0"], "the driver speaks protocol 3.0 only"),
    ),
    (
        "max_protocol_version",
        Some("PGMAXPROTOCOLVERSION"),
        Kind::Values(&["3.0", "latest"], "the driver speaks protocol 3.0 only"),
    ),
    (
        "sslcrl",
        Some("PGSSLCRL"),
        Kind::Unsupported("the driver cannot check certificate revocation lists"),
    ),
    (
        "sslcrldir",
        Some("PGSSLCRLDIR"),
        Kind::Unsupported("the driver cannot check certificate revocation lists"),
    ),
    (
        "sslkeylogfile",
        None,
        Kind::Unsupported("the driver cannot write TLS key logs"),
    ),
    (
        "requirepeer",
        Some("PGREQUIREPEER"),
        Kind::Unsupported("the driver cannot check a socket peer's user"),
    ),
    (
        "require_auth",
        Some("PGREQUIREAUTH"),
        Kind::Unsupported(
            "the driver cannot restrict the authentication methods it accepts; remove it",
        ),
    ),
    (
        "service",
        Some("PGSERVICE"),
        Kind::Unsupported(
            "the seeder does not read pg_service.conf; write the service's host, port, dbname \
             and user in the URL",
        ),
    ),
    (
        "replication",
        None,
        Kind::Unsupported("a replication connection cannot run the seeder's statements"),
    ),
    (
        "scram_client_key",
        None,
        Kind::Unsupported("the driver authenticates with a password, not SCRAM keys"),
    ),
    (
        "scram_server_key",
        None,
        Kind::Unsupported("the driver authenticates with a password, not SCRAM keys"),
    ),
    (
        "oauth_issuer",
        None,
        Kind::Unsupported("the driver has no OAuth authentication"),
    ),
    (
        "oauth_client_id",
        None,
        Kind::Unsupported("the driver has no OAuth authentication"),
    ),
    (
        "oauth_client_secret",
        None,
        Kind::Unsupported("the driver has no OAuth authentication"),
    ),
    (
        "oauth_scope",
        None,
        Kind::Unsupported("the driver has no OAuth authentication"),
    ),
    // sqlx's own spellings.
    ("statement-cache-capacity", None, Kind::Used),
];

/// sqlx's aliases for libpq's names.
const ALIASES: &[(&str, &str)] = &[
    ("ssl-mode", "sslmode"),
    ("ssl-root-cert", "sslrootcert"),
    ("ssl-ca", "sslrootcert"),
    ("ssl-cert", "sslcert"),
    ("ssl-key", "sslkey"),
];

/// Parameters whose values are credentials.
const SECRET_PARAMETERS: &[&str] = &[
    "password",
    "sslpassword",
    "scram_client_key",
    "scram_server_key",
    "oauth_client_secret",
];

/// The settings a string gives, by libpq name; later ones win (a URL's
/// query parameters over its user, host and path, as in libpq).
#[derive(Default)]
struct Given(Vec<(String, String)>);

impl Given {
    fn set(&mut self, key: &str, value: String) {
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_owned(), value));
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a PostgreSQL URL (`postgres://` or `postgresql://`) or a libpq
/// `key=value` string.
pub fn parse(raw: &str, env: &Environment) -> Result<PgTarget, Refusal> {
    let mut given = Given::default();
    let mut secrets = Secrets::default();
    let mut masked_spans = Vec::new();
    let params: Vec<Param> = if raw.contains("://") {
        let parts = conninfo::split_url(raw)?;
        if let Some(user) = &parts.user {
            let user = decode(&raw[user.clone()], "user name")?;
            if !user.is_empty() {
                given.set("user", user);
            }
        }
        if let Some(password) = &parts.password {
            secrets.add(&raw[password.clone()]);
            given.set("password", decode(&raw[password.clone()], "password")?);
            masked_spans.push(password.clone());
        }
        let host = &raw[parts.host.clone()];
        if !host.is_empty() {
            if host.contains(',') {
                return Err(several_hosts());
            }
            let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                Some(v6) => {
                    v6.parse::<std::net::Ipv6Addr>()
                        .map_err(|_| "the address in [ ] is not an IPv6 address".to_owned())?;
                    v6.to_owned()
                }
                None => decode(host, "host")?,
            };
            given.set("host", host);
        }
        if let Some(port) = parts.port {
            given.set("port", port.to_string());
        }
        let path = &raw[parts.path.clone()];
        if !path.is_empty() {
            given.set("dbname", decode(path, "database name")?);
        }
        parts.params
    } else {
        conninfo::split_keyword_value(raw)?
    };
    for param in params {
        let key = ALIASES
            .iter()
            .find(|(alias, _)| *alias == param.key)
            .map_or(param.key.as_str(), |(_, name)| name);
        if SECRET_PARAMETERS.contains(&key) {
            secrets.add(&param.value);
            masked_spans.push(param.value_span.clone());
        }
        if key.starts_with("options[") && key.ends_with(']') {
            given.set(key, param.value);
            continue;
        }
        if !PARAMETERS.iter().any(|(name, _, _)| *name == key) {
            return Err(format!(
                "unknown parameter {}; PostgreSQL's are libpq's (host, port, dbname, user, \
                 password, sslmode, sslrootcert, sslcert, sslkey, application_name, options, \
                 ...), see docs/connecting.md",
                shown_key(&param.key)
            ));
        }
        given.set(key, param.value);
    }
    let display = masked(raw, masked_spans);
    resolve(given, secrets, display, env)
}

fn several_hosts() -> Refusal {
    "several hosts are named; the driver connects to one: name the one you mean".to_owned()
}

/// A parameter's value: the string's, else its environment variable's.
fn setting<'a>(given: &'a Given, env: &'a Environment, key: &str) -> Option<&'a str> {
    given.get(key).filter(|v| !v.is_empty()).or_else(|| {
        PARAMETERS
            .iter()
            .find(|(name, _, _)| *name == key)
            .and_then(|(_, var, _)| var.and_then(|v| env.var(v)))
    })
}

fn resolve(
    given: Given,
    mut secrets: Secrets,
    display: String,
    env: &Environment,
) -> Result<PgTarget, Refusal> {
    // Refusals first, for the string's parameters and the environment's.
    for (name, var, kind) in PARAMETERS {
        let Some(value) = setting(&given, env, name) else {
            continue;
        };
        let from = match (given.get(name), var) {
            (Some(_), _) => format!("{name}={value}"),
            (None, Some(var)) => format!("{var}={value} (in the environment)"),
            (None, None) => format!("{name}={value}"),
        };
        let secret = SECRET_PARAMETERS.contains(name);
        let shown = if secret { (*name).to_owned() } else { from };
        match kind {
            Kind::Unsupported(why) => return Err(format!("{shown}: {why}")),
            Kind::Values(ok, why) if !ok.contains(&value) => {
                return Err(format!("{shown}: {why}"));
            }
            _ => {}
        }
    }
    let port = match setting(&given, env, "port") {
        Some(p) if p.contains(',') => return Err(several_hosts()),
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("port={p}: not a port number (1 to 65535)"))?,
        None => 5432,
    };
    let host = setting(&given, env, "host").map(str::to_owned);
    let hostaddr = setting(&given, env, "hostaddr").map(str::to_owned);
    if host.as_deref().is_some_and(|h| h.contains(','))
        || hostaddr.as_deref().is_some_and(|h| h.contains(','))
    {
        return Err(several_hosts());
    }
    let user = match setting(&given, env, "user") {
        Some(u) => u.to_owned(),
        None => env.os_user.clone().ok_or_else(|| {
            "no user is named (in the URL or PGUSER) and the OS user's name cannot be read"
                .to_owned()
        })?,
    };
    let dbname = setting(&given, env, "dbname").map(str::to_owned);

    let mut options = PgConnectOptions::new_without_pgpass()
        .port(port)
        .username(&user)
        // Values come back in binary, where the setting plays no part, and
        // PgBouncer refuses it unless told to ignore it.
        .extra_float_digits(None);
    // Where to connect: hostaddr (an IP) when given; else the host, a
    // socket directory when it starts with `/`; else libpq's default, the
    // local socket (sqlx's list of directories), else localhost.
    let socket_dir = match (&hostaddr, &host) {
        (Some(addr), _) => {
            addr.parse::<IpAddr>()
                .map_err(|_| format!("hostaddr={addr}: not an IP address"))?;
            options = options.host(addr);
            None
        }
        (None, Some(h)) if h.starts_with('/') => Some(PathBuf::from(h)),
        (None, Some(h)) => {
            options = options.host(h);
            None
        }
        (None, None) => ["/var/run/postgresql", "/private/tmp", "/tmp"]
            .iter()
            .map(PathBuf::from)
            .find(|dir| dir.join(format!(".s.PGSQL.{port}")).exists())
            .or_else(|| {
                options = options.clone().host("localhost");
                None
            }),
    };
    if let Some(dir) = &socket_dir {
        options = options.socket(dir).host("localhost");
    }
    let local = socket_dir.is_some() || is_loopback(options.get_host());
    if let Some(db) = &dbname {
        options = options.database(db);
    }

    // TLS, as libpq: a root certificate that exists makes `require` check
    // the server's certificate chain, as verify-ca does. (`prefer` stays
    // as it is: it must still connect to a server without TLS.)
    let home_file = |name: &str| {
        env.home()
            .map(|h| h.join(".postgresql").join(name))
            .filter(|p| p.is_file())
    };
    let root_cert = match setting(&given, env, "sslrootcert") {
        Some("system") => RootCert::System,
        Some(path) => {
            let path = PathBuf::from(path);
            if path.is_file() {
                RootCert::File(path)
            } else {
                RootCert::Missing(path)
            }
        }
        None => home_file("root.crt").map_or(RootCert::None, RootCert::File),
    };
    let mode_name = setting(&given, env, "sslmode").unwrap_or("prefer");
    let mut mode = match mode_name {
        "disable" => PgSslMode::Disable,
        "allow" => PgSslMode::Allow,
        "prefer" => PgSslMode::Prefer,
        "require" => PgSslMode::Require,
        "verify-ca" => PgSslMode::VerifyCa,
        "verify-full" => PgSslMode::VerifyFull,
        other => {
            return Err(format!(
                "sslmode={other}: not a mode (disable, allow, prefer, require, verify-ca, \
                 verify-full)"
            ));
        }
    };
    match &root_cert {
        RootCert::File(path) => {
            if matches!(mode, PgSslMode::Require) {
                mode = PgSslMode::VerifyCa;
            }
            options = options.ssl_root_cert(path);
        }
        RootCert::Missing(path) => {
            if matches!(mode, PgSslMode::VerifyCa | PgSslMode::VerifyFull) {
                return Err(format!(
                    "sslmode={mode_name}: the root certificate file {} does not exist",
                    path.display()
                ));
            }
        }
        RootCert::System => {
            if setting(&given, env, "sslmode").is_some() && mode_name != "verify-full" {
                return Err(format!(
                    "sslmode={mode_name} may not be used with sslrootcert=system (libpq's \
                     rule): use verify-full or leave sslmode out"
                ));
            }
            if env.var("PGSSLROOTCERT") == Some("system") {
                return Err(
                    "PGSSLROOTCERT=system (in the environment): the driver would read \
                            it as a file name; unset it and write sslrootcert=system in the URL"
                        .to_owned(),
                );
            }
            mode = PgSslMode::VerifyFull;
        }
        RootCert::None => {}
    }
    if hostaddr.is_some()
        && host.as_deref().is_some_and(|h| !h.starts_with('/'))
        && matches!(mode, PgSslMode::VerifyFull)
    {
        return Err(
            "sslmode=verify-full with both host and hostaddr: the driver checks the \
             certificate against the address it connects to; give only host"
                .to_owned(),
        );
    }
    options = options.ssl_mode(mode);
    let client_key = setting(&given, env, "sslkey")
        .map(PathBuf::from)
        .or_else(|| home_file("postgresql.key"));
    let client_cert = setting(&given, env, "sslcert")
        .map(PathBuf::from)
        .or_else(|| home_file("postgresql.crt"));
    if let Some(pw) = setting(&given, env, "sslpassword") {
        secrets.add(pw);
    }
    if let (Some(cert), Some(key)) = (&client_cert, &client_key) {
        check_client_key(key)?;
        options = options.ssl_client_cert(cert).ssl_client_key(key);
    }

    // Credentials: the string's password, else PGPASSWORD, else the
    // password file (read with the settings as resolved, as libpq does).
    let password = match setting(&given, env, "password") {
        Some(p) => Some(p.to_owned()),
        None => {
            let file = setting(&given, env, "passfile")
                .map(PathBuf::from)
                .or_else(|| env.home().map(|h| h.join(".pgpass")));
            let host_for_file = match (&socket_dir, &host, &hostaddr) {
                (Some(_), _, _) => "localhost".to_owned(),
                (None, Some(h), _) => h.clone(),
                (None, None, Some(a)) => a.clone(),
                (None, None, None) => "localhost".to_owned(),
            };
            file.and_then(|f| {
                pgpass::lookup(
                    &f,
                    &host_for_file,
                    port,
                    dbname.as_deref().unwrap_or(&user),
                    &user,
                )
            })
        }
    };
    if let Some(p) = &password {
        secrets.add(p);
        options = options.password(p);
    }

    let application_name = setting(&given, env, "application_name")
        .or_else(|| given.get("fallback_application_name"))
        .unwrap_or("ota-seed");
    options = options.application_name(application_name);
    let mut settings = match setting(&given, env, "options") {
        Some(o) => server_settings(o)?,
        None => Vec::new(),
    };
    for (key, value) in &given.0 {
        if let Some(name) = key
            .strip_prefix("options[")
            .and_then(|k| k.strip_suffix(']'))
        {
            settings.push((name.to_owned(), value.clone()));
        }
    }
    if !settings.is_empty() {
        options = options.options(settings);
    }
    if let Some(capacity) = given.get("statement-cache-capacity") {
        let capacity = capacity
            .parse::<usize>()
            .map_err(|_| format!("statement-cache-capacity={capacity}: not a number"))?;
        options = options.statement_cache_capacity(capacity);
    }
    let connect_timeout = match setting(&given, env, "connect_timeout") {
        None => None,
        Some(t) => match t.trim().parse::<i64>() {
            // libpq: zero or less waits without end; the seeder never does,
            // so those keep the seeder's own bound.
            Ok(s) if s <= 0 => None,
            // libpq: less than 2 s counts as 2 s.
            Ok(s) => Some(Duration::from_secs(s.max(2) as u64)),
            Err(_) => return Err(format!("connect_timeout={t}: not a number of seconds")),
        },
    };
    Ok(PgTarget {
        options,
        display,
        secrets,
        local,
        connect_timeout,
    })
}

enum RootCert {
    None,
    System,
    File(PathBuf),
    Missing(PathBuf),
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// An encrypted client key cannot be used: the driver (rustls) reads
/// plain PEM keys only and ignores `sslpassword`.
fn check_client_key(key: &Path) -> Result<(), Refusal> {
    let Ok(pem) = std::fs::read_to_string(key) else {
        return Err(format!("sslkey: cannot read {}", key.display()));
    };
    if pem.contains("ENCRYPTED PRIVATE KEY") || pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(format!(
            "sslkey: {} is encrypted, and the driver (sqlx with rustls) cannot decrypt client \
             keys (sslpassword is not supported); decrypt it once, e.g. `openssl pkey -in {} \
             -out client.plain.key`, keep that file private, and name it in sslkey",
            key.display(),
            key.display()
        ));
    }
    Ok(())
}

/// libpq's `options`: command-line switches for the server; `-c name=value`
/// (or `--name=value`) are passed on, with libpq's backslash escapes.
fn server_settings(options: &str) -> Result<Vec<(String, String)>, Refusal> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut settings = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let setting = if word == "-c" {
            words.next().ok_or("options: -c without name=value")?
        } else if let Some(rest) = word.strip_prefix("-c") {
            rest.to_owned()
        } else if let Some(rest) = word.strip_prefix("--") {
            rest.to_owned()
        } else {
            return Err(format!(
                "options: only -c name=value settings are passed to the server, not {word:?}"
            ));
        };
        let Some((name, value)) = setting.split_once('=') else {
            return Err(format!("options: {setting:?} is not name=value"));
        };
        settings.push((name.replace('-', "_"), value.to_owned()));
    }
    Ok(settings)
}

#[cfg(test)]
#[path = "postgres_tests.rs"]
mod tests;
