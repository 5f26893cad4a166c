//! The retry path, exercised deterministically against a running seeder:
//! the test disrupts its tenant transaction, and the seeder starts it again
//! and finishes.
//!
//! Setup: the test inserts, uncommitted, devices of tenant-a, one of them a
//! planned one, so the seeder's insert of that device waits for the test.
//! Then either:
//! - deadlock: the test asks for `FOR UPDATE` on tenant-a's row, which the
//!   seeder holds (or is queued for behind the foreign key's share lock): a
//!   cycle. PostgreSQL aborts whichever waiter runs its deadlock check
//!   first, and the test's session has a long deadlock_timeout, so that is
//!   the seeder; InnoDB aborts the transaction that did less work, and the
//!   test's has inserted more rows;
//! - dropped connection: the test kills the seeder's server session
//!   (`pg_terminate_backend`, `KILL CONNECTION`), as a failover would.
//!
//! SQLite has a single writer and no sessions to kill: server-only tests.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use entity::device_registry;
use ota_seed_tests::{Backend, TestDb, assert_ok, describe, run_case, seeder_bin};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, Set, Statement, TransactionTrait,
};

/// Whether a session of this database is waiting for a row lock. Asked on a
/// connection of its own: PostgreSQL caches pg_stat_activity for the rest
/// of a transaction.
async fn someone_waits(conn: &DatabaseConnection, backend: Backend) -> anyhow::Result<bool> {
    let sql = match backend {
        Backend::Postgres => {
            "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'"
        }
        // MariaDB's INNODB_TRX does not list a transaction whose first write
        // is waiting; its process list does: a 15-row insert still running
        // after 200 ms is waiting for a lock.
        _ => {
            "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST \
             WHERE DB = DATABASE() AND ID <> CONNECTION_ID() \
               AND INFO LIKE 'INSERT INTO `device_registry`%' AND TIME_MS > 200"
        }
    };
    let row = conn
        .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get::<i64>("", "n")? > 0)
}

fn device(tenant: &str, device_id: &str) -> device_registry::ActiveModel {
    device_registry::ActiveModel {
        tenant_id: Set(tenant.to_owned()),
        device_id: Set(device_id.to_owned()),
        site_id: Set("held-by-the-test".to_owned()),
        status: Set("ACTIVE".to_owned()),
        metadata: Set(serde_json::json!({})),
        ..Default::default()
    }
}

/// What the test does to the seeder's tenant transaction once it waits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Disruption {
    /// Closes a lock cycle: the database aborts the seeder's transaction.
    Deadlock,
    /// Kills the seeder's server session, as a failover or a proxy would.
    DroppedConnection,
}

async fn a_disrupted_tenant_transaction_is_retried(
    db: TestDb,
    disruption: Disruption,
) -> anyhow::Result<()> {
    assert_ok(&db.seeder(&["-q", "--only", "tenants"]));
    // tenant-a's first device in byte order (docs/dataset.md): the first
    // the seeder inserts.
    let first_device = "cold-storage-1-sensor-01";

    let conn = db.connect().await?;
    let txn = conn.begin().await?;
    if db.backend == Backend::Postgres {
        // This session must not be the deadlock victim.
        txn.execute_unprepared("SET LOCAL deadlock_timeout = '60s'")
            .await?;
    }
    // Weight for InnoDB's choice of victim, and the key the seeder will
    // wait on.
    for n in 0..20 {
        device("tenant-a", &format!("zz-held-by-the-test-{n:02}"))
            .insert(&txn)
            .await?;
    }
    device("tenant-a", first_device).insert(&txn).await?;

    let child = Command::new(seeder_bin())
        .args(["--tenant", "tenant-a"])
        .env("DATABASE_URL", &db.url)
        .env("NO_COLOR", "1")
        .current_dir(db.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut child = child;
    let observer = db.connect().await?;
    let started = Instant::now();
    while !someone_waits(&observer, db.backend).await? {
        if child.try_wait()?.is_some() {
            let out = child.wait_with_output()?;
            anyhow::bail!("the seeder ended without waiting:\n{}", describe(&out));
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let out = child.wait_with_output()?;
            anyhow::bail!(
                "the seeder never waited on the test's rows:\n{}",
                describe(&out)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match disruption {
        // Close the cycle. This returns once the seeder has been aborted
        // and has released the tenant row.
        Disruption::Deadlock => {
            txn.execute_unprepared(
                "SELECT tenant_id FROM tenants WHERE tenant_id = 'tenant-a' FOR UPDATE",
            )
            .await?;
        }
        Disruption::DroppedConnection => {
            let kill = match db.backend {
                Backend::Postgres => "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    .to_owned(),
                _ => {
                    let row = observer
                        .query_one_raw(Statement::from_string(
                            observer.get_database_backend(),
                            "SELECT ID AS id FROM information_schema.PROCESSLIST \
                             WHERE DB = DATABASE() AND INFO LIKE 'INSERT INTO `device_registry`%'",
                        ))
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("the seeder's session"))?;
                    format!("KILL CONNECTION {}", row.try_get::<i64>("", "id")?)
                }
            };
            observer.execute_unprepared(&kill).await?;
            // Let the seeder see its session gone before the row is free.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    observer.close().await?;
    txn.rollback().await?;

    let out = child.wait_with_output()?;
    let text = assert_ok(&out);
    assert!(
        text.contains(
            "retried 1 tenant transaction(s) after transient errors (deadlock, serialization, lost connection)"
        ),
        "{}",
        describe(&out)
    );
    assert!(
        text.contains("device_registry    inserted 15, already present 0"),
        "{text}"
    );
    assert!(text.contains("invariants: all 6 hold"), "{text}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deadlock_is_retried() {
    run_case(Backend::Postgres, |db| {
        a_disrupted_tenant_transaction_is_retried(db, Disruption::Deadlock)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_deadlock_is_retried() {
    run_case(Backend::MySql, |db| {
        a_disrupted_tenant_transaction_is_retried(db, Disruption::Deadlock)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dropped_connection_is_retried() {
    run_case(Backend::Postgres, |db| {
        a_disrupted_tenant_transaction_is_retried(db, Disruption::DroppedConnection)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_dropped_connection_is_retried() {
    run_case(Backend::MySql, |db| {
        a_disrupted_tenant_transaction_is_retried(db, Disruption::DroppedConnection)
    })
    .await;
}
