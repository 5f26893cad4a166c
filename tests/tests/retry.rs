//! The retry path, exercised deterministically: the test makes a real
//! deadlock with a running seeder, the database aborts the seeder's tenant
//! transaction, and the seeder starts it again and finishes.
//!
//! How: the test inserts (uncommitted) devices of tenant-a, one of them a
//! planned one; the foreign key check gives it a share lock on tenant-a's
//! row, which the seeder's `FOR UPDATE` on that row waits for. The test
//! then asks for `FOR UPDATE` itself, behind the seeder: a cycle. PostgreSQL aborts whichever
//! waiter runs its deadlock check first; the test's session gets a long
//! deadlock_timeout so that is the seeder. InnoDB aborts the transaction
//! that has done less work; the test's has inserted more rows. SQLite has a
//! single writer and no deadlocks, so this is a server-only test.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use entity::device_registry;
use ota_seed_tests::{Backend, TestDb, assert_ok, describe, run_case, seeder_bin};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, Set, Statement, TransactionTrait,
};
use seeder::dataset::{Dataset, DatasetSpec};

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

async fn a_deadlocked_tenant_transaction_is_retried(db: TestDb) -> anyhow::Result<()> {
    assert_ok(&db.seeder(&["-q", "--only", "tenants"]));
    let dataset = Dataset::generate(&DatasetSpec::default());
    let first_device = dataset.tenants[0]
        .fleet
        .device_ids()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no device"))?;

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
    device("tenant-a", &first_device).insert(&txn).await?;

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
    observer.close().await?;
    // Close the cycle. This returns once the seeder has been aborted and
    // has released the tenant row.
    txn.execute_unprepared("SELECT tenant_id FROM tenants WHERE tenant_id = 'tenant-a' FOR UPDATE")
        .await?;
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
    run_case(
        Backend::Postgres,
        a_deadlocked_tenant_transaction_is_retried,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_deadlock_is_retried() {
    run_case(Backend::MySql, a_deadlocked_tenant_transaction_is_retried).await;
}
