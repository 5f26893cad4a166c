//! A database may decline rows without an error: a BEFORE INSERT trigger
//! that skips them. The seeder counts what the database took, not what it
//! sent (issue 22): the rows it declined are reported as such, never as
//! "already present", and the run does not end as a success.
//!
//! PostgreSQL (a trigger function returning NULL) and SQLite
//! (`RAISE(IGNORE)`). MySQL and MariaDB have no such trigger: a BEFORE
//! INSERT trigger there can only let the row through or fail the statement
//! with SIGNAL, never skip one row silently, so the case cannot be built.

use ota_seed_tests::sql::number;
use ota_seed_tests::{Backend, TestDb, describe, run_case};
use sea_orm::ConnectionTrait;

/// Three of tenant-a's fifteen demo devices (docs/dataset.md: three sites
/// of five sensors, `<site_id>-sensor-<NN>`), which the trigger drops.
const DECLINED: [&str; 3] = [
    "warehouse-east-sensor-02",
    "warehouse-west-sensor-03",
    "cold-storage-1-sensor-04",
];

/// Only tenant-a of the demo: its device line is then the tenant's own
/// figures (15 planned, 3 declined, 12 taken); tenant-b's 15 devices
/// would otherwise add to the line's counts.
const RUN: [&str; 2] = ["--tenant", "tenant-a"];

/// The stderr message and the report line's figures the definition gives.
const ERROR: &str = "the database declined 3 rows of device_registry";
const FIRST_RUN: &str = "inserted 12, already present 0, declined by the database 3";
const RERUN: &str = "inserted 0, already present 12, declined by the database 3";

/// Adds the trigger that silently drops the [`DECLINED`] devices.
async fn add_declining_trigger(db: &TestDb) -> anyhow::Result<()> {
    let ids = DECLINED.map(|d| format!("'{d}'")).join(", ");
    let sql = match db.backend {
        Backend::Postgres => format!(
            "CREATE FUNCTION decline_three() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.tenant_id = 'tenant-a' AND NEW.device_id IN ({ids}) THEN
                     RETURN NULL;
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER decline_three BEFORE INSERT ON device_registry
                 FOR EACH ROW EXECUTE FUNCTION decline_three();"
        ),
        Backend::Sqlite => format!(
            "CREATE TRIGGER decline_three BEFORE INSERT ON device_registry
             WHEN NEW.tenant_id = 'tenant-a' AND NEW.device_id IN ({ids})
             BEGIN SELECT RAISE(IGNORE); END;"
        ),
        Backend::MySql => anyhow::bail!("MySQL/MariaDB triggers cannot skip a row"),
    };
    let conn = db.connect().await?;
    conn.execute_unprepared(&sql).await?;
    conn.close().await?;
    Ok(())
}

/// The figures of the report's device_registry line (the human output on
/// stdout), after the table's name.
fn device_line(stdout: &str) -> Option<&str> {
    stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("device_registry "))
        .map(str::trim)
}

/// Whether `line` starts with `figures`, the last number whole (`... 3`
/// is not `... 30`).
fn shows(line: &str, figures: &str) -> bool {
    line.strip_prefix(figures)
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// A run that ends with exit 2 (a seeding error), naming the declined rows
/// on stderr and showing `figures` on the report's device line.
fn assert_declined(out: &std::process::Output, figures: &str) {
    assert_eq!(out.status.code(), Some(2), "{}", describe(out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(ERROR), "{}", describe(out));
    assert!(!stderr.contains("panicked"), "{}", describe(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = device_line(&stdout)
        .unwrap_or_else(|| panic!("no device_registry line in the report:\n{}", describe(out)));
    assert!(
        shows(line, figures),
        "device_registry line {line:?}, want {figures:?}:\n{}",
        describe(out)
    );
    // Never counted as found: the 3 rows are not in the table.
    assert!(!line.contains("already present 15"), "{line}");
}

/// The `--json` document of a run that failed, if it printed one: its
/// device_registry figures must match the plain report's (the declined
/// count compared when the document carries one).
fn assert_declined_json(out: &std::process::Output, inserted: u64, present: u64) {
    assert_eq!(out.status.code(), Some(2), "{}", describe(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    if stdout.trim().is_empty() {
        // The error path prints no partial document: the plain report
        // carries the figures.
        return;
    }
    let summary: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", describe(out)));
    let devices = &summary["tables"]["device_registry"];
    assert_eq!(devices["inserted"], inserted, "{summary:#}");
    assert_eq!(devices["present"], present, "{summary:#}");
    if let Some(declined) = devices.get("declined") {
        assert_eq!(declined, 3, "{summary:#}");
    }
}

/// tenant-a's devices, and how many of the declined ones are among them.
async fn tenant_a_devices(db: &TestDb) -> anyhow::Result<(i64, i64)> {
    let conn = db.connect().await?;
    let all = number(
        &conn,
        "SELECT COUNT(*) AS n FROM device_registry WHERE tenant_id = 'tenant-a'",
    )
    .await?;
    let ids = DECLINED.map(|d| format!("'{d}'")).join(", ");
    let declined = number(
        &conn,
        &format!(
            "SELECT COUNT(*) AS n FROM device_registry \
             WHERE tenant_id = 'tenant-a' AND device_id IN ({ids})"
        ),
    )
    .await?;
    conn.close().await?;
    Ok((all, declined))
}

async fn rows_a_trigger_drops_are_declined_not_present(db: TestDb) -> anyhow::Result<()> {
    db.migrate().await?.close().await?;
    add_declining_trigger(&db).await?;

    let out = db.seeder(&RUN);
    assert_declined(&out, FIRST_RUN);
    assert_eq!(tenant_a_devices(&db).await?, (12, 0));

    // The rerun finds the 12, and the database declines the 3 again.
    let out = db.seeder(&RUN);
    assert_declined(&out, RERUN);
    let out = db.seeder(&[&RUN[..], &["--json"]].concat());
    assert_declined_json(&out, 0, 12);
    assert_eq!(tenant_a_devices(&db).await?, (12, 0));
    Ok(())
}

/// The first run's JSON, in a database of its own (a first run only
/// happens once per database).
async fn the_first_runs_json_counts_the_declined_rows(db: TestDb) -> anyhow::Result<()> {
    db.migrate().await?.close().await?;
    add_declining_trigger(&db).await?;
    let out = db.seeder(&[&RUN[..], &["--json"]].concat());
    assert_declined_json(&out, 12, 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(ERROR), "{}", describe(&out));
    assert_eq!(tenant_a_devices(&db).await?, (12, 0));
    Ok(())
}

mod rows_a_trigger_drops_are_declined_not_present {
    use ota_seed_tests::{Backend, run_case};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run_case(
            Backend::Sqlite,
            super::rows_a_trigger_drops_are_declined_not_present,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run_case(
            Backend::Postgres,
            super::rows_a_trigger_drops_are_declined_not_present,
        )
        .await;
    }
}

mod the_first_runs_json_counts_the_declined_rows {
    use ota_seed_tests::{Backend, run_case};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run_case(
            Backend::Sqlite,
            super::the_first_runs_json_counts_the_declined_rows,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run_case(
            Backend::Postgres,
            super::the_first_runs_json_counts_the_declined_rows,
        )
        .await;
    }
}

/// The whole demo, both tenants: tenant-b's devices are all taken, so the
/// line counts its 15 with tenant-a's 12, and the 3 declined are still
/// named.
async fn the_whole_demo_counts_both_tenants(db: TestDb) -> anyhow::Result<()> {
    db.migrate().await?.close().await?;
    add_declining_trigger(&db).await?;
    let out = db.seeder(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(ERROR), "{}", describe(&out));
    assert_eq!(tenant_a_devices(&db).await?, (12, 0));
    let conn = db.connect().await?;
    let b = number(
        &conn,
        "SELECT COUNT(*) AS n FROM device_registry WHERE tenant_id = 'tenant-b'",
    )
    .await?;
    conn.close().await?;
    // tenant-b is the demo's second tenant: whether the run wrote it
    // before failing, it holds all 15 devices or none, and the line says
    // what was taken.
    assert!(b == 15 || b == 0, "tenant-b holds {b} devices");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = device_line(&stdout)
        .unwrap_or_else(|| panic!("no device_registry line:\n{}", describe(&out)));
    let want = format!(
        "inserted {}, already present 0, declined by the database 3",
        12 + b
    );
    assert!(shows(line, &want), "{line:?}, want {want:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_demo_counts_both_tenants_sqlite() {
    run_case(Backend::Sqlite, the_whole_demo_counts_both_tenants).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_demo_counts_both_tenants_postgres() {
    run_case(Backend::Postgres, the_whole_demo_counts_both_tenants).await;
}
