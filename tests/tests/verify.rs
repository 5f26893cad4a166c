//! `seeder verify` against databases corrupted by hand: it must fail with
//! exit status 1 and name the row that breaks an invariant.

use entity::prelude::*;
use entity::{device_registry, ota_campaigns, ota_device_status};
use ota_seed_tests::{TestDb, backend_tests, describe};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};

fn seed(db: &TestDb) {
    let out = db.seeder(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
}

/// Runs `verify`, expects exit 1, returns stdout.
fn verify_fails(db: &TestDb) -> String {
    let out = db.seeder(&["verify"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "verify should report the violation:\n{}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
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
    seed(&db);
    let out = db.seeder(&["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("invariants: all 6 hold"), "{stdout}");
    assert!(stdout.contains("ota_device_status        30"), "{stdout}");
    Ok(())
}

async fn a_wrong_counter_is_named(db: TestDb) -> anyhow::Result<()> {
    seed(&db);
    let conn = db.connect().await?;
    let c = campaign(&conn, "tenant-a").await?;
    let mut row = c.clone().into_active_model();
    row.succeeded = Set(13);
    row.update(&conn).await?;
    let out = verify_fails(&db);
    let expected = format!(
        "invariant 1: ota_campaigns id={} (tenant-a, \"Fleet Update to v1.1.0\"): counters say 15 total / 13 succeeded / 1 failed, its status rows say 15 / 14 / 1",
        c.id
    );
    assert!(out.contains(&expected), "expected {expected:?} in:\n{out}");
    assert!(
        out.contains("1 violation(s)"),
        "only the corrupted row is reported:\n{out}"
    );
    Ok(())
}

async fn a_cross_tenant_reference_is_named(db: TestDb) -> anyhow::Result<()> {
    seed(&db);
    let conn = db.connect().await?;
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
    let out = verify_fails(&db);
    let expected = format!(
        "invariant 2: ota_device_status id={} (tenant-a, campaign {}, device {}, SUCCESS): its campaign belongs to another tenant",
        row.id, b.id, row.device_id
    );
    assert!(out.contains(&expected), "expected {expected:?} in:\n{out}");
    Ok(())
}

async fn a_broken_status_error_pair_is_named(db: TestDb) -> anyhow::Result<()> {
    seed(&db);
    let conn = db.connect().await?;
    let failed = OtaDeviceStatus::find()
        .filter(ota_device_status::Column::Status.eq("FAILED"))
        .filter(ota_device_status::Column::TenantId.eq("tenant-b"))
        .one(&conn)
        .await?
        .expect("the failed row");
    let mut row = failed.clone().into_active_model();
    row.error_message = Set(None);
    row.update(&conn).await?;
    let out = verify_fails(&db);
    let expected = format!(
        "invariant 3: ota_device_status id={} (tenant-b, campaign {}, device factory-floor-sensor-01, FAILED): FAILED without an error_message",
        failed.id, failed.campaign_id
    );
    assert!(out.contains(&expected), "expected {expected:?} in:\n{out}");
    Ok(())
}

async fn a_device_on_the_wrong_firmware_is_named(db: TestDb) -> anyhow::Result<()> {
    seed(&db);
    let conn = db.connect().await?;
    let device =
        DeviceRegistry::find_by_id(("tenant-a".to_owned(), "warehouse-west-sensor-03".to_owned()))
            .one(&conn)
            .await?
            .expect("device");
    let mut row: device_registry::ActiveModel = device.into();
    row.fw_version = Set(Some("1.0.0".into()));
    row.update(&conn).await?;
    let out = verify_fails(&db);
    let expected = "invariant 6: device_registry (tenant-a, warehouse-west-sensor-03): its latest finished update installed 1.1.0 but fw_version is \"1.0.0\"";
    assert!(out.contains(expected), "expected {expected:?} in:\n{out}");
    // Scoped to the other tenant, the same database verifies clean.
    let out = db.seeder(&["verify", "--tenant", "tenant-b"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    Ok(())
}

backend_tests!(
    clean_database_passes,
    a_wrong_counter_is_named,
    a_cross_tenant_reference_is_named,
    a_broken_status_error_pair_is_named,
    a_device_on_the_wrong_firmware_is_named,
);
