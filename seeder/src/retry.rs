//! Retrying a tenant's transaction when the database aborted it for a reason
//! a retry cures: a deadlock or serialization failure (SQLSTATE 40001 and
//! 40P01; MySQL/MariaDB report deadlock 1213 as 40001, as do clustered
//! MariaDB's write-set conflicts), a Galera cluster regrouping after a node
//! left (1180 with the provider's status), or a connection lost mid-way (an I/O
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
    let Some(e) = sqlx_error(err) else {
        return false;
    };
    match e {
        // The server may still be busy with what it was sent, or be
        // stalled: a retry would wait as long again.
        sqlx::Error::Io(io) if no_answer_in(io).is_some() => false,
        sqlx::Error::Database(db) if packet_too_large(db.as_ref()) => false,
        sqlx::Error::Database(db) if cluster_regrouping(db.as_ref()) => true,
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

/// A few words on why a transient error happened, for progress lines.
pub fn reason(err: &DbErr) -> &'static str {
    match sqlx_error(err) {
        Some(sqlx::Error::Database(db)) if cluster_regrouping(db.as_ref()) => {
            "the cluster was regrouping after a node left"
        }
        Some(sqlx::Error::Database(db))
            if db
                .code()
                .is_some_and(|c| matches!(c.as_ref(), "40001" | "40P01")) =>
        {
            "a deadlock, serialization failure or cluster write conflict"
        }
        _ if is_connection_failure(err) => "the connection failed",
        _ => "a transient error",
    }
}

/// Whether `err` says the server cannot be reached now: the pool found no
/// connection within its acquire timeout (a refused connection is retried
/// by the pool until then), or the connection was refused outright. After a
/// lost connection this is how a server that went away shows: retrying
/// further only delays the error.
pub fn is_unreachable(err: &DbErr) -> bool {
    // SeaORM's own pools report a timed-out acquire this way.
    if let DbErr::ConnectionAcquire(_) = err {
        return true;
    }
    match sqlx_error(err) {
        Some(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) => true,
        Some(sqlx::Error::Io(io)) => io.kind() == std::io::ErrorKind::ConnectionRefused,
        _ => false,
    }
}

/// Whether `err` is the connection itself failing (rather than a statement
/// the server refused): an I/O error, or a connection exception (class 08,
/// or PostgreSQL's session terminated, 57P01-57P03).
pub fn is_connection_failure(err: &DbErr) -> bool {
    match sqlx_error(err) {
        Some(sqlx::Error::Io(_)) => true,
        Some(sqlx::Error::Database(db)) if !packet_too_large(db.as_ref()) => {
            db.code().is_some_and(|code| {
                code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
            })
        }
        _ => false,
    }
}

/// The server sent no answer within the seeder's bound: the statement
/// timeout plus 10 s of grace, and for BEGIN also the time allowed for
/// taking a pooled connection (see
/// [`Seeder::statement_timeout`](crate::Seeder::statement_timeout)).
/// [`no_answer`](crate::no_answer) finds it in a `DbErr` (it is held as
/// the inner error of a `std::io::Error` of kind `TimedOut`, which
/// `Error::source` does not reach); a seeding run reports it as
/// [`SeedError::NoAnswer`](crate::SeedError::NoAnswer). The connection it
/// happened on may still be waiting for the answer: close the pool with a
/// bound of your own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database server sent no answer within {} s", waited.as_secs())]
pub struct NoAnswer {
    /// How long the seeder waited.
    pub waited: Duration,
}

/// The seeder's own bound on waiting for the server's answer ran out:
/// the [`NoAnswer`] inside `err` (with how long it waited), else `None`.
/// For library callers, whose `DbErr` holds it where `Error::source` does
/// not reach.
pub fn no_answer(err: &DbErr) -> Option<NoAnswer> {
    match sqlx_error(err)? {
        sqlx::Error::Io(io) => no_answer_in(io),
        _ => None,
    }
}

fn no_answer_in(io: &std::io::Error) -> Option<NoAnswer> {
    io.get_ref()?.downcast_ref::<NoAnswer>().copied()
}

/// The MySQL/MariaDB error number of a server error, if `err` is one.
pub(crate) fn mysql_error_number(err: &DbErr) -> Option<u16> {
    match sqlx_error(err)? {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .map(|e| e.number()),
        _ => None,
    }
}

/// The driver's error under SeaORM's wrapping (statement or connection).
pub(crate) fn sqlx_error(err: &DbErr) -> Option<&sqlx::Error> {
    match err {
        DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => Some(e.as_ref()),
        _ => None,
    }
}

/// Whether a Galera node failed a statement or COMMIT because the cluster
/// is changing its membership (a node left; for a few seconds no node
/// knows the primary component): error 1180 with the provider's status,
/// e.g. "Error while appending streaming replication fragment(provider
/// status: Not connected to Primary Component)". The transaction was
/// rolled back; once the cluster has regrouped, a retry goes through.
/// (A node outside the primary component answers 1047, SQLSTATE 08S01: a
/// connection exception, transient anyway.)
fn cluster_regrouping(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .is_some_and(|e| e.number() == 1180)
        && (db.message().contains("provider status") || db.message().contains("Primary Component"))
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
    //! `is_transient` judged on the errors the drivers really return: sqlx's
    //! own `PgDatabaseError` and `MySqlDatabaseError` (which only the
    //! drivers can build) come from a loopback server of the test's that
    //! answers the connection with a given error packet, exactly as a
    //! PostgreSQL or MariaDB server sends one; I/O errors from a refused and
    //! a dropped connection; a unique violation from a real SQLite database.
    //! The expected verdicts are the SQLSTATEs and numbers themselves, never
    //! derived from the function under test.

    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;

    use sea_orm::sqlx::Connection as _;
    use sea_orm::sqlx::mysql::{MySqlConnection, MySqlDatabaseError};
    use sea_orm::sqlx::postgres::{PgConnection, PgDatabaseError};
    use sea_orm::sqlx::sqlite::{SqliteConnection, SqliteError};

    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for _ in 0..20 {
            let first = backoff(1);
            assert!(
                first >= Duration::from_millis(20) && first <= Duration::from_millis(40),
                "{first:?}"
            );
            let late = backoff(30);
            assert!(
                late >= Duration::from_secs(1) && late <= Duration::from_secs(2),
                "{late:?}"
            );
        }
    }

    /// A loopback server that reads the client's first message (when the
    /// protocol has the client speak first), answers `reply`, and keeps
    /// the connection until the client closes it. Returns its port.
    fn answering_server(client_speaks_first: bool, reply: Vec<u8>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("address").port();
        std::thread::spawn(move || {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            if client_speaks_first {
                // PostgreSQL's startup message: its length (itself
                // included), then the rest.
                let mut len = [0u8; 4];
                if stream.read_exact(&mut len).is_err() {
                    return;
                }
                let mut rest = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
                if stream.read_exact(&mut rest).is_err() {
                    return;
                }
            }
            let _ = stream.write_all(&reply);
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
        });
        port
    }

    /// An ErrorResponse as a PostgreSQL server sends it.
    fn pg_error_response(code: &str, message: &str) -> Vec<u8> {
        let mut body = Vec::new();
        for (field, value) in [
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', code),
            (b'M', message),
        ] {
            body.push(field);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut msg = vec![b'E'];
        msg.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        msg.extend_from_slice(&body);
        msg
    }

    /// An ERR packet as a MySQL/MariaDB server sends it (sequence 0).
    fn mysql_err_packet(number: u16, sqlstate: &str, message: &str) -> Vec<u8> {
        let mut payload = vec![0xff];
        payload.extend_from_slice(&number.to_le_bytes());
        payload.push(b'#');
        payload.extend_from_slice(sqlstate.as_bytes());
        payload.extend_from_slice(message.as_bytes());
        let len = payload.len() as u32;
        let mut packet = len.to_le_bytes()[..3].to_vec();
        packet.push(0);
        packet.extend_from_slice(&payload);
        packet
    }

    /// What sqlx's PostgreSQL driver returns when the server sends `code`.
    async fn postgres_error(code: &str, message: &str) -> sqlx::Error {
        let port = answering_server(true, pg_error_response(code, message));
        let err = PgConnection::connect(&format!(
            "postgres://ota@127.0.0.1:{port}/ota?sslmode=disable"
        ))
        .await
        .expect_err("the server answers with an error");
        // The driver's own type, with the code the server sent.
        let sqlx::Error::Database(db) = &err else {
            panic!("not a database error: {err:?}");
        };
        assert_eq!(
            db.try_downcast_ref::<PgDatabaseError>().map(|e| e.code()),
            Some(code),
            "{err:?}"
        );
        err
    }

    /// What sqlx's MySQL driver returns when the server sends error
    /// `number` with `sqlstate`.
    async fn mysql_error(number: u16, sqlstate: &str, message: &str) -> sqlx::Error {
        let port = answering_server(false, mysql_err_packet(number, sqlstate, message));
        let err = MySqlConnection::connect(&format!(
            "mysql://ota@127.0.0.1:{port}/ota?ssl-mode=disabled"
        ))
        .await
        .expect_err("the server answers with an error");
        let sqlx::Error::Database(db) = &err else {
            panic!("not a database error: {err:?}");
        };
        assert_eq!(
            db.try_downcast_ref::<MySqlDatabaseError>()
                .map(|e| (e.number(), e.code())),
            Some((number, Some(sqlstate))),
            "{err:?}"
        );
        err
    }

    /// The error wrapped as SeaORM wraps it for a statement (exec and
    /// query) and for a connection; `is_transient` must judge all alike.
    fn as_db_errs(err: sqlx::Error) -> [DbErr; 3] {
        let err = std::sync::Arc::new(err);
        [
            DbErr::Exec(RuntimeErr::SqlxError(err.clone())),
            DbErr::Query(RuntimeErr::SqlxError(err.clone())),
            DbErr::Conn(RuntimeErr::SqlxError(err)),
        ]
    }

    fn assert_transient(err: sqlx::Error, transient: bool, what: &str) {
        for e in as_db_errs(err) {
            assert_eq!(is_transient(&e), transient, "{what}: {e:?}");
        }
    }

    #[tokio::test]
    async fn postgres_aborts_a_retry_cures_are_transient() {
        for (code, message) in [
            (
                "40001",
                "could not serialize access due to concurrent update",
            ),
            ("40P01", "deadlock detected"),
            (
                "57P01",
                "terminating connection due to administrator command",
            ),
            ("08006", "connection failure"),
        ] {
            assert_transient(postgres_error(code, message).await, true, code);
        }
    }

    #[tokio::test]
    async fn postgres_errors_a_retry_repeats_are_not_transient() {
        for (code, message) in [
            (
                "23505",
                "duplicate key value violates unique constraint \"uq_firmware_tenant_version\"",
            ),
            ("42501", "permission denied for table tenants"),
            ("25006", "cannot execute INSERT in a read-only transaction"),
            ("57014", "canceling statement due to statement timeout"),
        ] {
            assert_transient(postgres_error(code, message).await, false, code);
        }
    }

    #[tokio::test]
    async fn mysql_deadlock_and_lost_connection_are_transient() {
        assert_transient(
            mysql_error(
                1213,
                "40001",
                "Deadlock found when trying to get lock; try restarting transaction",
            )
            .await,
            true,
            "1213",
        );
        assert_transient(
            mysql_error(2013, "08S01", "Lost connection to server during query").await,
            true,
            "2013",
        );
    }

    #[tokio::test]
    async fn a_galera_cluster_regrouping_is_transient_and_other_commit_errors_are_not() {
        // As MariaDB 10.11 reports it at COMMIT while a node has just left.
        assert_transient(
            mysql_error(
                1180,
                "HY000",
                "Error while appending streaming replication fragment(provider status: Not \
                 connected to Primary Component)",
            )
            .await,
            true,
            "1180 not connected to the primary component",
        );
        assert_transient(
            mysql_error(
                1047,
                "08S01",
                "WSREP has not yet prepared node for application use",
            )
            .await,
            true,
            "1047",
        );
        // The same number for another reason (a storage engine's failure).
        assert_transient(
            mysql_error(
                1180,
                "HY000",
                "Got error 28 \"No space left on device\" during COMMIT",
            )
            .await,
            false,
            "1180 no space",
        );
    }

    #[tokio::test]
    async fn mysql_packet_too_large_is_not_a_lost_connection() {
        // MariaDB reports it under the SQLSTATE of a connection failure,
        // but sending the statement again fails the same way.
        assert_transient(
            mysql_error(
                1153,
                "08S01",
                "Got a packet bigger than 'max_allowed_packet' bytes",
            )
            .await,
            false,
            "1153",
        );
        assert_transient(
            mysql_error(
                1301,
                "HY000",
                "Result of repeat() was larger than max_allowed_packet (1024) - truncated",
            )
            .await,
            false,
            "1301",
        );
        // A proxy passing the server's text on under a number of its own.
        assert_transient(
            mysql_error(
                1105,
                "08S01",
                "Got a packet bigger than 'max_allowed_packet' bytes",
            )
            .await,
            false,
            "1105 with the packet text",
        );
    }

    #[tokio::test]
    async fn mysql_duplicate_key_is_not_transient() {
        assert_transient(
            mysql_error(
                1062,
                "23000",
                "Duplicate entry 'tenant-a-1.1.0-sensor' for key 'uq_firmware_tenant_version'",
            )
            .await,
            false,
            "1062",
        );
    }

    #[tokio::test]
    async fn io_errors_of_a_lost_connection_are_transient() {
        // Refused: a port nobody listens on any more.
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address").port()
        };
        let refused = PgConnection::connect(&format!(
            "postgres://ota@127.0.0.1:{port}/ota?sslmode=disable"
        ))
        .await
        .expect_err("nobody listens");
        assert!(matches!(refused, sqlx::Error::Io(_)), "{refused:?}");
        assert_transient(refused, true, "connection refused");

        // Reset: the server closes the connection mid-conversation.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut first = [0u8; 8];
                let _ = stream.read_exact(&mut first);
                drop(stream);
            }
        });
        let dropped = PgConnection::connect(&format!(
            "postgres://ota@127.0.0.1:{port}/ota?sslmode=disable"
        ))
        .await
        .expect_err("the server hung up");
        assert!(matches!(dropped, sqlx::Error::Io(_)), "{dropped:?}");
        assert_transient(dropped, true, "connection closed by the server");
    }

    /// A server that went away (refused, or no connection from the pool
    /// in time) ends the retries; a connection that failed mid-way is a
    /// connection failure, retried; a deadlock is neither.
    #[tokio::test]
    async fn a_server_that_went_away_is_unreachable_and_a_deadlock_is_not() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address").port()
        };
        let refused = MySqlConnection::connect(&format!(
            "mysql://ota@127.0.0.1:{port}/ota?ssl-mode=disabled"
        ))
        .await
        .expect_err("nobody listens");
        for err in as_db_errs(refused) {
            assert!(is_unreachable(&err), "{err:?}");
            assert!(is_connection_failure(&err), "{err:?}");
        }
        // SeaORM's pool and sqlx's pool, when no connection came in time.
        let acquire = DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout);
        assert!(is_unreachable(&acquire));
        for err in as_db_errs(sqlx::Error::PoolTimedOut) {
            assert!(is_unreachable(&err), "{err:?}");
        }

        let lost = mysql_error(2013, "08S01", "Lost connection to server during query").await;
        for err in as_db_errs(lost) {
            assert!(!is_unreachable(&err), "{err:?}");
            assert!(is_connection_failure(&err), "{err:?}");
        }
        let deadlock = mysql_error(
            1213,
            "40001",
            "Deadlock found when trying to get lock; try restarting transaction",
        )
        .await;
        for err in as_db_errs(deadlock) {
            assert!(!is_unreachable(&err), "{err:?}");
            assert!(!is_connection_failure(&err), "{err:?}");
        }
        let too_large = mysql_error(
            1153,
            "08S01",
            "Got a packet bigger than 'max_allowed_packet' bytes",
        )
        .await;
        for err in as_db_errs(too_large) {
            assert!(!is_connection_failure(&err), "{err:?}");
        }
    }

    #[tokio::test]
    async fn a_real_unique_violation_is_not_transient() {
        let mut conn = SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        sqlx::query("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .execute(&mut conn)
            .await
            .expect("create");
        sqlx::query("INSERT INTO t VALUES ('a')")
            .execute(&mut conn)
            .await
            .expect("first insert");
        let err = sqlx::query("INSERT INTO t VALUES ('a')")
            .execute(&mut conn)
            .await
            .expect_err("a duplicate key");
        let sqlx::Error::Database(db) = &err else {
            panic!("not a database error: {err:?}");
        };
        assert!(db.try_downcast_ref::<SqliteError>().is_some(), "{err:?}");
        assert_eq!(db.kind(), sqlx::error::ErrorKind::UniqueViolation);
        assert_transient(err, false, "SQLite unique violation");
    }

    #[test]
    fn errors_that_are_not_the_database_s_are_not_transient() {
        assert!(!is_transient(&DbErr::Custom("nope".into())));
        assert!(!is_transient(&DbErr::RecordNotFound("x".into())));
        assert!(!is_transient(&DbErr::Exec(RuntimeErr::Internal(
            "connection reset".into()
        ))));
    }
}
