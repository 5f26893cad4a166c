//! The seeder against real databases: the platform's verification figures,
//! idempotency, growing fleets, subsets, and determinism across backends.
//! Through the library, in-process: assertions on the returned reports and
//! on the tables read through `entity` (the command line is cli.rs's).

use std::sync::Mutex;

use entity::prelude::*;
use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status};
use ota_seed_tests::snapshot::{DigestScope, dataset_digest, table_contents};
use ota_seed_tests::{
    Backend, DEMO_COUNTS, TestDb, assert_report_verified, backend_tests, run_case,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use seeder::{Dataset, DatasetSpec, SeedReport, Seeder, Table, VerifyReport};
use sha2::Digest as _;

/// What `--only ota` names: the three OTA tables.
const OTA: [Table; 3] = [Table::Firmware, Table::Campaigns, Table::DeviceStatus];

/// Seeds, then verifies what was seeded (the selected tenants), as a
/// seeding run of the command does; insists the verification passed.
async fn seed(
    conn: &DatabaseConnection,
    seeder: &Seeder<'_>,
) -> anyhow::Result<(SeedReport, VerifyReport)> {
    let report = seeder.run(conn).await?;
    let verified = seeder.verify(conn).await?;
    assert!(verified.passed(), "{verified:#?}");
    Ok((report, verified))
}

/// `(inserted, present, updated)` of one table (zero where the run did
/// not cover it).
fn counts(report: &SeedReport, table: Table) -> (u64, u64, u64) {
    let c = report.table(table);
    (c.inserted, c.present, c.updated)
}

async fn fresh_run_gives_the_platform_figures(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let demo = Dataset::demo();
    let (report, verified) = seed(&conn, &Seeder::new(&demo)).await?;
    assert_eq!(counts(&report, Table::DeviceStatus), (30, 0, 0));
    assert_report_verified(&verified, DEMO_COUNTS);

    let firmware = FirmwareVersions::find()
        .order_by_asc(firmware_versions::Column::TenantId)
        .order_by_asc(firmware_versions::Column::Version)
        .all(&conn)
        .await?;
    let keys: Vec<(&str, &str, Option<&str>, Option<&str>)> = firmware
        .iter()
        .map(|f| {
            (
                f.tenant_id.as_str(),
                f.version.as_str(),
                f.device_type.as_deref(),
                f.created_by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            (
                "tenant-a",
                "1.0.0",
                Some("sensor"),
                Some("demo-admin-tenant-a")
            ),
            (
                "tenant-a",
                "1.1.0",
                Some("sensor"),
                Some("demo-admin-tenant-a")
            ),
            (
                "tenant-b",
                "1.0.0",
                Some("sensor"),
                Some("demo-admin-tenant-b")
            ),
            (
                "tenant-b",
                "1.1.0",
                Some("sensor"),
                Some("demo-admin-tenant-b")
            ),
        ]
    );
    assert_eq!(
        firmware[1].checksum_sha256.as_deref(),
        Some("b".repeat(64).as_str())
    );
    assert_eq!(firmware[0].file_size_bytes, Some(524_288));

    let campaigns = OtaCampaigns::find()
        .order_by_asc(ota_campaigns::Column::TenantId)
        .all(&conn)
        .await?;
    assert_eq!(campaigns.len(), 2);
    for c in &campaigns {
        assert_eq!(c.name, "Fleet Update to v1.1.0");
        assert_eq!(c.status, "COMPLETED");
        assert_eq!((c.total_devices, c.succeeded, c.failed), (15, 14, 1));
        assert_eq!(
            (
                c.rollout_strategy.as_str(),
                c.rollout_rate,
                c.target_group_id.as_str()
            ),
            ("linear", 20, "all")
        );
        assert!((c.abort_threshold - 0.1).abs() < 1e-9);
        let fw = firmware
            .iter()
            .find(|f| f.id == c.firmware_version_id)
            .expect("campaign firmware exists");
        assert_eq!(
            (fw.tenant_id.as_str(), fw.version.as_str()),
            (c.tenant_id.as_str(), "1.1.0")
        );
        let (started, completed) = (
            c.started_at.expect("started"),
            c.completed_at.expect("completed"),
        );
        assert_eq!(completed - started, chrono::Duration::days(1));

        let mut rows = OtaDeviceStatus::find()
            .filter(ota_device_status::Column::CampaignId.eq(c.id))
            .all(&conn)
            .await?;
        rows.sort_by(|a, b| a.device_id.cmp(&b.device_id));
        assert_eq!(rows.len(), 15);
        assert_eq!(rows.iter().filter(|r| r.status == "SUCCESS").count(), 14);
        let failed: Vec<_> = rows.iter().filter(|r| r.status == "FAILED").collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(
            failed[0].device_id, rows[0].device_id,
            "the failing device is the first by device_id"
        );
        assert_eq!(
            failed[0].error_message.as_deref(),
            Some("Checksum mismatch after download")
        );
        assert!(
            rows.iter()
                .all(|r| r.progress_pct == 100 && r.tenant_id == c.tenant_id)
        );
        assert!(rows[1..].iter().all(|r| r.error_message.is_none()));
        let step = rows[2].started_at.expect("started") - rows[0].started_at.expect("started");
        assert_eq!(
            step,
            chrono::Duration::minutes(20),
            "device i starts 10 min × i after the first"
        );
    }
    let first_a =
        DeviceRegistry::find_by_id(("tenant-a".to_owned(), "cold-storage-1-sensor-01".to_owned()))
            .one(&conn)
            .await?
            .expect("device exists");
    assert_eq!(
        first_a.fw_version.as_deref(),
        Some("1.0.0"),
        "the failed device still runs 1.0.0"
    );
    let running_new = DeviceRegistry::find()
        .filter(device_registry::Column::FwVersion.eq("1.1.0"))
        .count(&conn)
        .await?;
    assert_eq!(running_new, 28);
    let expected_hash = hex::encode(sha2::Sha256::digest(b"tok-cold-storage-1-sensor-01"));
    assert_eq!(
        first_a.provision_token_hash.as_deref(),
        Some(expected_hash.as_str())
    );
    assert_eq!(first_a.metadata["installed"], "2024-01-15");
    assert!(
        ["DHT22", "BME280", "SHT31"].contains(&first_a.metadata["model"].as_str().unwrap_or(""))
    );
    Ok(())
}

async fn second_run_changes_nothing(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let demo = Dataset::demo();
    seed(&conn, &Seeder::new(&demo)).await?;
    let before = table_contents(&conn).await?;
    let (report, _) = seed(&conn, &Seeder::new(&demo)).await?;
    for (table, present) in [
        (Table::Tenants, 2),
        (Table::Devices, 30),
        (Table::Firmware, 4),
        (Table::Campaigns, 2),
        (Table::DeviceStatus, 30),
    ] {
        assert_eq!(
            counts(&report, table),
            (0, present, 0),
            "{table:?} inserted, present, updated"
        );
    }
    assert_eq!(report.inserted_total(), 0, "{report:#?}");
    let after = table_contents(&conn).await?;
    assert_eq!(
        before, after,
        "a rerun must not change a single column of any row"
    );
    Ok(())
}

async fn added_devices_get_status_rows_and_counters_follow(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let demo = Dataset::demo();
    seed(&conn, &Seeder::new(&demo)).await?;
    // A device registered by hand, still on the old firmware. Provisioned
    // with the demo's devices: the run gives it a row in the demo campaign,
    // which started two days ago, and invariant 7 wants no update to start
    // before its device was provisioned.
    device_registry::ActiveModel {
        tenant_id: Set("tenant-a".into()),
        device_id: Set("warehouse-east-sensor-09".into()),
        site_id: Set("warehouse-east".into()),
        fw_version: Set(Some("1.0.0".into())),
        metadata: Set(serde_json::json!({"model": "BME280"})),
        provisioned_at: Set(chrono::DateTime::parse_from_rfc3339(
            "2024-01-15T00:00:00Z",
        )?),
        ..Default::default()
    }
    .insert(&conn)
    .await?;
    let (report, verified) = seed(&conn, &Seeder::new(&demo)).await?;
    assert_eq!(counts(&report, Table::DeviceStatus), (1, 30, 0));
    // tenant-a's counters recomputed.
    assert_eq!(counts(&report, Table::Campaigns), (0, 2, 1));
    assert_report_verified(&verified, [2, 31, 4, 2, 31]);
    let a = OtaCampaigns::find()
        .filter(ota_campaigns::Column::TenantId.eq("tenant-a"))
        .one(&conn)
        .await?
        .expect("campaign");
    assert_eq!((a.total_devices, a.succeeded, a.failed), (16, 15, 1));
    let row = OtaDeviceStatus::find()
        .filter(ota_device_status::Column::DeviceId.eq("warehouse-east-sensor-09"))
        .one(&conn)
        .await?
        .expect("status row for the new device");
    assert_eq!((row.status.as_str(), row.campaign_id), ("SUCCESS", a.id));
    let device =
        DeviceRegistry::find_by_id(("tenant-a".to_owned(), "warehouse-east-sensor-09".to_owned()))
            .one(&conn)
            .await?
            .expect("device");
    assert_eq!(
        device.fw_version.as_deref(),
        Some("1.1.0"),
        "a recorded successful update means it runs 1.1.0"
    );

    // A bigger fleet from the dataset itself: 3 more devices per tenant.
    let bigger = Dataset::fleet(&DatasetSpec {
        devices_per_site: 6,
        ..DatasetSpec::default()
    });
    let (report, _) = seed(&conn, &Seeder::new(&bigger)).await?;
    let devices = report.table(Table::Devices);
    let statuses = report.table(Table::DeviceStatus);
    assert_eq!(devices.inserted, 6, "{report:#?}");
    // Present devices are the planned ones found; the hand-registered
    // device's status row counts among the status rows present.
    assert_eq!(devices.present, 30, "{report:#?}");
    assert_eq!(statuses.inserted, 6, "{report:#?}");
    assert_eq!(statuses.present, 31, "{report:#?}");
    let counters: Vec<(String, i32, i32, i32)> = OtaCampaigns::find()
        .order_by_asc(ota_campaigns::Column::TenantId)
        .all(&conn)
        .await?
        .into_iter()
        .map(|c| (c.tenant_id, c.total_devices, c.succeeded, c.failed))
        .collect();
    assert_eq!(
        counters,
        [
            ("tenant-a".into(), 19, 18, 1),
            ("tenant-b".into(), 18, 17, 1)
        ]
    );
    Ok(())
}

async fn subsets_follow_dependencies(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let demo = Dataset::demo();
    let b = || Seeder::new(&demo).tenants(["tenant-b"]);
    let (report, _) = seed(&conn, &b().only([Table::Tenants])).await?;
    assert_eq!(counts(&report, Table::Tenants), (1, 0, 0));
    assert!(
        !report.tables.contains_key(&Table::Devices),
        "only tenants: {report:#?}"
    );
    // OTA without devices: OTA data for the devices that exist (none yet).
    let (report, _) = seed(&conn, &b().only(OTA)).await?;
    assert_eq!(counts(&report, Table::DeviceStatus), (0, 0, 0));
    assert!(
        report.tables.contains_key(&Table::DeviceStatus),
        "the status step ran: {report:#?}"
    );
    let c = OtaCampaigns::find().one(&conn).await?.expect("campaign");
    assert_eq!((c.total_devices, c.succeeded, c.failed), (0, 0, 0));
    assert_eq!(DeviceRegistry::find().count(&conn).await?, 0);
    // Devices arrive, then OTA again: status rows appear, counters follow.
    seed(&conn, &b().only([Table::Devices])).await?;
    let (report, _) = seed(&conn, &b().only(OTA)).await?;
    assert_eq!(counts(&report, Table::DeviceStatus), (15, 0, 0));
    let c = OtaCampaigns::find().one(&conn).await?.expect("campaign");
    assert_eq!((c.total_devices, c.succeeded, c.failed), (15, 14, 1));
    assert_eq!(
        Tenants::find().count(&conn).await?,
        1,
        "tenant-a was never named"
    );
    assert!(
        Tenants::find_by_id("tenant-a".to_owned())
            .one(&conn)
            .await?
            .is_none()
    );
    Ok(())
}

backend_tests!(
    fresh_run_gives_the_platform_figures,
    second_run_changes_nothing,
    added_devices_get_status_rows_and_counters_follow,
    subsets_follow_dependencies,
);

/// Same seed, same rows on every backend; another seed changes only the
/// random parts (device models).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_gives_the_same_rows_on_every_backend() {
    static DIGESTS: Mutex<Vec<(Backend, String, String, String)>> = Mutex::new(Vec::new());
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        run_case(backend, |db: TestDb| async move {
            let conn = db.connect().await?;
            let seeded = |n| {
                Dataset::fleet(&DatasetSpec {
                    seed: n,
                    ..DatasetSpec::default()
                })
            };
            let forty_two = seeded(42);
            seed(&conn, &Seeder::new(&forty_two)).await?;
            let full = dataset_digest(&conn, DigestScope::Everything).await?;
            let fixed = dataset_digest(&conn, DigestScope::WithoutRandomParts).await?;
            conn.close().await?;
            // Another seed, into a second SQLite database beside this one.
            let other_url = format!(
                "sqlite://{}?mode=rwc",
                db.dir.path().join("other.sqlite").display()
            );
            let other = ota_seed_tests::connect(&other_url).await?;
            let seven = seeded(7);
            seed(&other, &Seeder::new(&seven)).await?;
            let other_digests = format!(
                "{} {}",
                dataset_digest(&other, DigestScope::Everything).await?,
                dataset_digest(&other, DigestScope::WithoutRandomParts).await?
            );
            DIGESTS
                .lock()
                .expect("lock")
                .push((backend, full, fixed, other_digests));
            Ok(())
        })
        .await;
    }
    let digests = DIGESTS.lock().expect("lock").clone();
    let (_, first_full, first_fixed, _) = digests.first().expect("SQLite always runs").clone();
    for (backend, full, fixed, _) in &digests {
        assert_eq!(
            full,
            &first_full,
            "{} rows differ from SQLite's for the same seed",
            backend.name()
        );
        assert_eq!(fixed, &first_fixed);
    }
    let (_, _, _, other_seed) = &digests[0];
    let (other_full, other_fixed) = other_seed.split_once(' ').expect("two digests");
    assert_ne!(
        other_full, first_full,
        "another seed must change the random parts"
    );
    assert_eq!(
        other_fixed, first_fixed,
        "another seed must change only the random parts"
    );
}
