//! Interrupting a real seeder process in the middle of a fleet: SIGINT and
//! SIGTERM stop it at a batch boundary with exit 130, the open tenant rolled
//! back whole; SIGKILL stops it dead. Either way the next run completes the
//! fleet, nothing duplicated, and verify passes.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

use entity::prelude::*;
use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status, tenants};
use ota_seed_tests::{TestDb, assert_ok, backend_tests, run_case, seeder_bin};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

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

fn start_seeder(db: &TestDb) -> std::io::Result<Child> {
    Command::new(seeder_bin())
        .args(FLEET)
        .env("DATABASE_URL", &db.url)
        .env("NO_COLOR", "1")
        .current_dir(db.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// Reads the seeder's progress lines (stderr is not a terminal, so it
/// prints one per finished step) until `line_start` appears; returns the
/// lines read, and the rest of stderr keeps flowing into a thread.
fn wait_for_progress(child: &mut Child, line_start: &str) -> std::thread::JoinHandle<String> {
    let stderr = child.stderr.take().expect("piped stderr");
    let mut reader = BufReader::new(stderr);
    let mut seen = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).expect("read stderr");
        assert!(n > 0, "the seeder ended before {line_start:?}:\n{seen}");
        seen.push_str(&line);
        if line.starts_with(line_start) {
            break;
        }
    }
    std::thread::spawn(move || {
        let mut rest = seen;
        let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
        rest
    })
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
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

/// The rerun completes the fleet exactly, and verify passes.
async fn rerun_completes(db: &TestDb, conn: &DatabaseConnection) -> anyhow::Result<()> {
    let out = db.seeder(&[&FLEET[..], &["-q"]].concat());
    assert_ok(&out);
    for tenant in TENANTS {
        assert_eq!(tenant_rows(conn, tenant).await?, COMPLETE, "{tenant}");
    }
    let out = db.seeder(&[&FLEET[..], &["verify"]].concat());
    assert!(assert_ok(&out).contains("invariants: all 6 hold"));
    Ok(())
}

async fn stop_on(db: TestDb, signal_name: &str) -> anyhow::Result<()> {
    let mut child = start_seeder(&db)?;
    let stderr = wait_for_progress(&mut child, TENANT_B_STARTED);
    signal(&child, signal_name);
    let status = child.wait()?;
    let stderr = stderr.join().expect("stderr thread");
    assert_eq!(status.code(), Some(130), "{stderr}");
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
    let mut child = start_seeder(&db)?;
    let stderr = wait_for_progress(&mut child, TENANT_B_STARTED);
    child.kill()?; // SIGKILL
    let status = child.wait()?;
    let stderr = stderr.join().expect("stderr thread");
    assert_eq!(status.code(), None, "killed by a signal:\n{stderr}");

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_like_ctrl_c() {
    run_case(ota_seed_tests::Backend::Sqlite, |db| stop_on(db, "TERM")).await;
}

#[test]
fn a_signal_while_only_reading_ends_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 192.0.2.10 never answers: the seeder sits in connect.
    let mut child = Command::new(seeder_bin())
        .args(["verify", "--connect-timeout", "30"])
        .env("DATABASE_URL", "postgres://u@192.0.2.10/x")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let started = std::time::Instant::now();
    signal(&child, "INT");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("read");
    assert!(
        err.contains("interrupted: nothing was being written"),
        "{err}"
    );
}
