//! Verification against databases corrupted by hand, through the library:
//! it must fail and name the row that breaks an invariant, and only that
//! row. The returned [`VerifyReport`]'s violations are compared whole, so
//! one more or one fewer fails. (Exit status 1, `--json` and the human
//! wording of a failed `seeder verify` are cli.rs's business.)

use entity::prelude::*;
use entity::{device_registry, ota_campaigns, ota_device_status};
use ota_seed_tests::{DEMO_COUNTS, TestDb, assert_report_verified, backend_tests};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
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

backend_tests!(
    clean_database_passes,
    a_wrong_counter_is_named,
    a_cross_tenant_reference_is_named,
    a_broken_status_error_pair_is_named,
    a_device_on_the_wrong_firmware_is_named,
);
