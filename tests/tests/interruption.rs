//! Interrupting a real seeder process in the middle of a fleet: SIGINT and
//! SIGTERM stop it at a batch boundary with exit 130, the open tenant rolled
//! back whole; SIGKILL stops it dead. Either way the next run completes the
//! fleet, nothing duplicated, and verify passes.

use std::time::Duration;

use entity::prelude::*;
use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status, tenants};
use ota_seed_tests::Backend;
use ota_seed_tests::held::{HOLD_TENANT_A, tenant_a_waits};
use ota_seed_tests::{
    SilentServer, Spawned, TestDb, assert_verified, backend_tests, run_case, start_seeder,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    TransactionTrait,
};

/// 20,000 devices per tenant, 3 tenants. The signal is sent when tenant-b's
/// row is written: its devices then take several batches on every backend
/// (PostgreSQL sends 10,000 rows per statement, the others fewer), each
/// far longer than the signal takes to arrive, so it lands mid-tenant.
const FLEET: [&str; 6] = [
    "--tenants",
    "3",
    "--sites-per-tenant",
    "40",
    "--devices-per-site",
    "500",
];
const DEVICES_PER_TENANT: u64 = 20_000;
const TENANT_B_STARTED: &str = "tenant-b tenants:";
const TENANTS: [&str; 3] = ["tenant-a", "tenant-b", "tenant-0003"];

/// How long a seeder may take to react to a signal, or to print the line
/// the test waits for: far more than it needs, so only a hang fails it.
const REACT: Duration = Duration::from_secs(120);

/// Starts the fleet run and waits (bounded) until tenant-b's first
/// progress line: stderr is not a terminal, so the seeder prints one line
/// per finished step, and tenant-b's tenant row is its first.
fn seeder_in_tenant_b(db: &TestDb) -> anyhow::Result<Spawned> {
    let mut seeder = db.start_seeder(&FLEET)?;
    seeder.wait_for_stderr_line(REACT, "tenant-b's first progress line", |line| {
        line.starts_with(TENANT_B_STARTED)
    })?;
    Ok(seeder)
}

/// Every tenant's rows: (tenants, devices, firmware, campaigns, statuses).
async fn tenant_rows(
    conn: &DatabaseConnection,
    tenant: &str,
) -> anyhow::Result<(u64, u64, u64, u64, u64)> {
    Ok((
        Tenants::find()
            .filter(tenants::Column::TenantId.eq(tenant))
            .count(conn)
            .await?,
        DeviceRegistry::find()
            .filter(device_registry::Column::TenantId.eq(tenant))
            .count(conn)
            .await?,
        FirmwareVersions::find()
            .filter(firmware_versions::Column::TenantId.eq(tenant))
            .count(conn)
            .await?,
        OtaCampaigns::find()
            .filter(ota_campaigns::Column::TenantId.eq(tenant))
            .count(conn)
            .await?,
        OtaDeviceStatus::find()
            .filter(ota_device_status::Column::TenantId.eq(tenant))
            .count(conn)
            .await?,
    ))
}

const COMPLETE: (u64, u64, u64, u64, u64) = (1, DEVICES_PER_TENANT, 2, 1, DEVICES_PER_TENANT);
const ABSENT: (u64, u64, u64, u64, u64) = (0, 0, 0, 0, 0);

/// The rerun completes the fleet exactly, and its verification passes.
async fn rerun_completes(db: &TestDb, conn: &DatabaseConnection) -> anyhow::Result<()> {
    let summary = db.seeder_json(&FLEET, 0);
    for tenant in TENANTS {
        assert_eq!(tenant_rows(conn, tenant).await?, COMPLETE, "{tenant}");
    }
    let devices = 3 * DEVICES_PER_TENANT as i64;
    assert_verified(&summary, [3, devices, 6, 3, devices]);
    Ok(())
}

async fn stop_on(db: TestDb, signal_name: &str) -> anyhow::Result<()> {
    let seeder = seeder_in_tenant_b(&db)?;
    seeder.signal(signal_name)?;
    let out = seeder.wait(REACT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains(
            "interrupted: tenant tenant-b was rolled back whole; committed before it: tenant-a. \
             Run the same command again to finish."
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let conn = db.connect().await?;
    assert_eq!(tenant_rows(&conn, "tenant-a").await?, COMPLETE);
    assert_eq!(
        tenant_rows(&conn, "tenant-b").await?,
        ABSENT,
        "rolled back whole"
    );
    assert_eq!(tenant_rows(&conn, "tenant-0003").await?, ABSENT);
    rerun_completes(&db, &conn).await
}

async fn ctrl_c_stops_at_a_batch_boundary_and_rolls_back(db: TestDb) -> anyhow::Result<()> {
    stop_on(db, "INT").await
}

async fn sigkill_mid_fleet_then_rerun_completes(db: TestDb) -> anyhow::Result<()> {
    let mut seeder = seeder_in_tenant_b(&db)?;
    seeder.kill()?; // SIGKILL
    let out = seeder.wait(REACT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), None, "killed by a signal:\n{stderr}");

    let conn = db.connect().await?;
    assert_eq!(tenant_rows(&conn, "tenant-a").await?, COMPLETE);
    // The killed transaction left nothing behind.
    assert_eq!(tenant_rows(&conn, "tenant-b").await?, ABSENT);
    rerun_completes(&db, &conn).await
}

backend_tests!(
    ctrl_c_stops_at_a_batch_boundary_and_rolls_back,
    sigkill_mid_fleet_then_rerun_completes
);

/// With `--jobs 2`, tenant-a and tenant-b are both open when the signal
/// comes, for certain: tenant-a's transaction waits on a row the test
/// holds (seen on the server), tenant-b's has written its tenant row (its
/// first progress line) and has 20,000 devices to go. The test lets
/// tenant-a go once the seeder has taken the signal: both are rolled back
/// whole and named, tenant-0003 never starts, and the rerun completes.
async fn ctrl_c_with_two_jobs_rolls_back_both_open_tenants(db: TestDb) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.migrate().await?;
    let holder = conn.begin().await?;
    holder.execute_unprepared(HOLD_TENANT_A).await?;
    let mut seeder = db.start_seeder(&[&FLEET[..], &["--jobs", "2"]].concat())?;
    // Released whatever came of the waits: a failure must not leave the
    // row to the cleanup (which would wait on it).
    let waited = async {
        seeder.wait_for_stderr_line(REACT, "tenant-b's first progress line", |line| {
            line.starts_with(TENANT_B_STARTED)
        })?;
        ota_seed_tests::wait_until("tenant-a waiting on the test's row", REACT, || {
            tenant_a_waits(&conn, backend)
        })
        .await?;
        seeder.signal("INT")?;
        seeder.wait_for_stderr_line(REACT, "that it took the signal", |line| {
            line.starts_with("interrupt: stopping at the next batch boundary")
        })?;
        anyhow::Ok(())
    }
    .await;
    holder.rollback().await?;
    waited?;
    let out = seeder.wait(REACT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains(
            "interrupted: tenants tenant-a, tenant-b were rolled back whole; no tenant was \
             committed. Run the same command again to finish."
        ),
        "{stderr}"
    );
    for tenant in TENANTS {
        assert_eq!(
            tenant_rows(&conn, tenant).await?,
            ABSENT,
            "{tenant}: {stderr}"
        );
    }
    rerun_completes(&db, &conn).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_with_two_jobs_postgres() {
    run_case(
        Backend::Postgres,
        ctrl_c_with_two_jobs_rolls_back_both_open_tenants,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_with_two_jobs_mysql() {
    run_case(
        Backend::MySql,
        ctrl_c_with_two_jobs_rolls_back_both_open_tenants,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_like_ctrl_c() {
    run_case(ota_seed_tests::Backend::Sqlite, |db| stop_on(db, "TERM")).await;
}

#[test]
fn a_signal_while_only_reading_ends_at_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A loopback port that accepts and never answers: once the seeder has
    // connected, it sits in connect (for up to an hour) waiting for the
    // server's reply. It listens for signals before it connects.
    let mut server = SilentServer::start();
    let url = format!("postgres://u@127.0.0.1:{}/x", server.port());
    let seeder = start_seeder(
        &["verify", "--connect-timeout", "3600"],
        &[("DATABASE_URL", &url)],
        dir.path(),
    )?;
    server.wait_for_connection(REACT)?;
    seeder.signal("INT")?;
    // Bounded: a seeder that ignored the signal is killed and the test
    // fails saying so.
    let out = seeder.wait(REACT);
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        ota_seed_tests::describe(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("interrupted: nothing was being written"),
        "{err}"
    );
    Ok(())
}
