//! Retrying a tenant's transaction when the database aborted it for a reason
//! a retry cures: a deadlock or serialization failure (SQLSTATE 40001 and
//! 40P01; MySQL/MariaDB report deadlock 1213 as 40001, as do clustered
//! MariaDB's write-set conflicts), or a connection lost mid-way (an I/O
//! error, a PostgreSQL session terminated by the server, class 08).
//! Anything else fails at once, notably a statement larger than the
//! server's `max_allowed_packet`: MariaDB reports it as SQLSTATE 08S01 and
//! closes the connection, like a lost connection, but sending the same
//! statement again fails the same way.

use std::time::Duration;

use rand::RngExt as _;
use sea_orm::{DbErr, RuntimeErr, sqlx};

/// Tries in all, and the time after which no new try starts. Heavy
/// contention has needed dozens of tries on clustered MariaDB.
pub const MAX_ATTEMPTS: u32 = 50;
pub const MAX_RETRY_TIME: Duration = Duration::from_secs(120);

pub fn is_transient(err: &DbErr) -> bool {
    let (DbErr::Query(RuntimeErr::SqlxError(e))
    | DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Conn(RuntimeErr::SqlxError(e))) = err
    else {
        return false;
    };
    match e.as_ref() {
        sqlx::Error::Database(db) if packet_too_large(db.as_ref()) => false,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Serialization failure and deadlock; the server ending the
            // session (admin shutdown, crash, failover: 57P01-57P03); any
            // connection exception (class 08).
            matches!(
                code.as_ref(),
                "40001" | "40P01" | "57P01" | "57P02" | "57P03"
            ) || code.starts_with("08")
        }),
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        _ => false,
    }
}

/// Whether the server refused a statement for its size: MySQL/MariaDB
/// errors 1153 ER_NET_PACKET_TOO_LARGE ("Got a packet bigger than
/// 'max_allowed_packet' bytes", SQLSTATE 08S01) and 1301
/// ER_WARN_ALLOWED_PACKET_OVERFLOWED (a function result over the limit).
/// The message is checked too, for drivers and proxies that pass the text on
/// under another number.
///
/// A statement several times the limit may instead end in an I/O error
/// (connection reset while the driver still writes it): that cannot be told
/// from a lost connection, and stays transient. The seeder's batches are
/// sized to stay well under the limit (`steps::batch`).
fn packet_too_large(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .is_some_and(|e| matches!(e.number(), 1153 | 1301))
        || db.message().contains("max_allowed_packet")
}

/// Exponential backoff from 20 ms, capped at 2 s, with full jitter so
/// seeders that collided do not collide again in step.
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = 20u64.saturating_mul(1 << attempt.min(7)).min(2_000);
    Duration::from_millis(rand::rng().random_range(ceiling / 2..=ceiling))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) <= Duration::from_millis(40));
        assert!(backoff(30) <= Duration::from_secs(2));
        assert!(backoff(30) >= Duration::from_secs(1));
    }

    #[test]
    fn only_transient_errors_are_retried() {
        assert!(!is_transient(&DbErr::Custom("nope".into())));
        assert!(!is_transient(&DbErr::RecordNotFound("x".into())));
    }

    /// A database error as a driver hands it over: SQLSTATE and message.
    #[derive(Debug)]
    struct ServerError {
        code: &'static str,
        message: &'static str,
    }

    impl std::fmt::Display for ServerError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "({}): {}", self.code, self.message)
        }
    }

    impl std::error::Error for ServerError {}

    impl sqlx::error::DatabaseError for ServerError {
        fn message(&self) -> &str {
            self.message
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.code.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn exec_error(e: sqlx::Error) -> DbErr {
        DbErr::Exec(RuntimeErr::SqlxError(std::sync::Arc::new(e)))
    }

    fn server_error(code: &'static str, message: &'static str) -> DbErr {
        exec_error(sqlx::Error::Database(Box::new(ServerError {
            code,
            message,
        })))
    }

    #[test]
    fn a_packet_too_large_is_not_a_lost_connection() {
        // MariaDB 10.11's text for error 1153, under the SQLSTATE of a
        // connection failure. (The driver's own MySqlDatabaseError, with
        // its number, cannot be built here: tests/tests/server_limits_mysql.rs
        // checks the one a real server returns.)
        assert!(!is_transient(&server_error(
            "08S01",
            "Got a packet bigger than 'max_allowed_packet' bytes"
        )));
        // The same SQLSTATE for a connection that really broke.
        assert!(is_transient(&server_error(
            "08S01",
            "Lost connection to server during query"
        )));
        assert!(is_transient(&server_error(
            "40001",
            "Deadlock found when trying to get lock; try restarting transaction"
        )));
        // What the driver returns when the server closes the connection
        // while a much larger statement is still being written.
        assert!(is_transient(&exec_error(sqlx::Error::Io(
            std::io::Error::from(std::io::ErrorKind::ConnectionReset)
        ))));
    }
}
