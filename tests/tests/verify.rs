//! Verification against databases corrupted by hand, through the library:
//! it must fail and name the row that breaks an invariant, and only that
//! row. The returned [`VerifyReport`]'s violations are compared whole, so
//! one more or one fewer fails. (Exit status 1, `--json` and the human
//! wording of a failed `seeder verify` are cli.rs's business.)

use entity::prelude::*;
use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status};
use ota_seed_tests::{DEMO_COUNTS, TestDb, assert_report_verified, backend_tests};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, NotSet,
    QueryFilter, QueryOrder, Set,
};
use seeder::{Dataset, Seeder, VerifyReport, Violation};

/// Seeds the demo and opens the connection the test corrupts it through.
async fn seeded(db: &TestDb) -> anyhow::Result<DatabaseConnection> {
    let conn = db.connect().await?;
    Seeder::new(&Dataset::demo()).run(&conn).await?;
    Ok(conn)
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

fn violation(invariant: u8, row: String, problem: &str) -> Violation {
    Violation {
        invariant,
        row,
        problem: problem.to_owned(),
    }
}

async fn campaign(
    conn: &sea_orm::DatabaseConnection,
    tenant: &str,
) -> anyhow::Result<ota_campaigns::Model> {
    Ok(OtaCampaigns::find()
        .filter(ota_campaigns::Column::TenantId.eq(tenant))
        .one(conn)
        .await?
        .expect("seeded campaign"))
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
        1,
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
            2,
            format!(
                "ota_device_status id={} (tenant-a, campaign {}, device {}, SUCCESS)",
                row.id, b.id, row.device_id
            ),
            "its campaign belongs to another tenant",
        ),
        violation(
            1,
            format!(
                "ota_campaigns id={} (tenant-a, \"Fleet Update to v1.1.0\")",
                a.id
            ),
            "counters say 15 total / 14 succeeded / 1 failed, its status rows say 14 / 13 / 1",
        ),
        violation(
            1,
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
        3,
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
        6,
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
        6,
        "device_registry (tenant-a, warehouse-west-sensor-03)".to_owned(),
        "its latest finished update installed 1.0.0 but fw_version is \"1.1.0\"",
    );
    assert_eq!(out, [expected]);
    Ok(())
}

backend_tests!(
    clean_database_passes,
    a_wrong_counter_is_named,
    a_cross_tenant_reference_is_named,
    a_broken_status_error_pair_is_named,
    a_device_on_the_wrong_firmware_is_named,
    an_earlier_success_to_other_firmware_is_not_named,
    a_tie_in_completed_at_goes_to_the_later_row,
);
