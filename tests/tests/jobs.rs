//! `--jobs N` / `Seeder::jobs(n)` (issue 11): up to N tenants seeded at
//! once, each in its own transaction on its own connection. The rows are
//! those of one job (same digest), the report lists tenants in dataset
//! order with the same counts, a rerun inserts nothing, and the invariants
//! hold. SQLite, which writes one transaction at a time, seeds one tenant
//! after another through the library and refuses `--jobs 2` on the command
//! line.

use ota_seed_tests::snapshot::{DigestScope, dataset_digest};
use ota_seed_tests::{TestDb, assert_clean_error, backend_tests, json_summary};
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
