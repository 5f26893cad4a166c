//! Transactions, and the session settings (`connect::Session`) every one
//! of them carries.
//!
//! Every statement of a run (schema inspection, seeding, verification)
//! runs inside one of these transactions, so that settings made
//! transaction-local hold for all of it and leak into nothing else: a
//! pooled server connection (PgBouncer in transaction mode) is handed to
//! other clients between our transactions. (The migrations run on a
//! connection of their own, which holds the migration lock, with the same
//! settings: see `schema`.)
//!
//! On PostgreSQL the transaction is sqlx's own, and every statement is sent
//! as an unnamed prepared statement (`persistent(false)`). SeaORM's
//! connection would prepare named statements (`sqlx_s_1`, ...) that outlive
//! the transaction on the server connection, which a transaction-pooling
//! PgBouncer then gives to another client: "prepared statement sqlx_s_1
//! already exists". Inside a transaction the server connection stays ours
//! between the Parse and the Execute of an unnamed statement.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::PgRow;
use sea_orm::sqlx::{self, AssertSqlSafe, Postgres};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, ExecResult, IsolationLevel,
    QueryResult, RuntimeErr, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait,
};
use sea_query_sqlx::SqlxValues;

use super::connect::{Db, Pool, Session};
use crate::ahead::send_while_building;
use crate::retry::NoAnswer;

/// What a transaction may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Seeding and migrating. The access mode is the database's default, so
    /// a database that is read-only by default still refuses the writes
    /// (see `preflight`); each statement sees the rows committed before it
    /// (READ COMMITTED, set explicitly whatever the role's default); SQLite
    /// takes its write lock at BEGIN.
    Write,
    /// Reading one consistent snapshot (REPEATABLE READ, READ ONLY).
    Read,
}

/// An open transaction of the run; statements run through it as through
/// any SeaORM connection.
///
/// Every wait for the server's answer (a statement, a COPY, a streamed
/// read, COMMIT) is bounded on the seeder's side too, by the statement
/// timeout plus [`ANSWER_GRACE`]: the server's own timeouts end a statement
/// it is running, but not a server that stopped answering (a stopped
/// process, a network that drops packets, a Galera cluster that stopped
/// replicating, where COMMIT waits for certification without end). Past
/// the bound the call fails with [`NoAnswer`], which is never retried.
pub struct Txn {
    conn: TxnConn,
    /// `None`: no statement timeout, no bound.
    answer_limit: Option<Duration>,
}

enum TxnConn {
    /// SQLite and MySQL/MariaDB: SeaORM's own transaction.
    Orm(DatabaseTransaction),
    /// PostgreSQL: sqlx's transaction, unnamed statements only.
    Pg(PgTxn),
}

/// How much longer than the statement timeout the seeder waits for an
/// answer before it gives up on the server. Where the server enforces the
/// timeout (a statement on PostgreSQL and MariaDB, a lock wait), its own
/// error comes first; COMMIT, and MySQL's writes, have no server-side
/// limit, and this bound is their only one.
pub const ANSWER_GRACE: Duration = Duration::from_secs(10);

/// Awaits `answer`, at most `limit` when there is one.
async fn answered<T>(
    limit: Option<Duration>,
    answer: impl std::future::Future<Output = Result<T, DbErr>>,
) -> Result<T, DbErr> {
    let Some(limit) = limit else {
        return answer.await;
    };
    match tokio::time::timeout(limit, answer).await {
        Ok(result) => result,
        Err(_) => Err(conn_err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            NoAnswer { waited: limit },
        )))),
    }
}

pub struct PgTxn {
    conn: tokio::sync::Mutex<sqlx::Transaction<'static, Postgres>>,
}

impl Db {
    /// Opens a transaction with the run's settings, scoped to `tenant` for
    /// PostgreSQL's tenant-isolation policies (`app.tenant_id`) when given.
    pub async fn begin(&self, access: Access, tenant: Option<&str>) -> Result<Txn, DbErr> {
        let limit = self.answer_limit();
        // Waiting for a pooled connection has its own bound (the acquire
        // timeout, whose error says the server is unreachable): BEGIN's
        // answer is waited for on top of it.
        let begin_limit = limit.map(|l| l + self.acquire_timeout());
        answered(begin_limit, self.begin_unbounded(access, tenant, limit)).await
    }

    /// The seeder-side bound on waiting for an answer: the statement
    /// timeout plus [`ANSWER_GRACE`]; none without a statement timeout, or
    /// on SQLite (no server to stop answering; its waits are bounded by
    /// the busy timeout).
    fn answer_limit(&self) -> Option<Duration> {
        match self.backend {
            DbBackend::Sqlite => None,
            _ => self.session.statement_timeout.map(|t| t + ANSWER_GRACE),
        }
    }

    fn acquire_timeout(&self) -> Duration {
        match &self.pool {
            Pool::Pg(pool) => pool.options().get_acquire_timeout(),
            Pool::Orm(conn) => match &conn.inner {
                sea_orm::DatabaseConnectionType::SqlxMySqlPoolConnection(_) => conn
                    .get_mysql_connection_pool()
                    .options()
                    .get_acquire_timeout(),
                _ => Duration::ZERO,
            },
        }
    }

    async fn begin_unbounded(
        &self,
        access: Access,
        tenant: Option<&str>,
        answer_limit: Option<Duration>,
    ) -> Result<Txn, DbErr> {
        match &self.pool {
            Pool::Pg(pool) => {
                let sql = pg_begin_sql(access, &self.session);
                let txn = pool
                    .begin_with(AssertSqlSafe(sql))
                    .await
                    .map_err(conn_err)?;
                let txn = Txn {
                    conn: TxnConn::Pg(PgTxn {
                        conn: tokio::sync::Mutex::new(txn),
                    }),
                    answer_limit,
                };
                // The same helper application code uses (entity crate), so
                // the seeder and the platform scope tenants one way.
                if let Some(tenant) = tenant {
                    entity::tenant_scope::scope_to_tenant(&txn, tenant).await?;
                }
                Ok(txn)
            }
            Pool::Orm(db) => {
                let backend = self.backend;
                let options = match (access, backend) {
                    (Access::Write, DbBackend::MySql) => TransactionOptions {
                        // MySQL's default REPEATABLE READ would keep reading
                        // the snapshot taken before another seeder's commit.
                        isolation_level: Some(IsolationLevel::ReadCommitted),
                        ..TransactionOptions::default()
                    },
                    (Access::Write, _) => TransactionOptions {
                        // Concurrent seeders queue on the busy timeout
                        // instead of failing with "database is locked".
                        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    },
                    (Access::Read, DbBackend::MySql) => TransactionOptions {
                        isolation_level: Some(IsolationLevel::RepeatableRead),
                        access_mode: Some(AccessMode::ReadOnly),
                        sqlite_transaction_mode: None,
                    },
                    // SQLite's read transactions are snapshots already.
                    (Access::Read, _) => TransactionOptions::default(),
                };
                let txn = db.begin_with_options(options).await?;
                if backend == DbBackend::MySql {
                    txn.execute_unprepared(&mysql_session_sql(&self.session))
                        .await?;
                }
                Ok(Txn {
                    conn: TxnConn::Orm(txn),
                    answer_limit,
                })
            }
        }
    }
}

/// `BEGIN` and the transaction's settings in one simple-protocol message,
/// so that not even the moment after `BEGIN` runs under the role's
/// `idle_in_transaction_session_timeout`.
fn pg_begin_sql(access: Access, session: &Session) -> String {
    // Set explicitly: a role's default_transaction_isolation (REPEATABLE
    // READ, SERIALIZABLE) would keep a waiter on a lock reading the
    // snapshot taken before the holder committed.
    let begin = match access {
        Access::Write => "BEGIN ISOLATION LEVEL READ COMMITTED",
        Access::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    format!("{begin}; {}", pg_settings_sql(session))
}

/// The run's settings for the current PostgreSQL transaction, as one
/// `SELECT set_config(.., true)`: transaction-local, so nothing outlives
/// the transaction on a pooled server connection.
pub(super) fn pg_settings_sql(session: &Session) -> String {
    let millis = session
        .statement_timeout
        .map_or(0, |t| t.as_millis().min(i32::MAX as u128))
        .to_string();
    let mut settings: Vec<(&str, &str)> = vec![
        ("statement_timeout", &millis),
        ("lock_timeout", &millis),
        ("idle_in_transaction_session_timeout", &millis),
    ];
    if let Some(path) = &session.search_path {
        settings.push(("search_path", path));
    }
    let mut calls: Vec<String> = settings
        .iter()
        .map(|(name, value)| format!("set_config('{name}', {}, true)", pg_literal(value)))
        .collect();
    // A batch reads a few thousand keys of tables that may hold millions.
    // At the default cost of a random page (4, for spinning disks) the
    // planner scans the whole table for a list of 1,000 tenants instead of
    // probing the primary key, so each batch cost as much as the table and
    // a run grew with tenants × rows. Only lowered: a smaller setting of
    // the role's or database's stays.
    calls.push(
        "set_config('random_page_cost', \
         least(current_setting('random_page_cost')::float8, 1.1)::text, true)"
            .to_owned(),
    );
    format!("SELECT {}", calls.join(", "))
}

/// A PostgreSQL string literal for any text: `E'...'` with backslashes and
/// quotes escaped reads the same whatever `standard_conforming_strings` is.
pub(super) fn pg_literal(value: &str) -> String {
    format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// MySQL/MariaDB have no transaction-local settings: the session's are set
/// at the start of each transaction instead.
pub(super) fn mysql_session_sql(session: &Session) -> String {
    let secs = session.statement_timeout.map_or(0, |t| t.as_secs().max(1));
    // innodb_lock_wait_timeout has no "unlimited"; its maximum stands in.
    let lock_wait = if secs == 0 { 1_073_741_824 } else { secs };
    if session.galera {
        // 1: reads (SELECT, SHOW) wait until this node has applied every
        // transaction the cluster committed before them.
        format!(
            "SET SESSION max_statement_time = {secs}, innodb_lock_wait_timeout = {lock_wait}, \
             wsrep_sync_wait = 1"
        )
    } else if session.mariadb {
        format!("SET SESSION max_statement_time = {secs}, innodb_lock_wait_timeout = {lock_wait}")
    } else {
        format!("SET SESSION innodb_lock_wait_timeout = {lock_wait}")
    }
}

impl Txn {
    pub async fn commit(self) -> Result<(), DbErr> {
        let commit = async move {
            match self.conn {
                TxnConn::Orm(txn) => txn.commit().await,
                TxnConn::Pg(txn) => txn.conn.into_inner().commit().await.map_err(exec_err),
            }
        };
        answered(self.answer_limit, commit).await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        let rollback = async move {
            match self.conn {
                TxnConn::Orm(txn) => txn.rollback().await,
                TxnConn::Pg(txn) => txn.conn.into_inner().rollback().await.map_err(exec_err),
            }
        };
        answered(self.answer_limit, rollback).await
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for Txn {
    fn get_database_backend(&self) -> DbBackend {
        match &self.conn {
            TxnConn::Orm(txn) => txn.get_database_backend(),
            TxnConn::Pg(_) => DbBackend::Postgres,
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        answered(self.answer_limit, async {
            match &self.conn {
                TxnConn::Orm(txn) => txn.execute_raw(stmt).await,
                TxnConn::Pg(txn) => txn.execute_raw(stmt).await,
            }
        })
        .await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        answered(self.answer_limit, async {
            match &self.conn {
                TxnConn::Orm(txn) => txn.execute_unprepared(sql).await,
                TxnConn::Pg(txn) => {
                    txn.execute_raw(Statement::from_string(DbBackend::Postgres, sql))
                        .await
                }
            }
        })
        .await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        answered(self.answer_limit, async {
            match &self.conn {
                TxnConn::Orm(txn) => txn.query_one_raw(stmt).await,
                TxnConn::Pg(txn) => Ok(txn.query_all_raw(stmt).await?.into_iter().next()),
            }
        })
        .await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        answered(self.answer_limit, async {
            match &self.conn {
                TxnConn::Orm(txn) => txn.query_all_raw(stmt).await,
                TxnConn::Pg(txn) => txn.query_all_raw(stmt).await,
            }
        })
        .await
    }
}

impl Txn {
    /// PostgreSQL only: `COPY … FROM STDIN` (`copy_sql`) inside this
    /// transaction, fed by `next_chunk` (which appends text-format rows to
    /// the empty buffer it is given and says whether it appended any)
    /// until it runs dry; returns the rows copied. `None` on other
    /// backends, where the caller inserts instead. An error from
    /// `next_chunk` aborts the COPY (the transaction is then failed, as on
    /// any error) and is returned as it is.
    pub async fn copy_in<F>(&self, copy_sql: &str, next_chunk: F) -> Result<Option<u64>, DbErr>
    where
        F: FnMut(&mut Vec<u8>) -> Result<bool, DbErr> + Send,
    {
        let TxnConn::Pg(txn) = &self.conn else {
            return Ok(None);
        };
        // The whole COPY: the server's statement timeout bounds it whole too.
        answered(self.answer_limit, txn.copy_in(copy_sql, next_chunk)).await
    }
}

impl PgTxn {
    async fn copy_in<F>(&self, copy_sql: &str, mut next_chunk: F) -> Result<Option<u64>, DbErr>
    where
        F: FnMut(&mut Vec<u8>) -> Result<bool, DbErr> + Send,
    {
        let mut conn = self.conn.lock().await;
        let mut copy = conn.copy_in_raw(copy_sql).await.map_err(exec_err)?;
        // Two buffers, filled in turn and reused: a fleet's chunks take the
        // same memory as its first two, rather than a new allocation each.
        let (mut sending, mut filling) = (Vec::new(), Vec::new());
        let mut next = next_chunk(&mut sending);
        loop {
            match next {
                Ok(true) => {
                    // The next chunk is encoded while this one is written
                    // and the server parses it (see `ahead`).
                    filling.clear();
                    let (sent, built) = send_while_building(copy.send(sending.as_slice()), || {
                        next_chunk(&mut filling)
                    })
                    .await;
                    sent.map_err(exec_err)?;
                    next = built;
                    std::mem::swap(&mut sending, &mut filling);
                }
                Ok(false) => break,
                Err(e) => {
                    // Tell the server, so the connection is usable for the
                    // rollback that follows.
                    let _ = copy.abort(e.to_string()).await;
                    return Err(e);
                }
            }
        }
        copy.finish().await.map(Some).map_err(exec_err)
    }
}

impl Txn {
    /// PostgreSQL only: runs `stmt`, whose first column is text, and hands
    /// each row's value to `each` as the rows arrive, holding none of them;
    /// returns whether it ran (`false` on other backends: the caller reads
    /// another way). A million device ids take one buffer, not a million
    /// rows at once.
    pub async fn for_each_text<F>(&self, stmt: Statement, each: F) -> Result<bool, DbErr>
    where
        F: FnMut(&str) + Send,
    {
        let TxnConn::Pg(txn) = &self.conn else {
            return Ok(false);
        };
        answered(self.answer_limit, txn.for_each_text(stmt, each)).await
    }
}

impl PgTxn {
    async fn for_each_text<F>(&self, stmt: Statement, mut each: F) -> Result<bool, DbErr>
    where
        F: FnMut(&str) + Send,
    {
        use futures_util::TryStreamExt as _;
        use sea_orm::sqlx::Row as _;
        let mut conn = self.conn.lock().await;
        let values = stmt.values.unwrap_or(sea_orm::Values(Vec::new()));
        let mut rows = sqlx::query_with(AssertSqlSafe(stmt.sql), SqlxValues(values))
            .persistent(false)
            .fetch(&mut **conn);
        while let Some(row) = rows.try_next().await.map_err(query_err)? {
            each(row.try_get::<&str, _>(0).map_err(query_err)?);
        }
        Ok(true)
    }
}

impl PgTxn {
    /// A statement with values goes out as an unnamed prepared statement;
    /// one without (DDL, `execute_unprepared`) by the simple protocol, which
    /// also allows several statements in one string.
    pub(super) async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        let mut conn = self.conn.lock().await;
        let result = match stmt.values {
            Some(values) => {
                sqlx::query_with(AssertSqlSafe(stmt.sql), SqlxValues(values))
                    .persistent(false)
                    .execute(&mut **conn)
                    .await
            }
            None => {
                sqlx::raw_sql(AssertSqlSafe(stmt.sql))
                    .execute(&mut **conn)
                    .await
            }
        };
        result.map(ExecResult::from).map_err(exec_err)
    }

    pub(super) async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        let rows = self.fetch_rows(stmt).await?;
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }

    pub(super) async fn fetch_rows(&self, stmt: Statement) -> Result<Vec<PgRow>, DbErr> {
        let mut conn = self.conn.lock().await;
        let rows = match stmt.values {
            Some(values) => {
                sqlx::query_with(AssertSqlSafe(stmt.sql), SqlxValues(values))
                    .persistent(false)
                    .fetch_all(&mut **conn)
                    .await
            }
            None => {
                sqlx::raw_sql(AssertSqlSafe(stmt.sql))
                    .fetch_all(&mut **conn)
                    .await
            }
        };
        rows.map_err(query_err)
    }
}

// SeaORM's own mapping of driver errors, so that retry classification and
// `DbErr::sql_err` see the same shapes on every backend.
fn exec_err(e: sqlx::Error) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(Arc::new(e)))
}

fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(e)))
}

pub(super) fn conn_err(e: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(Arc::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_that_never_answers_fails_the_call_once_the_bound_is_past() {
        let limit = Duration::from_millis(50);
        let started = std::time::Instant::now();
        let err = answered(limit.into(), std::future::pending::<Result<(), DbErr>>())
            .await
            .expect_err("a call the server never answers must fail");
        assert!(started.elapsed() >= limit, "{:?}", started.elapsed());
        assert_eq!(
            crate::retry::no_answer(&err),
            Some(NoAnswer { waited: limit }),
            "{err}"
        );
        assert!(!crate::retry::is_transient(&err), "never retried: {err}");
        assert!(
            err.to_string()
                .contains("the database server sent no answer within 0 s"),
            "{err}"
        );
        // An answer within the bound, and no bound at all, pass through.
        assert_eq!(answered(Some(limit), async { Ok(7) }).await, Ok(7));
        assert_eq!(answered(None, async { Ok(8) }).await, Ok(8));
    }

    #[test]
    fn literals_survive_quotes_and_backslashes() {
        assert_eq!(pg_literal("tenant-a"), "E'tenant-a'");
        assert_eq!(pg_literal(r"a'b\c"), r"E'a''b\\c'");
    }

    #[test]
    fn begin_carries_every_setting_transaction_locally() {
        let session = Session {
            pg_schema: Some("ota".to_owned()),
            search_path: Some("\"ota\", \"$user\", public".to_owned()),
            statement_timeout: Some(Duration::from_secs(30)),
            mariadb: false,
            galera: false,
        };
        assert_eq!(
            pg_begin_sql(Access::Read, &session),
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT \
             set_config('statement_timeout', E'30000', true), \
             set_config('lock_timeout', E'30000', true), \
             set_config('idle_in_transaction_session_timeout', E'30000', true), \
             set_config('search_path', E'\"ota\", \"$user\", public', true), \
             set_config('random_page_cost', \
             least(current_setting('random_page_cost')::float8, 1.1)::text, true)"
        );
        let none = Session::default();
        assert!(
            pg_begin_sql(Access::Write, &none)
                .starts_with("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT set_config('statement_timeout', E'0', true)")
        );
    }
}
