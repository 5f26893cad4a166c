//! A fleet of many small tenants, which the seeder writes many tenants to a
//! transaction (issue 22), stopped while some tenants are committed and
//! more are being written: by SIGKILL, or by Ctrl-C (SIGINT). Every tenant
//! is then either complete or absent, never half-written, and the next run
//! completes the fleet and verifies.
//!
//! PostgreSQL and MariaDB, whose readers see each commit while the next
//! batch is being written (SQLite's single writer is interruption.rs's
//! business).

#[path = "support/tenant_state.rs"]
#[allow(dead_code)]
mod tenant_state;

use std::time::{Duration, Instant};

use ota_seed_tests::sql::number;
use ota_seed_tests::{Spawned, TestDb, assert_verified};
use sea_orm::DatabaseConnection;
use tenant_state::{FleetState, complete, tenant_ids};

/// 400 tenants of 2 sites × 20 devices, one campaign each: small tenants,
/// many to a batch, and enough of them that the run is still writing when
/// the first ones are committed.
const FLEET: [&str; 6] = [
    "--tenants",
    "400",
    "--sites-per-tenant",
    "2",
    "--devices-per-site",
    "20",
];
const TENANTS: usize = 400;
const DEVICES_PER_TENANT: i64 = 40;

/// Bound of every wait on the seeder or the server: far more than the run
/// needs, so only a hang fails it.
const REACT: Duration = Duration::from_secs(120);

/// Starts the fleet and returns as soon as another connection sees
/// committed devices: the first batch is in, and the seeder is writing the
/// next ones (the fleet takes several batches; [`whole_or_absent`] checks
/// the stop did come before the end). Fails if the seeder ends first or
/// nothing is committed within [`REACT`].
///
/// Only the count is read between two looks, so the stop follows the first
/// commit within a few milliseconds, well inside the next batch.
async fn seeder_mid_fleet(db: &TestDb, conn: &DatabaseConnection) -> anyhow::Result<Spawned> {
    let mut seeder = db.start_seeder(&FLEET)?;
    let deadline = Instant::now() + REACT;
    loop {
        let committed = number(conn, "SELECT COUNT(*) AS n FROM device_registry").await?;
        if committed > 0 {
            eprintln!("[test] {committed} devices committed: stopping the seeder");
            return Ok(seeder);
        }
        anyhow::ensure!(
            seeder.running(),
            "the seeder ended before any device was committed:\n{}",
            seeder.stderr_so_far()
        );
        anyhow::ensure!(
            Instant::now() < deadline,
            "no device committed within {REACT:?}:\n{}",
            seeder.stderr_so_far()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every tenant is whole or absent; some are whole (devices were seen
/// committed before the stop), not all (the stop came while batches were
/// still to be written, so one was in flight or yet to start).
async fn whole_or_absent(conn: &DatabaseConnection, how: &str) -> anyhow::Result<()> {
    let fleet = tenant_ids(TENANTS);
    let state = FleetState::read(conn).await?;
    let whole = state.complete_tenants(&fleet, complete(DEVICES_PER_TENANT))?;
    eprintln!(
        "[test] after {how}: {} of {TENANTS} tenants complete, the others absent",
        whole.len()
    );
    anyhow::ensure!(
        !whole.is_empty(),
        "after {how}: devices were seen committed, yet no tenant is complete"
    );
    anyhow::ensure!(
        whole.len() < TENANTS,
        "after {how}: every tenant is complete, so the stop came after the writing: \
         the test proves nothing"
    );
    Ok(())
}

/// The next run completes the fleet exactly, and its verification passes.
async fn rerun_completes(db: &TestDb, conn: &DatabaseConnection) -> anyhow::Result<()> {
    let summary = db.seeder_json(&FLEET, 0);
    let devices = TENANTS as i64 * DEVICES_PER_TENANT;
    let tenants = TENANTS as i64;
    assert_verified(&summary, [tenants, devices, 2 * tenants, tenants, devices]);
    let fleet = tenant_ids(TENANTS);
    let whole = FleetState::read(conn)
        .await?
        .complete_tenants(&fleet, complete(DEVICES_PER_TENANT))?;
    assert_eq!(whole.len(), TENANTS);
    Ok(())
}

async fn sigkill_mid_batch_leaves_whole_tenants(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let mut seeder = seeder_mid_fleet(&db, &conn).await?;
    seeder.kill()?;
    let out = seeder.wait(REACT);
    assert_eq!(
        out.status.code(),
        None,
        "killed by the signal, not ended by itself:\n{}",
        ota_seed_tests::describe(&out)
    );
    whole_or_absent(&conn, "SIGKILL").await?;
    rerun_completes(&db, &conn).await?;
    conn.close().await?;
    Ok(())
}

async fn ctrl_c_mid_batch_leaves_whole_tenants(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let seeder = seeder_mid_fleet(&db, &conn).await?;
    seeder.signal("INT")?;
    let out = seeder.wait(REACT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // 130: interrupted (interruption.rs), with the way to finish.
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with("interrupted: ")
            && l.ends_with("Run the same command again to finish.")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    whole_or_absent(&conn, "SIGINT").await?;
    rerun_completes(&db, &conn).await?;
    conn.close().await?;
    Ok(())
}

mod sigkill_mid_batch_leaves_whole_tenants {
    use ota_seed_tests::{Backend, run_case};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run_case(
            Backend::Postgres,
            super::sigkill_mid_batch_leaves_whole_tenants,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        run_case(
            Backend::MySql,
            super::sigkill_mid_batch_leaves_whole_tenants,
        )
        .await;
    }
}

mod ctrl_c_mid_batch_leaves_whole_tenants {
    use ota_seed_tests::{Backend, run_case};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run_case(
            Backend::Postgres,
            super::ctrl_c_mid_batch_leaves_whole_tenants,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        run_case(Backend::MySql, super::ctrl_c_mid_batch_leaves_whole_tenants).await;
    }
}
