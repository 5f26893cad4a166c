//! Retrying a tenant's transaction when the database aborted it for a reason
//! a retry cures: a deadlock or serialization failure (SQLSTATE 40001 and
//! 40P01; MySQL/MariaDB report deadlock 1213 as 40001, as do clustered
//! MariaDB's write-set conflicts), or a connection lost mid-way (an I/O
//! error, a PostgreSQL session terminated by the server, class 08).
//! Anything else fails at once.

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
}
