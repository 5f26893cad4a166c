//! The schema a run works on: where the OTA tables are (PostgreSQL's
//! search_path, or `--schema`), whose they are (ours, with a migration
//! history, or the platform's own), whether they can be seeded as they are
//! (`inspect`), and bringing ours up to date.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};

use super::connect::Db;
use super::galera;
use super::inspect;
use super::txn::{Access, Txn, mysql_session_sql, pg_literal, pg_settings_sql};
use crate::cancel::{Cancel, Phase};
use crate::error::SeedError;
use crate::report::{SchemaOrigin, SchemaReport};
use crate::table::Table;

/// The tables the seeder fills, as the database names them.
fn ota_tables() -> [&'static str; 5] {
    Table::ALL.map(Table::table_name)
}

const HISTORY_TABLE: &str = "seaql_migrations";

/// Longest a seeder waits for another one's migrations (MySQL/MariaDB).
const MIGRATION_LOCK_WAIT: Duration = Duration::from_secs(600);

/// What a run intends to do with the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaUse {
    /// Seeding: apply pending migrations when `migrate`, else insist there
    /// are none.
    Seed { migrate: bool },
    /// `verify`: read only; pending migrations are an error.
    Verify,
    /// `--dry-run`: read only; say what would be applied.
    DryRun { migrate: bool },
}

/// What the database holds before anything is done.
#[derive(Debug, Clone)]
struct SchemaState {
    /// ota-seed's migration history: a `seaql_migrations` table naming at
    /// least one of our migrations.
    history: Option<Vec<String>>,
    /// A `seaql_migrations` table of another application (none of its
    /// migrations is ours), with its first few entries.
    foreign_history: Option<Vec<String>>,
    tables: Vec<&'static str>,
}

impl SchemaState {
    fn pending(&self) -> Vec<String> {
        let applied = self.history.as_deref().unwrap_or_default();
        migration::known_migration_names()
            .into_iter()
            .filter(|k| !applied.contains(k))
            .collect()
    }

    fn unknown(&self) -> Vec<String> {
        let known = migration::known_migration_names();
        self.history
            .iter()
            .flatten()
            .filter(|a| !known.contains(a))
            .cloned()
            .collect()
    }
}

/// Finds the schema (PostgreSQL), judges it, and applies what is pending
/// when `usage` allows it. Refuses a schema migrated by a newer ota-seed, a
/// schema with pending migrations that may not be applied, and tables that
/// cannot be seeded as they are.
pub async fn prepare_schema(
    db: &mut Db,
    target: &str,
    usage: SchemaUse,
    pg_schema: Option<&str>,
    timeout: Duration,
    interrupt: &Cancel,
) -> Result<SchemaReport, SeedError> {
    let reading = |e| SeedError::database("reading the schema", e);
    if db.backend == DbBackend::Postgres {
        locate_pg_schema(db, target, pg_schema).await?;
    }
    let state = read_state(db).await.map_err(reading)?;
    let unknown = state.unknown();
    if !unknown.is_empty() {
        return Err(SeedError::SchemaNewer {
            target: target.to_owned(),
            unknown: unknown.join(", "),
        });
    }
    if let (Some(theirs), true) = (&state.foreign_history, state.tables.is_empty()) {
        // Our migrator would record its migrations in that table, and that
        // application's migrator would then fail on versions it lacks.
        return Err(SeedError::ForeignHistory {
            target: target.to_owned(),
            theirs: theirs.join(", "),
        });
    }
    let ours = state.history.is_some() || state.tables.is_empty();
    let pending = if ours { state.pending().len() } else { 0 };
    let mut report = SchemaReport {
        origin: if !ours {
            SchemaOrigin::Unmanaged
        } else if state.tables.is_empty() {
            SchemaOrigin::Created
        } else {
            SchemaOrigin::Managed
        },
        applied: 0,
        pending,
        tables: state.tables.clone(),
        pg_schema: db.session.pg_schema.clone(),
    };
    if pending > 0 {
        match usage {
            SchemaUse::Seed { migrate: true } => {
                report.applied = migrate(db, timeout, interrupt).await?;
                report.pending = 0;
                report.tables = read_state(db).await.map_err(reading)?.tables;
            }
            SchemaUse::DryRun { migrate: true } => return Ok(report),
            _ => {
                return Err(SeedError::SchemaMissing {
                    target: target.to_owned(),
                    pending,
                    known: migration::known_migration_names().len(),
                });
            }
        }
    }
    let txn = db.begin(Access::Read, None).await.map_err(reading)?;
    let problems = inspect::problems(&txn).await.map_err(reading)?;
    txn.commit().await.map_err(reading)?;
    if !problems.is_empty() {
        return Err(SeedError::SchemaIncompatible {
            target: target.to_owned(),
            problems,
        });
    }
    Ok(report)
}

/// PostgreSQL: the schema the run works in, made the first entry of every
/// transaction's search_path. `--schema` names it; otherwise it is where the
/// OTA tables resolve through the session's own search_path (as psql would
/// find them), or, with none of them there yet, the schema in which
/// unqualified CREATE TABLE would put them.
async fn locate_pg_schema(db: &mut Db, target: &str, named: Option<&str>) -> Result<(), SeedError> {
    let reading = |e| SeedError::database("finding the OTA tables' schema", e);
    let txn = db.begin(Access::Read, None).await.map_err(reading)?;
    // The five tables decide; a history table may belong to another
    // application anywhere on the path.
    let names: Vec<String> = ota_tables()
        .iter()
        .map(|t| format!("to_regclass({})", pg_literal(t)))
        .collect();
    let rows = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT c.relname::text AS name, n.nspname::text AS schema \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.oid IN ({}) ORDER BY 2, 1",
                names.join(", ")
            ),
        ))
        .await
        .map_err(reading)?;
    let found: Vec<(String, String)> = rows
        .iter()
        .map(|r| Ok((r.try_get("", "name")?, r.try_get("", "schema")?)))
        .collect::<Result<_, DbErr>>()
        .map_err(reading)?;
    let settings = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_schema()::text AS current, current_setting('search_path') AS path",
        ))
        .await
        .map_err(reading)?
        .ok_or_else(|| reading(DbErr::RecordNotFound("current_schema()".to_owned())))?;
    let current: Option<String> = settings.try_get("", "current").map_err(reading)?;
    let path: String = settings.try_get("", "path").map_err(reading)?;
    let schema = match named {
        Some(name) => {
            let exists = txn
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT 1 AS one FROM pg_namespace WHERE nspname = $1",
                    [name.into()],
                ))
                .await
                .map_err(reading)?
                .is_some();
            if !exists {
                return Err(SeedError::NoSuchSchema {
                    target: target.to_owned(),
                    schema: name.to_owned(),
                });
            }
            name.to_owned()
        }
        None => {
            let mut schemas: Vec<&str> = found.iter().map(|(_, s)| s.as_str()).collect();
            schemas.dedup();
            match (schemas.as_slice(), current) {
                ([one], _) => (*one).to_owned(),
                ([], Some(current)) => current,
                ([], None) => {
                    return Err(SeedError::NoSchemaOnPath {
                        target: target.to_owned(),
                        search_path: path,
                    });
                }
                (_, _) => {
                    let spread = found
                        .iter()
                        .map(|(t, s)| format!("{t} in {s}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(SeedError::SchemaSpread {
                        target: target.to_owned(),
                        spread,
                    });
                }
            }
        }
    };
    txn.commit().await.map_err(reading)?;
    db.session.search_path = Some(format!("{}, {path}", quote_ident(&schema)));
    db.session.pg_schema = Some(schema);
    Ok(())
}

/// A PostgreSQL identifier, quoted.
pub(super) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Which OTA tables and which migrations the database holds, read in one
/// read-only transaction (in the run's schema on PostgreSQL).
async fn read_state(db: &Db) -> Result<SchemaState, DbErr> {
    let txn = db.begin(Access::Read, None).await?;
    let present = present_tables(&txn).await?;
    let recorded: Option<Vec<String>> = if present.iter().any(|t| t == HISTORY_TABLE) {
        let rows = txn
            .query_all_raw(Statement::from_string(
                db.backend,
                format!("SELECT version FROM {HISTORY_TABLE} ORDER BY version"),
            ))
            .await?;
        Some(
            rows.iter()
                .map(|row| row.try_get::<String>("", "version"))
                .collect::<Result<_, _>>()?,
        )
    } else {
        None
    };
    txn.commit().await?;
    let known = migration::known_migration_names();
    let (history, foreign_history) = match recorded {
        // Empty: another seeder is creating it right now (the migrator
        // makes the table before its first migration).
        Some(versions) if versions.is_empty() || versions.iter().any(|v| known.contains(v)) => {
            (Some(versions), None)
        }
        Some(versions) => (None, Some(versions.into_iter().take(3).collect())),
        None => (None, None),
    };
    Ok(SchemaState {
        history,
        foreign_history,
        tables: ota_tables()
            .into_iter()
            .filter(|t| present.iter().any(|p| p == t))
            .collect(),
    })
}

/// Names of the tables (of interest) in the run's schema.
pub(super) async fn present_tables(txn: &Txn) -> Result<Vec<String>, DbErr> {
    let backend = txn.get_database_backend();
    let names = ota_tables()
        .iter()
        .chain([&HISTORY_TABLE])
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT c.relname::text AS name FROM pg_class c \
             WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) \
             AND c.relkind IN ('r', 'p') AND c.relname IN ({names})"
        ),
        DbBackend::MySql => format!(
            "SELECT TABLE_NAME AS name FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME IN ({names})"
        ),
        _ => format!("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({names})"),
    };
    txn.query_all_raw(Statement::from_string(backend, sql))
        .await?
        .iter()
        .map(|r| r.try_get::<String>("", "name"))
        .collect()
}

/// Applies what is pending; returns how many migrations that was.
///
/// Seeders started together on an empty database all find the schema
/// missing; they take turns. PostgreSQL: the whole migration is one
/// transaction holding a transaction-level advisory lock (a session lock
/// would not survive a transaction-pooling PgBouncer). MySQL/MariaDB: a
/// named lock held by a connection of its own that also runs the
/// migrations; on a Galera cluster, where named locks hold on one node, a
/// lock table instead (`galera::take_migration_lock`). SQLite serialises writers itself. Each re-reads the history
/// once it holds the lock, so the later ones find nothing left to do.
/// A cancelled run waits for the migrations (see `cancel`).
async fn migrate(db: &Db, timeout: Duration, interrupt: &Cancel) -> Result<usize, SeedError> {
    let applying = |e| SeedError::database("applying migrations", e);
    let _migrating = interrupt.enter(Phase::Migrating);
    match db.backend {
        DbBackend::Postgres => migrate_pg(db, timeout).await,
        DbBackend::MySql => {
            let conn = db.session_connection(timeout).await.map_err(applying)?;
            let conn = &conn;
            // The run's session settings first: a user's max_statement_time
            // would end the wait for the lock with NULL, not an error.
            let locked = async {
                conn.execute_unprepared(&mysql_session_sql(&db.session))
                    .await?;
                if db.session.galera {
                    // GET_LOCK holds on one node only.
                    return galera::take_migration_lock(conn, MIGRATION_LOCK_WAIT).await;
                }
                let granted = conn
                    .query_one_raw(Statement::from_string(
                        DbBackend::MySql,
                        format!(
                            "SELECT GET_LOCK('ota_seed_migrations', {}) AS granted",
                            MIGRATION_LOCK_WAIT.as_secs()
                        ),
                    ))
                    .await?
                    .and_then(|row| row.try_get::<Option<i64>>("", "granted").ok().flatten());
                match granted {
                    Some(1) => Ok(()),
                    _ => Err(DbErr::Custom(format!(
                        "the migration lock (GET_LOCK('ota_seed_migrations')) was not granted \
                         within {} s: another seeder may be migrating; try again when it has finished",
                        MIGRATION_LOCK_WAIT.as_secs()
                    ))),
                }
            }
            .await
            .map_err(|e| SeedError::database("waiting for the migration lock", e));
            let applied = match &locked {
                Ok(_) => apply_orm(conn).await.map_err(applying),
                Err(_) => Ok(0),
            };
            if locked.is_ok() {
                if db.session.galera {
                    // Our own lock table, taken above: dropped whatever the
                    // outcome, or every later migration would wait for it.
                    let released = galera::release_migration_lock(conn).await;
                    if let (Ok(_), Err(e)) = (&applied, released) {
                        let _ = conn.clone().close().await;
                        return Err(SeedError::database("releasing the migration lock", e));
                    }
                } else {
                    // Closing the session releases the lock too; unlocking
                    // first is tidier.
                    let _ = conn
                        .execute_unprepared("SELECT RELEASE_LOCK('ota_seed_migrations')")
                        .await;
                }
            }
            let _ = conn.clone().close().await;
            locked.and(applied)
        }
        _ => {
            let pending_before = read_state(db).await.ok().map(|s| s.pending().len());
            match apply_sqlite(&db.conn).await {
                Ok(n) => Ok(n),
                // SQLite has no lock to wait on: a seeder started at the
                // same moment may be applying the same migrations, and ours
                // then fail on its lock, or on a table or history row it
                // committed. Only then is there something to wait for: it
                // gets the caller's connect timeout to finish; if it does,
                // there is nothing to report. Any other error is reported
                // at once.
                Err(error) if another_migrator(db, &error, pending_before).await => {
                    let limit = sqlite_wait(&db.conn).max(Duration::from_secs(1));
                    let started = std::time::Instant::now();
                    while started.elapsed() < limit {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        if read_state(db)
                            .await
                            .is_ok_and(|s| s.history.is_some() && s.pending().is_empty())
                        {
                            return Ok(0);
                        }
                    }
                    Err(applying(error))
                }
                Err(error) => Err(applying(error)),
            }
        }
    }
}

/// Whether a failed SQLite migration may be another migrator's doing: its
/// lock on the file, or a table or history row of a migration that the
/// history now records and did not before this run's attempt.
async fn another_migrator(db: &Db, error: &DbErr, pending_before: Option<usize>) -> bool {
    let text = error.to_string();
    if text.contains("database is locked") {
        return true;
    }
    let collided = [
        "already exists",
        "UNIQUE constraint failed: seaql_migrations",
    ]
    .iter()
    .any(|sign| text.contains(sign));
    if !collided {
        return false;
    }
    let pending_now = read_state(db).await.ok().map(|s| s.pending().len());
    matches!((pending_before, pending_now), (Some(before), Some(now)) if now < before)
}

/// How long the caller lets a SQLite connection wait (its pool's acquire
/// timeout, which the command line sets to its connect timeout).
fn sqlite_wait(conn: &sea_orm::DatabaseConnection) -> Duration {
    match &conn.inner {
        sea_orm::DatabaseConnectionType::SqlxSqlitePoolConnection(_) => conn
            .get_sqlite_connection_pool()
            .options()
            .get_acquire_timeout(),
        _ => Duration::from_secs(10),
    }
}

/// PostgreSQL: SeaORM's migrator runs only on SeaORM's connection, whose
/// statements are named prepared statements (see `txn`). They stay safe
/// behind a transaction-pooling PgBouncer because the whole migration is
/// one transaction on a connection of its own (the server connection stays
/// ours throughout), sqlx's statement names are cleared on that server
/// connection when the transaction starts and before it ends, and the
/// connection is closed after. DDL is transactional here: a
/// failed migration leaves nothing behind.
async fn migrate_pg(db: &Db, timeout: Duration) -> Result<usize, SeedError> {
    let conn = db
        .session_connection(timeout)
        .await
        .map_err(|e| SeedError::database("opening a connection for the migrations", e))?;
    let migrated = async {
        let txn = conn.begin().await?;
        // One simple-protocol message: READ COMMITTED (so that a seeder that
        // waited for the lock reads the history its predecessor committed),
        // no statement another client left on this pooled server connection
        // under sqlx's names, the run's settings, the lock.
        txn.execute_unprepared(&format!(
            "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; {DEALLOCATE_SQLX}; {}; \
             SELECT pg_advisory_xact_lock(7246101301); SAVEPOINT ota_seed_migrate",
            pg_settings_sql(&db.session)
        ))
        .await?;
        let applied = apply_pending::<Migrator, _>(&txn).await;
        match applied {
            Ok(n) => {
                txn.execute_unprepared(DEALLOCATE_SQLX).await?;
                txn.commit().await?;
                Ok(n)
            }
            Err(e) => {
                // The migration's error is what the user needs; the clean-up
                // is best effort (the connection is closed below anyway).
                let _ = txn
                    .execute_unprepared(&format!(
                        "ROLLBACK TO SAVEPOINT ota_seed_migrate; {DEALLOCATE_SQLX}"
                    ))
                    .await;
                let _ = txn.rollback().await;
                Err(e)
            }
        }
    }
    .await;
    let _ = conn.close().await;
    migrated.map_err(|e| SeedError::database("applying migrations", e))
}

/// Deallocates this server connection's prepared statements named as sqlx
/// names them (`sqlx_s_1`, ...), and no others: a PgBouncer that tracks
/// prepared statements itself (1.21+) keeps its own under other names.
const DEALLOCATE_SQLX: &str = "DO $$DECLARE s text; BEGIN \
     FOR s IN SELECT name FROM pg_prepared_statements WHERE name LIKE 'sqlx\\_s\\_%' \
     LOOP EXECUTE format('DEALLOCATE %I', s); END LOOP; END$$";

/// SQLite and MySQL/MariaDB: SeaORM's migrator on SeaORM's connection
/// (migrations there cannot be rolled back anyway).
/// SQLite: every pending migration in one `BEGIN IMMEDIATE` transaction.
/// SQLite's DDL is transactional, so a migration that fails (e.g. a NOT
/// NULL column added without a default) leaves none of the run's earlier
/// migrations committed; and seeders racing on a first run queue on the
/// busy timeout, the later ones finding nothing pending.
async fn apply_sqlite(conn: &DatabaseConnection) -> Result<usize, DbErr> {
    apply_sqlite_with::<Migrator>(conn).await
}

async fn apply_sqlite_with<M: MigratorTrait>(conn: &DatabaseConnection) -> Result<usize, DbErr> {
    let txn = conn
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        })
        .await?;
    let applied = apply_pending::<M, _>(&txn).await;
    match applied {
        Ok(n) => {
            txn.commit().await?;
            Ok(n)
        }
        Err(e) => {
            let _ = txn.rollback().await;
            Err(e)
        }
    }
}

async fn apply_orm(conn: &DatabaseConnection) -> Result<usize, DbErr> {
    apply_pending::<Migrator, _>(conn).await
}

/// Applies `M`'s pending migrations through `conn` (a connection or a
/// transaction) and returns how many there were.
async fn apply_pending<'c, M, C>(conn: &'c C) -> Result<usize, DbErr>
where
    M: MigratorTrait,
    C: ConnectionTrait + Sync,
    &'c C: migration::IntoSchemaManagerConnection<'c>,
{
    let pending = M::get_pending_migrations(conn).await?.len();
    if pending > 0 {
        M::up(conn, None).await?;
    }
    Ok(pending)
}

#[cfg(test)]
mod tests {
    use migration::{MigrationTrait, SchemaManager};
    use sea_orm::{Database, DbErr};

    use super::*;

    /// A migration that fails, as adding a NOT NULL column without a
    /// default does on a SQLite table that has rows.
    struct Failing;

    impl migration::MigrationName for Failing {
        fn name(&self) -> &str {
            "m29991231_000001_failing"
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Failing {
        async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
            let conn = manager.get_connection();
            conn.execute_unprepared("INSERT INTO tenants (tenant_id, name) VALUES ('t-1', 'T 1')")
                .await?;
            conn.execute_unprepared("ALTER TABLE tenants ADD COLUMN billing_plan TEXT NOT NULL")
                .await?;
            Ok(())
        }
    }

    struct OursThenFailing;

    impl MigratorTrait for OursThenFailing {
        fn migrations() -> Vec<Box<dyn MigrationTrait>> {
            let mut all = Migrator::migrations();
            all.push(Box::new(Failing));
            all
        }
    }

    /// Issue 14: on SQLite a failing migration left the run's earlier
    /// migrations committed. Now none of them is: no table, no history.
    #[tokio::test]
    async fn a_failing_sqlite_migration_leaves_nothing_applied() -> Result<(), DbErr> {
        let dir = tempfile::tempdir().map_err(|e| DbErr::Custom(e.to_string()))?;
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("t.sqlite").display()
        );
        let conn = Database::connect(&url).await?;
        let error = apply_sqlite_with::<OursThenFailing>(&conn)
            .await
            .expect_err("the last migration fails");
        assert!(error.to_string().contains("NOT NULL"), "{error}");
        let tables = conn
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT name FROM sqlite_master WHERE type = 'table'",
            ))
            .await?;
        let names: Vec<String> = tables
            .iter()
            .map(|r| r.try_get::<String>("", "name"))
            .collect::<Result<_, _>>()?;
        assert_eq!(names, Vec::<String>::new());

        // Our own migrations alone apply, all at once.
        assert_eq!(
            apply_sqlite(&conn).await?,
            migration::known_migration_names().len()
        );
        assert_eq!(apply_sqlite(&conn).await?, 0);
        conn.close().await?;
        Ok(())
    }
}
