//! `--jobs N` / `Seeder::jobs(n)` (issue 11): up to N tenants seeded at
//! once, each in its own transaction on its own connection. With tenant-a
//! held up by the test, `--jobs 2` commits tenant-b meanwhile and `--jobs
//! 1` does not start it. The rows are those of one job (same digest), the
//! report lists tenants in dataset order with the same counts, a rerun
//! inserts nothing, and the invariants hold. SQLite, which writes one
//! transaction at a time, seeds one tenant after another through the
//! library and refuses `--jobs 2` on the command line.

use std::time::{Duration, Instant};

use ota_seed_tests::held::{HOLD_TENANT_A, tenant_a_waits};
use ota_seed_tests::seeded::number;
use ota_seed_tests::snapshot::{DigestScope, dataset_digest};
use ota_seed_tests::{
    Backend, SEEDER_LIMIT, Spawned, TestDb, assert_clean_error, assert_verified, backend_tests,
    json_summary, run_case,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use seeder::{Dataset, DatasetSpec, Seeder, Table};

fn fleet() -> Dataset {
    Dataset::fleet(&DatasetSpec {
        tenants: 5,
        sites_per_tenant: 3,
        devices_per_site: 40,
        campaigns_per_tenant: 5,
        ..DatasetSpec::default()
    })
}

async fn jobs_seed_what_one_job_seeds(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let fleet = fleet();
    let one = Seeder::new(&fleet).run(&conn).await?;
    let digest = dataset_digest(&conn, DigestScope::Everything).await?;
    Seeder::new(&fleet).reset(&conn, false).await?;

    let three = Seeder::new(&fleet).jobs(3).run(&conn).await?;
    assert_eq!(three.tenants, one.tenants, "dataset order");
    assert_eq!(
        three.tenants,
        [
            "tenant-a",
            "tenant-b",
            "tenant-0003",
            "tenant-0004",
            "tenant-0005"
        ]
    );
    for table in Table::ALL {
        assert_eq!(three.table(table), one.table(table), "{table:?}");
    }
    assert_eq!(three.table(Table::Devices).inserted, 5 * 120);
    assert_eq!(three.stopped, None);
    assert_eq!(
        dataset_digest(&conn, DigestScope::Everything).await?,
        digest,
        "the same rows as with one job"
    );
    let verified = Seeder::new(&fleet).verify(&conn).await?;
    assert!(verified.passed(), "{verified}");

    let rerun = Seeder::new(&fleet).jobs(3).run(&conn).await?;
    assert_eq!(rerun.inserted_total(), 0);
    assert_eq!(rerun.table(Table::DeviceStatus).present, 5 * 120);
    conn.close().await?;
    Ok(())
}

/// The command line: `--jobs 2` seeds and reports in dataset order on a
/// server; on SQLite it is refused before anything is opened.
async fn jobs_on_the_command_line(db: TestDb) -> anyhow::Result<()> {
    let args = [
        "--jobs",
        "2",
        "--tenants",
        "4",
        "--sites-per-tenant",
        "2",
        "--devices-per-site",
        "25",
    ];
    if db.backend == ota_seed_tests::Backend::Sqlite {
        let out = db.seeder(&args);
        let line = assert_clean_error(&out);
        assert_eq!(
            line,
            "error: --jobs 2 needs PostgreSQL or MySQL/MariaDB: SQLite writes one transaction \
             at a time, so run it with --jobs 1 (the default)"
        );
        assert!(
            !db.dir.path().join("test.sqlite").exists()
                || std::fs::metadata(db.dir.path().join("test.sqlite"))?.len() == 0,
            "nothing was created"
        );
        return Ok(());
    }
    let summary = json_summary(&db.seeder(&[&args[..], &["--json"]].concat()), 0);
    assert_eq!(
        summary["tenants"],
        serde_json::json!(["tenant-a", "tenant-b", "tenant-0003", "tenant-0004"])
    );
    let tables = &summary["tables"];
    assert_eq!(tables["device_registry"]["inserted"], 4 * 50, "{summary:#}");
    assert_eq!(
        tables["ota_device_status"]["inserted"], tables["device_registry"]["inserted"],
        "one status row per device"
    );
    assert_eq!(
        ota_seed_tests::violations(&summary),
        Vec::<String>::new(),
        "{summary:#}"
    );
    assert_eq!(
        ota_seed_tests::verified_counts(&summary)[1],
        ("device_registry".to_owned(), 4 * 50),
        "the closing verification read the fleet"
    );
    Ok(())
}

backend_tests!(jobs_seed_what_one_job_seeds, jobs_on_the_command_line);

/// Three tenants of 50 devices (the demo's shape scaled: 2 firmware builds
/// and 1 campaign per tenant, one status row per device).
const SMALL_FLEET: [&str; 6] = [
    "--tenants",
    "3",
    "--sites-per-tenant",
    "2",
    "--devices-per-site",
    "25",
];
const DEVICES_PER_TENANT: i64 = 2 * 25;

/// Bound of every wait for a state of the server: failing it means the
/// state never came.
const READY: Duration = Duration::from_secs(60);

/// tenant-b's committed rows: (tenants, devices, status rows).
async fn tenant_b(conn: &DatabaseConnection) -> anyhow::Result<[i64; 3]> {
    let mut out = [0; 3];
    for (slot, table) in out
        .iter_mut()
        .zip(["tenants", "device_registry", "ota_device_status"])
    {
        *slot = number(
            conn,
            &format!("SELECT COUNT(*) AS n FROM {table} WHERE tenant_id = 'tenant-b'"),
        )
        .await?;
    }
    Ok(out)
}

/// Polls `probe` until it holds, while `seeder` runs; fails if the seeder
/// ends first or the state does not come within [`READY`].
async fn while_running<Fut>(
    seeder: &mut Spawned,
    what: &str,
    mut probe: impl FnMut() -> Fut,
) -> anyhow::Result<()>
where
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + READY;
    while !probe().await? {
        anyhow::ensure!(
            seeder.running(),
            "the seeder ended before {what}:\n{}",
            seeder.stderr_so_far()
        );
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what}: not within {READY:?}:\n{}",
            seeder.stderr_so_far()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// tenant-a held up by the test's uncommitted row with its key, the seeder
/// run with `--jobs jobs`. With 2 jobs, tenant-b's rows are committed
/// (visible to another session) while tenant-a still waits; with 1,
/// tenant-b is not started while tenant-a waits. Either way the run
/// completes once the test lets tenant-a go.
async fn tenant_b_while_tenant_a_waits(db: TestDb, jobs: &str) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.migrate().await?;
    let holder = conn.begin().await?;
    holder.execute_unprepared(HOLD_TENANT_A).await?;
    let mut seeder = db.start_seeder(&[&SMALL_FLEET[..], &["--jobs", jobs, "--json"]].concat())?;
    let complete = [1, DEVICES_PER_TENANT, DEVICES_PER_TENANT];
    // Released whatever came of the checks: a failure must not leave the
    // row to the cleanup (which would wait on it).
    let checked = async {
        while_running(&mut seeder, "tenant-a waiting on the test's row", || {
            tenant_a_waits(&conn, backend)
        })
        .await?;
        if jobs == "1" {
            // tenant-b waits its turn: nothing of it, not even its first line.
            let rows = tenant_b(&conn).await?;
            anyhow::ensure!(rows == [0; 3], "tenant-b's rows: {rows:?}");
            let stderr = seeder.stderr_so_far();
            anyhow::ensure!(!stderr.contains("tenant-b"), "tenant-b started:\n{stderr}");
        } else {
            while_running(&mut seeder, "tenant-b committed", || async {
                Ok(tenant_b(&conn).await? == complete)
            })
            .await?;
            anyhow::ensure!(
                tenant_a_waits(&conn, backend).await?,
                "tenant-a no longer waits on the test's row"
            );
        }
        anyhow::ensure!(seeder.running(), "{}", seeder.stderr_so_far());
        anyhow::Ok(())
    }
    .await;
    holder.rollback().await?;
    checked?;
    let summary = json_summary(&seeder.wait(SEEDER_LIMIT), 0);
    assert_eq!(
        summary["tenants"],
        serde_json::json!(["tenant-a", "tenant-b", "tenant-0003"])
    );
    assert_eq!(summary["retries"], 0, "{summary:#}");
    let devices = 3 * DEVICES_PER_TENANT;
    assert_verified(&summary, [3, devices, 6, 3, devices]);
    assert_eq!(tenant_b(&conn).await?, complete);
    conn.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobs_commit_tenant_b_while_tenant_a_waits_postgres() {
    run_case(Backend::Postgres, |db| {
        tenant_b_while_tenant_a_waits(db, "2")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_jobs_commit_tenant_b_while_tenant_a_waits_mysql() {
    run_case(Backend::MySql, |db| tenant_b_while_tenant_a_waits(db, "2")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_does_not_start_tenant_b_while_tenant_a_waits_postgres() {
    run_case(Backend::Postgres, |db| {
        tenant_b_while_tenant_a_waits(db, "1")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_job_does_not_start_tenant_b_while_tenant_a_waits_mysql() {
    run_case(Backend::MySql, |db| tenant_b_while_tenant_a_waits(db, "1")).await;
}

#[test]
fn jobs_must_be_between_1_and_64() {
    for bad in ["0", "65", "two"] {
        let out = ota_seed_tests::run_seeder(
            &["--jobs", bad],
            &[("DATABASE_URL", "sqlite::memory:")],
            std::path::Path::new("."),
        );
        assert_eq!(out.status.code(), Some(2), "--jobs {bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--jobs"), "--jobs {bad}: {stderr}");
    }
}
