//! Why a connection could not be opened, in words a person can act on:
//! the driver's text (without its source locations), and what to do for
//! the failures a user is likeliest to meet.

use std::io::ErrorKind;

use sea_orm::sqlx;

/// The message for a failed connection to `server` (`host:port`, a
/// socket's path, or a file).
pub fn describe(error: &sqlx::Error, server: &str) -> String {
    if let sqlx::Error::Io(io) = error {
        match io.kind() {
            ErrorKind::ConnectionRefused => {
                return format!(
                    "connection refused by {server}: no server listens there (is it running, \
                     and on this port?)"
                );
            }
            ErrorKind::NotFound if server.starts_with('/') => {
                return format!(
                    "no server socket at {server} (is the server running, and is this its \
                     socket directory and port?)"
                );
            }
            _ => {}
        }
    }
    let text = seeder::driver_message(error).unwrap_or_else(|| error.to_string());
    with_hint(text)
}

/// Whether the server refused the connection for a connection limit:
/// PostgreSQL 53300 (role, database or server), MySQL/MariaDB 1040
/// (server), 1203 and 1226 (account).
pub fn over_limit(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|c| c == "53300")
                || db
                    .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                    .is_some_and(|e| matches!(e.number(), 1040 | 1203 | 1226))
        }
        _ => false,
    }
}

/// [`over_limit`] for an error already turned into text (SeaORM's).
pub fn over_limit_text(text: &str) -> bool {
    [
        "(53300)",
        "1040 (",
        "1203 (",
        "1226 (",
        "too many connections",
        "Too many connections",
    ]
    .iter()
    .any(|sign| text.contains(sign))
}

/// Adds what to do to the messages a user is likeliest to meet.
pub fn with_hint(mut reason: String) -> String {
    const LIMIT: &str = "the server refused another connection: the role's, the database's or \
                         the server's connection limit is reached; close other sessions or \
                         raise the limit";
    // Each hint applies when all of its fragments occur in the message.
    const HINTS: [(&[&str], &str); 17] = [
        (&["too many connections"], LIMIT),
        (&["Too many connections"], LIMIT),
        (&["too many clients"], LIMIT),
        (&["max_user_connections"], LIMIT),
        (
            &["unknown authentication plugin", "ed25519"],
            "the driver authenticates with mysql_native_password, caching_sha2_password or \
             sha256_password (and mysql_clear_password over TLS), not ed25519: give this user \
             one of those, e.g. ALTER USER 'user'@'host' IDENTIFIED VIA mysql_native_password \
             USING PASSWORD('...')",
        ),
        (
            &["failed to lookup address"],
            "the host name does not resolve: check its spelling, or use an address",
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
            "check the user name in the URL (without one, libpq's rule applies: PGUSER, else \
             the OS user)",
        ),
        (
            &["password authentication failed"],
            "check the password (percent-encoded in the URL, or in PGPASSWORD or .pgpass)",
        ),
        (
            &["no pg_hba.conf entry"],
            "the server's pg_hba.conf admits no such connection: for a hostssl-only server use \
             sslmode=require or stricter; else ask its administrator",
        ),
        (
            &["UnknownIssuer"],
            "the server's certificate is not signed by the root certificate given (sslrootcert \
             / ssl-ca)",
        ),
        (
            &["NotValidForName"],
            "the server's certificate is not for the host name connected to (verify-full / \
             VERIFY_IDENTITY): connect by the name the certificate holds",
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
            "does the directory exist and is it writable? Without ?mode=rwc in a sqlite:// URL, the \
             file must exist already",
        ),
        (
            &["Access denied for user"],
            "check the user name and password (percent-encoded in the URL)",
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
    fn a_refused_connection_says_so() {
        let e = sqlx::Error::Io(std::io::Error::from(ErrorKind::ConnectionRefused));
        assert_eq!(
            describe(&e, "127.0.0.1:9"),
            "connection refused by 127.0.0.1:9: no server listens there (is it running, and on \
             this port?)"
        );
    }

    #[test]
    fn ed25519_names_the_way_out() {
        let e = sqlx::Error::Protocol(
            "unknown authentication plugin: client_ed25519 (sqlx_mysql::protocol::auth:36)"
                .to_owned(),
        );
        let text = describe(&e, "127.0.0.1:3306");
        assert!(!text.contains("sqlx_mysql::"), "{text}");
        assert!(
            text.contains("IDENTIFIED VIA mysql_native_password"),
            "{text}"
        );
    }
}
