//! Verification against databases corrupted by hand, through the library:
//! it must fail and name the row that breaks an invariant, and only that
//! row. The returned [`VerifyReport`]'s violations are compared whole, so
//! one more or one fewer fails. (Exit status 1, `--json` and the human
//! wording of a failed `seeder verify` are cli.rs's business.)

use entity::prelude::*;
use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status};
use ota_seed_tests::seeded::{campaign, status_row};
use ota_seed_tests::{DEMO_COUNTS, TestDb, assert_report_verified, backend_tests};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, NotSet,
    QueryFilter, QueryOrder, Set,
};
use seeder::{Dataset, DatasetSpec, Seeder, VerifyReport, Violation, ViolationKind};

/// Seeds the demo and opens the connection the test corrupts it through.
async fn seeded(db: &TestDb) -> anyhow::Result<DatabaseConnection> {
    let conn = db.connect().await?;
    Seeder::new(&Dataset::demo()).run(&conn).await?;
    Ok(conn)
}

/// The demo as seeded breaks nothing (each case checks before it corrupts
/// the database, so its violations are the corruption's).
async fn assert_passes(conn: &DatabaseConnection) -> anyhow::Result<()> {
    let report = seeder::verify(conn, &Dataset::demo()).await?;
    assert_eq!(report.violations, [], "{report:#?}");
    Ok(())
}

/// Verifies every demo tenant, expects a failure, returns the violations
/// sorted (the test compares sets, not the report's order).
async fn verify_fails(conn: &DatabaseConnection) -> anyhow::Result<Vec<Violation>> {
    let report: VerifyReport = seeder::verify(conn, &Dataset::demo()).await?;
    assert!(!report.passed(), "{report:#?}");
    Ok(sorted(report.violations))
}

fn sorted(mut violations: Vec<Violation>) -> Vec<Violation> {
    violations.sort_by(|a, b| (a.invariant, &a.row).cmp(&(b.invariant, &b.row)));
    violations
}

fn violation(kind: ViolationKind, row: String, problem: &str) -> Violation {
    Violation::new(kind, row, problem)
}

async fn clean_database_passes(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    // Nothing to report, over the whole demo (it does not pass vacuously).
    assert_report_verified(&seeder::verify(&conn, &Dataset::demo()).await?, DEMO_COUNTS);
    Ok(())
}

async fn a_wrong_counter_is_named(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    let c = campaign(&conn, "tenant-a").await?;
    let mut row = c.clone().into_active_model();
    row.succeeded = Set(13);
    row.update(&conn).await?;
    let out = verify_fails(&conn).await?;
    let expected = violation(
        ViolationKind::CountersDiffer,
        format!(
            "ota_campaigns id={} (tenant-a, \"Fleet Update to v1.1.0\")",
            c.id
        ),
        "counters say 15 total / 13 succeeded / 1 failed, its status rows say 15 / 14 / 1",
    );
    assert_eq!(out, [expected], "only the corrupted row is reported");
    Ok(())
}

async fn a_cross_tenant_reference_is_named(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    let b = campaign(&conn, "tenant-b").await?;
    // Move one of tenant-a's status rows into tenant-b's campaign.
    let row = OtaDeviceStatus::find()
        .filter(ota_device_status::Column::TenantId.eq("tenant-a"))
        .order_by_desc(ota_device_status::Column::DeviceId)
        .one(&conn)
        .await?
        .expect("status row");
    let mut moved = row.clone().into_active_model();
    moved.campaign_id = Set(b.id);
    moved.update(&conn).await?;
    let a = campaign(&conn, "tenant-a").await?;
    let out = verify_fails(&conn).await?;
    // The moved row, and the counters of both campaigns it left and joined
    // (one SUCCESS row fewer and more): nothing else.
    let expected = sorted(vec![
        violation(
            ViolationKind::CampaignOfAnotherTenant,
            format!(
                "ota_device_status id={} (tenant-a, campaign {}, device {}, SUCCESS)",
                row.id, b.id, row.device_id
            ),
            "its campaign belongs to another tenant",
        ),
        violation(
            ViolationKind::CountersDiffer,
            format!(
                "ota_campaigns id={} (tenant-a, \"Fleet Update to v1.1.0\")",
                a.id
            ),
            "counters say 15 total / 14 succeeded / 1 failed, its status rows say 14 / 13 / 1",
        ),
        violation(
            ViolationKind::CountersDiffer,
            format!(
                "ota_campaigns id={} (tenant-b, \"Fleet Update to v1.1.0\")",
                b.id
            ),
            "counters say 15 total / 14 succeeded / 1 failed, its status rows say 16 / 15 / 1",
        ),
    ]);
    assert_eq!(out, expected);
    // Scoped to tenant-b, the moved row (tenant-a's) is not checked, but it
    // still counts in tenant-b's campaign.
    let demo = Dataset::demo();
    let b_only = Seeder::new(&demo)
        .tenants(["tenant-b"])
        .verify(&conn)
        .await?;
    assert_eq!(b_only.violations, [expected[1].clone()], "{b_only:#?}");
    Ok(())
}

/// A FAILED row moved into another tenant's campaign counts there as a
/// row and as a failure (the SUCCESS row of the case above counts as a
/// success).
async fn a_failed_row_in_another_tenants_campaign_counts_there(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    let b = campaign(&conn, "tenant-b").await?;
    let failed = OtaDeviceStatus::find()
        .filter(ota_device_status::Column::Status.eq("FAILED"))
        .filter(ota_device_status::Column::TenantId.eq("tenant-a"))
        .one(&conn)
        .await?
        .expect("the failed row");
    let mut moved = failed.clone().into_active_model();
    moved.campaign_id = Set(b.id);
    let moved = moved.update(&conn).await?;
    let a = campaign(&conn, "tenant-a").await?;
    let out = verify_fails(&conn).await?;
    let expected = sorted(vec![
        violation(
            ViolationKind::CampaignOfAnotherTenant,
            status_row(&moved),
            "its campaign belongs to another tenant",
        ),
        violation(
            ViolationKind::CountersDiffer,
            format!(
                "ota_campaigns id={} (tenant-a, \"Fleet Update to v1.1.0\")",
                a.id
            ),
            "counters say 15 total / 14 succeeded / 1 failed, its status rows say 14 / 14 / 0",
        ),
        violation(
            ViolationKind::CountersDiffer,
            format!(
                "ota_campaigns id={} (tenant-b, \"Fleet Update to v1.1.0\")",
                b.id
            ),
            "counters say 15 total / 14 succeeded / 1 failed, its status rows say 16 / 14 / 2",
        ),
    ]);
    assert_eq!(out, expected);
    Ok(())
}

async fn a_broken_status_error_pair_is_named(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    let failed = OtaDeviceStatus::find()
        .filter(ota_device_status::Column::Status.eq("FAILED"))
        .filter(ota_device_status::Column::TenantId.eq("tenant-b"))
        .one(&conn)
        .await?
        .expect("the failed row");
    let mut row = failed.clone().into_active_model();
    row.error_message = Set(None);
    row.update(&conn).await?;
    let out = verify_fails(&conn).await?;
    let expected = violation(
        ViolationKind::FailedWithoutError,
        format!(
            "ota_device_status id={} (tenant-b, campaign {}, device factory-floor-sensor-01, FAILED)",
            failed.id, failed.campaign_id
        ),
        "FAILED without an error_message",
    );
    assert_eq!(out, [expected], "only the broken row is reported");
    Ok(())
}

async fn a_device_on_the_wrong_firmware_is_named(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    let device =
        DeviceRegistry::find_by_id(("tenant-a".to_owned(), "warehouse-west-sensor-03".to_owned()))
            .one(&conn)
            .await?
            .expect("device");
    let mut row: device_registry::ActiveModel = device.into();
    row.fw_version = Set(Some("1.0.0".into()));
    row.update(&conn).await?;
    let out = verify_fails(&conn).await?;
    let expected = violation(
        ViolationKind::OffLatestFinishedUpdate,
        "device_registry (tenant-a, warehouse-west-sensor-03)".to_owned(),
        "its latest finished update installed 1.1.0 but fw_version is \"1.0.0\"",
    );
    assert_eq!(out, [expected], "only the stale device is reported");
    // Scoped to the other tenant, the same database verifies clean.
    let demo = Dataset::demo();
    let b = Seeder::new(&demo)
        .tenants(["tenant-b"])
        .verify(&conn)
        .await?;
    assert_eq!(b.violations, [], "{b:#?}");
    Ok(())
}

/// Gives tenant-a's device `warehouse-west-sensor-03` (whose demo row is a
/// success to 1.1.0, and which runs 1.1.0) a second successful update, to
/// 1.0.0, in a RUNNING campaign (invariant 4 asks nothing of it; its
/// counters match its one row), completed `before` earlier than the demo
/// row (zero: at the same instant). Returns the device's demo row and the
/// new one.
async fn second_success_to_1_0_0(
    conn: &DatabaseConnection,
    before: chrono::Duration,
) -> anyhow::Result<(ota_device_status::Model, ota_device_status::Model)> {
    let demo = campaign(conn, "tenant-a").await?;
    let old_firmware = FirmwareVersions::find()
        .filter(firmware_versions::Column::TenantId.eq("tenant-a"))
        .filter(firmware_versions::Column::Version.eq("1.0.0"))
        .one(conn)
        .await?
        .expect("seeded firmware 1.0.0");
    let other = ota_campaigns::ActiveModel {
        id: NotSet,
        name: Set("Hotfix to v1.0.0".to_owned()),
        firmware_version_id: Set(old_firmware.id),
        status: Set("RUNNING".to_owned()),
        total_devices: Set(1),
        succeeded: Set(1),
        failed: Set(0),
        ..demo.into_active_model()
    }
    .insert(conn)
    .await?;
    let demo_row = OtaDeviceStatus::find()
        .filter(ota_device_status::Column::TenantId.eq("tenant-a"))
        .filter(ota_device_status::Column::DeviceId.eq("warehouse-west-sensor-03"))
        .one(conn)
        .await?
        .expect("the device's demo row");
    assert_eq!(demo_row.status, "SUCCESS");
    let completed = demo_row.completed_at.expect("finished") - before;
    let row = ota_device_status::ActiveModel {
        id: NotSet,
        campaign_id: Set(other.id),
        started_at: Set(Some(completed - chrono::Duration::minutes(30))),
        completed_at: Set(Some(completed)),
        ..demo_row.clone().into_active_model()
    }
    .insert(conn)
    .await?;
    assert!(row.id > demo_row.id);
    Ok((demo_row, row))
}

/// A success to other firmware that is not the device's latest finished
/// update breaks nothing (invariant 6 asks about the latest only).
async fn an_earlier_success_to_other_firmware_is_not_named(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    second_success_to_1_0_0(&conn, chrono::Duration::hours(2)).await?;
    let report = seeder::verify(&conn, &Dataset::demo()).await?;
    assert_eq!(report.violations, [], "{report:#?}");
    Ok(())
}

/// Two finished rows completed at the same instant: the later row (higher
/// id) is the latest, so the device should run its firmware, 1.0.0.
async fn a_tie_in_completed_at_goes_to_the_later_row(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    second_success_to_1_0_0(&conn, chrono::Duration::zero()).await?;
    let out = verify_fails(&conn).await?;
    let expected = violation(
        ViolationKind::OffLatestFinishedUpdate,
        "device_registry (tenant-a, warehouse-west-sensor-03)".to_owned(),
        "its latest finished update installed 1.0.0 but fw_version is \"1.1.0\"",
    );
    assert_eq!(out, [expected]);
    Ok(())
}

async fn device(
    conn: &DatabaseConnection,
    tenant: &str,
    device_id: &str,
) -> anyhow::Result<device_registry::Model> {
    Ok(
        DeviceRegistry::find_by_id((tenant.to_owned(), device_id.to_owned()))
            .one(conn)
            .await?
            .expect("seeded device"),
    )
}

/// The demo's status row of a device (it has one).
async fn demo_row(
    conn: &DatabaseConnection,
    tenant: &str,
    device_id: &str,
) -> anyhow::Result<ota_device_status::Model> {
    Ok(OtaDeviceStatus::find()
        .filter(ota_device_status::Column::TenantId.eq(tenant))
        .filter(ota_device_status::Column::DeviceId.eq(device_id))
        .one(conn)
        .await?
        .expect("the device's demo row"))
}

async fn firmware(
    conn: &DatabaseConnection,
    tenant: &str,
    version: &str,
) -> anyhow::Result<firmware_versions::Model> {
    Ok(FirmwareVersions::find()
        .filter(firmware_versions::Column::TenantId.eq(tenant))
        .filter(firmware_versions::Column::Version.eq(version))
        .one(conn)
        .await?
        .expect("seeded firmware"))
}

fn firmware_row(f: &firmware_versions::Model) -> String {
    format!(
        "firmware_versions id={} ({}, sensor, {:?})",
        f.id, f.tenant_id, f.version
    )
}

/// Adds tenant-a a build `version` of the demo's line (sensor), larger
/// than the demo's, created at `created`, and a campaign rolling it out
/// in state `status` whose counters are `counters` (total, succeeded,
/// failed).
async fn new_campaign(
    conn: &DatabaseConnection,
    version: &str,
    created: chrono::DateTime<chrono::FixedOffset>,
    status: &str,
    counters: (i32, i32, i32),
) -> anyhow::Result<ota_campaigns::Model> {
    let base = firmware(conn, "tenant-a", "1.1.0").await?;
    let build = firmware_versions::ActiveModel {
        id: NotSet,
        version: Set(version.to_owned()),
        file_size_bytes: Set(Some(600_000)),
        checksum_sha256: Set(Some("c".repeat(64))),
        created_at: Set(created),
        ..base.into_active_model()
    }
    .insert(conn)
    .await?;
    let demo = campaign(conn, "tenant-a").await?;
    let (total, succeeded, failed) = counters;
    Ok(ota_campaigns::ActiveModel {
        id: NotSet,
        name: Set(format!("Fleet Update to v{version}")),
        firmware_version_id: Set(build.id),
        status: Set(status.to_owned()),
        completed_at: Set(None),
        total_devices: Set(total),
        succeeded: Set(succeeded),
        failed: Set(failed),
        ..demo.into_active_model()
    }
    .insert(conn)
    .await?)
}

/// 7: a device provisioned after its update started.
async fn a_start_before_provisioning_is_named(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    assert_passes(&conn).await?;
    let row = demo_row(&conn, "tenant-a", "warehouse-west-sensor-03").await?;
    let started = row.started_at.expect("a finished row started");
    let mut d: device_registry::ActiveModel = device(&conn, "tenant-a", "warehouse-west-sensor-03")
        .await?
        .into();
    d.provisioned_at = Set(started + chrono::Duration::hours(1));
    d.update(&conn).await?;
    let out = verify_fails(&conn).await?;
    let expected = violation(
        ViolationKind::StartedBeforeProvisioning,
        status_row(&row),
        "started before its device was provisioned",
    );
    assert_eq!(out, [expected]);
    Ok(())
}

/// 7: firmware created after the first device of its rollout started
/// (and before the second).
async fn a_start_before_the_firmware_is_named(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    assert_passes(&conn).await?;
    let c = campaign(&conn, "tenant-a").await?;
    let mut rows = OtaDeviceStatus::find()
        .filter(ota_device_status::Column::CampaignId.eq(c.id))
        .all(&conn)
        .await?;
    rows.sort_by_key(|r| r.started_at);
    let (first, second) = (&rows[0], &rows[1]);
    let created = first.started_at.expect("started") + chrono::Duration::seconds(1);
    assert!(Some(created) < second.started_at, "{rows:#?}");
    let mut f: firmware_versions::ActiveModel = firmware(&conn, "tenant-a", "1.1.0").await?.into();
    f.created_at = Set(created);
    f.update(&conn).await?;
    let out = verify_fails(&conn).await?;
    let expected = violation(
        ViolationKind::StartedBeforeFirmware,
        status_row(first),
        "started before its campaign's firmware was created",
    );
    assert_eq!(out, [expected]);
    Ok(())
}

/// 8: a device already in an unfinished campaign gets a row in a second
/// one (RUNNING, its own firmware).
async fn a_device_in_two_unfinished_campaigns_is_named(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    let demo = campaign(&conn, "tenant-a").await?;
    let now = chrono::Utc::now().fixed_offset();
    let other = new_campaign(&conn, "1.2.0", now, "RUNNING", (1, 0, 0)).await?;
    let mine = demo_row(&conn, "tenant-a", "warehouse-west-sensor-03").await?;
    ota_device_status::ActiveModel {
        id: NotSet,
        campaign_id: Set(other.id),
        status: Set("PENDING".to_owned()),
        progress_pct: Set(0),
        error_message: Set(None),
        started_at: Set(None),
        completed_at: Set(None),
        ..mine.into_active_model()
    }
    .insert(&conn)
    .await?;
    // A device in one unfinished campaign and one COMPLETED one is fine.
    assert_passes(&conn).await?;
    // The demo campaign unfinished too (RUNNING asks nothing of its rows).
    let mut running = demo.clone().into_active_model();
    running.status = Set("RUNNING".to_owned());
    running.completed_at = Set(None);
    running.update(&conn).await?;
    let out = verify_fails(&conn).await?;
    let expected = violation(
        ViolationKind::SeveralUnfinishedCampaigns,
        "device_registry (tenant-a, warehouse-west-sensor-03)".to_owned(),
        &format!(
            "in more than one unfinished (CREATED, RUNNING or PAUSED) campaign: \
             id={} (\"Fleet Update to v1.1.0\"), id={} (\"Fleet Update to v1.2.0\")",
            demo.id, other.id
        ),
    );
    assert_eq!(out, [expected]);
    Ok(())
}

/// 8 across tenants: a device in its tenant's one unfinished campaign gets
/// a row in another tenant's unfinished campaign. With one unfinished
/// campaign of its own no two device ranges of its tenant overlap, yet the
/// device is in two unfinished campaigns.
async fn a_device_also_in_another_tenants_unfinished_campaign_is_named(
    db: TestDb,
) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    // Both demo campaigns unfinished (RUNNING asks nothing of its rows).
    for tenant in ["tenant-a", "tenant-b"] {
        let mut running = campaign(&conn, tenant).await?.into_active_model();
        running.status = Set("RUNNING".to_owned());
        running.completed_at = Set(None);
        running.update(&conn).await?;
    }
    assert_passes(&conn).await?;
    let a = campaign(&conn, "tenant-a").await?;
    let b = campaign(&conn, "tenant-b").await?;
    let mine = demo_row(&conn, "tenant-a", "warehouse-west-sensor-03").await?;
    let row = ota_device_status::ActiveModel {
        id: NotSet,
        campaign_id: Set(b.id),
        status: Set("PENDING".to_owned()),
        progress_pct: Set(0),
        error_message: Set(None),
        started_at: Set(None),
        completed_at: Set(None),
        ..mine.into_active_model()
    }
    .insert(&conn)
    .await?;
    // tenant-b's counters count the row, as every row naming the campaign.
    let mut counted = b.clone().into_active_model();
    counted.total_devices = Set(b.total_devices + 1);
    counted.update(&conn).await?;
    let out = verify_fails(&conn).await?;
    let (first, second) = (a.id.min(b.id), a.id.max(b.id));
    let expected = sorted(vec![
        violation(
            ViolationKind::CampaignOfAnotherTenant,
            status_row(&row),
            "its campaign belongs to another tenant",
        ),
        violation(
            ViolationKind::SeveralUnfinishedCampaigns,
            "device_registry (tenant-a, warehouse-west-sensor-03)".to_owned(),
            &format!(
                "in more than one unfinished (CREATED, RUNNING or PAUSED) campaign: \
                 id={first} (\"Fleet Update to v1.1.0\"), id={second} (\"Fleet Update to v1.1.0\")"
            ),
        ),
    ]);
    assert_eq!(out, expected);
    Ok(())
}

async fn set_metadata(
    conn: &DatabaseConnection,
    tenant: &str,
    device_id: &str,
    metadata: serde_json::Value,
) -> anyhow::Result<()> {
    let mut d: device_registry::ActiveModel = device(conn, tenant, device_id).await?.into();
    d.metadata = Set(metadata);
    d.update(conn).await?;
    Ok(())
}

/// 9: a camera in a rollout of sensor firmware. A device's type is its
/// metadata's `type`; without one (or with JSON null) it is a sensor.
async fn a_device_of_another_type_is_named(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    assert_passes(&conn).await?;
    for sensor in [
        serde_json::json!({"type": "sensor", "model": "DHT22"}),
        serde_json::json!({"type": null, "model": "DHT22"}),
    ] {
        set_metadata(&conn, "tenant-a", "warehouse-west-sensor-03", sensor).await?;
        assert_passes(&conn).await?;
    }
    set_metadata(
        &conn,
        "tenant-a",
        "warehouse-west-sensor-03",
        serde_json::json!({"type": "camera", "model": "DHT22", "installed": "2024-01-15"}),
    )
    .await?;
    let row = demo_row(&conn, "tenant-a", "warehouse-west-sensor-03").await?;
    let out = verify_fails(&conn).await?;
    let expected = violation(
        ViolationKind::WrongDeviceType,
        status_row(&row),
        "its device's type is not its campaign's firmware's device_type",
    );
    assert_eq!(out, [expected]);
    Ok(())
}

/// 10, a device without a success: it runs what it was provisioned with
/// (its metadata's `firmware`). Devices with a success are not held to it.
async fn a_device_off_its_provisioned_firmware_is_named(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    // Every device of tenant-a came with 1.0.0; all but the failed one
    // have since succeeded to 1.1.0.
    for d in DeviceRegistry::find()
        .filter(device_registry::Column::TenantId.eq("tenant-a"))
        .all(&conn)
        .await?
    {
        let mut metadata = d.metadata.clone();
        metadata["firmware"] = serde_json::json!("1.0.0");
        set_metadata(&conn, "tenant-a", &d.device_id, metadata).await?;
    }
    assert_passes(&conn).await?;
    let failed = device(&conn, "tenant-a", "cold-storage-1-sensor-01").await?;
    assert_eq!(failed.fw_version.as_deref(), Some("1.0.0"));
    let mut d: device_registry::ActiveModel = failed.into();
    d.fw_version = Set(Some("0.9.0".to_owned()));
    d.update(&conn).await?;
    let out = verify_fails(&conn).await?;
    let expected = violation(
        ViolationKind::OffProvisionedFirmware,
        "device_registry (tenant-a, cold-storage-1-sensor-01)".to_owned(),
        "no successful update, provisioned with 1.0.0 (metadata firmware) but fw_version is \"0.9.0\"",
    );
    assert_eq!(out, [expected]);
    Ok(())
}

/// 10, a device whose latest finished update failed after an earlier
/// success: it runs what that success installed (which 6 does not ask).
async fn a_device_off_its_latest_success_is_named(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    let success = demo_row(&conn, "tenant-a", "warehouse-west-sensor-03").await?;
    let after = success.completed_at.expect("finished");
    let other = new_campaign(&conn, "1.2.0", after, "RUNNING", (1, 0, 1)).await?;
    ota_device_status::ActiveModel {
        id: NotSet,
        campaign_id: Set(other.id),
        status: Set("FAILED".to_owned()),
        progress_pct: Set(100),
        error_message: Set(Some("Checksum mismatch after download".to_owned())),
        started_at: Set(Some(after + chrono::Duration::hours(1))),
        completed_at: Set(Some(after + chrono::Duration::minutes(90))),
        ..success.clone().into_active_model()
    }
    .insert(&conn)
    .await?;
    // Still on 1.1.0, the firmware of its latest success: fine.
    assert_passes(&conn).await?;
    let mut d: device_registry::ActiveModel = device(&conn, "tenant-a", "warehouse-west-sensor-03")
        .await?
        .into();
    d.fw_version = Set(Some("1.0.0".to_owned()));
    d.update(&conn).await?;
    let out = verify_fails(&conn).await?;
    let expected = violation(
        ViolationKind::OffLatestSuccess,
        "device_registry (tenant-a, warehouse-west-sensor-03)".to_owned(),
        "its latest successful update installed 1.1.0 but fw_version is \"1.0.0\"",
    );
    assert_eq!(out, [expected]);
    Ok(())
}

/// 11: an upper-case checksum, one of 63 characters, and a later version
/// smaller than the one before it.
async fn unreal_firmware_lines_are_named(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    assert_passes(&conn).await?;
    let upper = firmware(&conn, "tenant-a", "1.0.0").await?;
    let mut f = upper.clone().into_active_model();
    f.checksum_sha256 = Set(Some("A".repeat(64)));
    f.update(&conn).await?;
    let short = firmware(&conn, "tenant-b", "1.1.0").await?;
    let mut f = short.clone().into_active_model();
    f.checksum_sha256 = Set(Some("b".repeat(63)));
    f.update(&conn).await?;
    let smaller = firmware(&conn, "tenant-a", "1.1.0").await?;
    let mut f = smaller.clone().into_active_model();
    f.file_size_bytes = Set(Some(500_000));
    f.update(&conn).await?;
    let out = verify_fails(&conn).await?;
    let bad = "checksum_sha256 is not 64 lowercase hex characters";
    let expected = sorted(vec![
        violation(ViolationKind::BadChecksum, firmware_row(&upper), bad),
        violation(ViolationKind::BadChecksum, firmware_row(&short), bad),
        violation(
            ViolationKind::SizeNotLarger,
            firmware_row(&smaller),
            "file_size_bytes is not larger than that of the version before it on its line",
        ),
    ]);
    assert_eq!(out, expected);
    Ok(())
}

/// Invariant 6 for a device past the first thousand successes of its tenant
/// (which verify samples first for a success to other firmware than the
/// device runs): the status rows' scan still sees its row, and the device
/// is named.
async fn a_stale_device_past_the_sample_is_named(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    // tenant-a: 1,200 devices, all but the first in the completed demo
    // campaign's successes; warehouse-west-sensor-400 is the last of them
    // in device order.
    let big = Dataset::fleet(&DatasetSpec {
        devices_per_site: 400,
        tenants: 1,
        ..DatasetSpec::default()
    });
    Seeder::new(&big).run(&conn).await?;
    let report = seeder::verify(&conn, &big).await?;
    assert_eq!(report.violations, [], "{report:#?}");
    let mut d: device_registry::ActiveModel =
        device(&conn, "tenant-a", "warehouse-west-sensor-400")
            .await?
            .into();
    d.fw_version = Set(Some("1.0.0".into()));
    d.update(&conn).await?;
    let report = seeder::verify(&conn, &big).await?;
    let expected = violation(
        ViolationKind::OffLatestFinishedUpdate,
        "device_registry (tenant-a, warehouse-west-sensor-400)".to_owned(),
        "its latest finished update installed 1.1.0 but fw_version is \"1.0.0\"",
    );
    assert_eq!(report.violations, [expected]);
    Ok(())
}

/// Issue 22: many small tenants, checked a batch of tenants per
/// transaction. Corruptions planted in the first, a middle and the last
/// tenant are each reported once, in the order of the tenants as given
/// (the dataset's: tenant-a, tenant-b, then tenant-0003 to tenant-0300,
/// which is not their order as text), each tenant's in the order of the
/// rules; and they are what verifying each of those tenants alone reports.
async fn many_small_tenants_are_reported_in_tenant_order(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let fleet = Dataset::fleet(&DatasetSpec {
        tenants: 300,
        sites_per_tenant: 1,
        devices_per_site: 2,
        campaigns_per_tenant: 1,
        ..DatasetSpec::default()
    });
    Seeder::new(&fleet).run(&conn).await?;
    let ids: Vec<String> = fleet.tenant_ids().into_iter().map(str::to_owned).collect();
    assert_eq!(ids.len(), 300);
    let (first, middle, last) = (&ids[0], &ids[150], &ids[299]);
    assert_eq!(
        (first.as_str(), middle.as_str(), last.as_str()),
        ("tenant-a", "tenant-0151", "tenant-0300")
    );
    let clean = seeder::verify(&conn, &fleet).await?;
    assert_eq!(clean.violations, [], "{clean:#?}");

    // The first tenant: invariant 11, an upper-case checksum.
    let upper = FirmwareVersions::find()
        .filter(firmware_versions::Column::TenantId.eq(first.as_str()))
        .order_by_asc(firmware_versions::Column::Id)
        .one(&conn)
        .await?
        .expect("the first tenant's firmware");
    let mut f = upper.clone().into_active_model();
    f.checksum_sha256 = Set(Some("A".repeat(64)));
    f.update(&conn).await?;
    // The middle tenant: invariant 1 (a counter) and a terminal status
    // row at 50% (its one campaign is the demo's completed rollout).
    let middle_campaign = campaign(&conn, middle).await?;
    let mut c = middle_campaign.clone().into_active_model();
    c.failed = Set(middle_campaign.failed + 7);
    c.update(&conn).await?;
    let half = OtaDeviceStatus::find()
        .filter(ota_device_status::Column::TenantId.eq(middle.as_str()))
        .order_by_asc(ota_device_status::Column::Id)
        .one(&conn)
        .await?
        .expect("the middle tenant's status row");
    assert!(
        ["SUCCESS", "FAILED"].contains(&half.status.as_str()),
        "{half:?}"
    );
    let mut row = half.clone().into_active_model();
    row.progress_pct = Set(50);
    row.update(&conn).await?;
    // The last tenant: invariant 1.
    let last_campaign = campaign(&conn, last).await?;
    let mut c = last_campaign.clone().into_active_model();
    c.succeeded = Set(last_campaign.succeeded + 100);
    c.update(&conn).await?;

    let counters = |c: &ota_campaigns::Model, said: (i32, i32, i32)| {
        violation(
            ViolationKind::CountersDiffer,
            format!("ota_campaigns id={} ({}, {:?})", c.id, c.tenant_id, c.name),
            &format!(
                "counters say {} total / {} succeeded / {} failed, its status rows say {} / {} / {}",
                said.0, said.1, said.2, c.total_devices, c.succeeded, c.failed
            ),
        )
    };
    let expected = vec![
        violation(
            ViolationKind::BadChecksum,
            format!(
                "firmware_versions id={} ({first}, {}, {:?})",
                upper.id,
                upper.device_type.as_deref().unwrap_or("NULL"),
                upper.version
            ),
            "checksum_sha256 is not 64 lowercase hex characters",
        ),
        counters(
            &middle_campaign,
            (
                middle_campaign.total_devices,
                middle_campaign.succeeded,
                middle_campaign.failed + 7,
            ),
        ),
        violation(
            ViolationKind::FinalNotAt100,
            status_row(&half),
            "terminal (SUCCESS/FAILED) with progress_pct other than 100",
        ),
        counters(
            &last_campaign,
            (
                last_campaign.total_devices,
                last_campaign.succeeded + 100,
                last_campaign.failed,
            ),
        ),
    ];
    let report = seeder::verify(&conn, &fleet).await?;
    assert_eq!(report.violations, expected, "{:#?}", report.violations);
    // Each tenant alone reports its share, in the same order.
    let mut alone = Vec::new();
    for tenant in [first, middle, last] {
        let one = Seeder::new(&fleet).tenants([tenant]).verify(&conn).await?;
        alone.extend(one.violations);
    }
    assert_eq!(report.violations, alone);
    // Every tenant's campaign, in the tenants' order; every row counted once.
    let campaign_tenants: Vec<&str> = report
        .campaigns
        .iter()
        .map(|c| c.tenant_id.as_str())
        .collect();
    assert_eq!(campaign_tenants, ids);
    assert_eq!(report.count("tenants"), 300);
    assert_eq!(report.count("device_registry"), 600);
    assert_eq!(report.count("ota_campaigns"), 300);
    assert_eq!(
        report.count("ota_device_status"),
        600,
        "one status row per device"
    );
    Ok(())
}

backend_tests!(
    clean_database_passes,
    a_wrong_counter_is_named,
    a_cross_tenant_reference_is_named,
    a_failed_row_in_another_tenants_campaign_counts_there,
    a_broken_status_error_pair_is_named,
    a_device_on_the_wrong_firmware_is_named,
    an_earlier_success_to_other_firmware_is_not_named,
    a_tie_in_completed_at_goes_to_the_later_row,
    a_start_before_provisioning_is_named,
    a_start_before_the_firmware_is_named,
    a_device_in_two_unfinished_campaigns_is_named,
    a_device_also_in_another_tenants_unfinished_campaign_is_named,
    a_device_of_another_type_is_named,
    a_device_off_its_provisioned_firmware_is_named,
    a_device_off_its_latest_success_is_named,
    unreal_firmware_lines_are_named,
    a_stale_device_past_the_sample_is_named,
    many_small_tenants_are_reported_in_tenant_order,
);
