//! `seeder verify` against databases corrupted by hand: it must fail with
//! exit status 1 and name the row that breaks an invariant, and only that
//! row. Violations are read from `--json` (`verification.violations`) and
//! compared whole, so one more or one fewer fails. (The human wording of
//! the report is cli.rs's business.)

use entity::prelude::*;
use entity::{device_registry, ota_campaigns, ota_device_status};
use ota_seed_tests::{DEMO_COUNTS, TestDb, assert_ok, assert_verified, backend_tests, violations};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
};

fn seed(db: &TestDb) {
    assert_ok(&db.seeder(&["-q"]));
}

/// Runs `verify --json`, expects exit 1, returns the violations as
/// `invariant N: row: problem` lines, sorted (the test compares sets, not
/// the report's order).
fn verify_fails(db: &TestDb) -> Vec<String> {
    let mut found = violations(&db.seeder_json(&["verify"], 1));
    found.sort();
    found
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
    // Nothing to report, over the whole demo (it does not pass vacuously).
    assert_verified(&db.seeder_json(&["verify"], 0), DEMO_COUNTS);
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
    assert_eq!(out, [expected], "only the corrupted row is reported");
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
    let a = campaign(&conn, "tenant-a").await?;
    let out = verify_fails(&db);
    // The moved row, and the counters of both campaigns it left and joined
    // (one SUCCESS row fewer and more): nothing else.
    let mut expected = vec![
        format!(
            "invariant 2: ota_device_status id={} (tenant-a, campaign {}, device {}, SUCCESS): its campaign belongs to another tenant",
            row.id, b.id, row.device_id
        ),
        format!(
            "invariant 1: ota_campaigns id={} (tenant-a, \"Fleet Update to v1.1.0\"): counters say 15 total / 14 succeeded / 1 failed, its status rows say 14 / 13 / 1",
            a.id
        ),
        format!(
            "invariant 1: ota_campaigns id={} (tenant-b, \"Fleet Update to v1.1.0\"): counters say 15 total / 14 succeeded / 1 failed, its status rows say 16 / 15 / 1",
            b.id
        ),
    ];
    expected.sort();
    assert_eq!(out, expected);
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
    assert_eq!(out, [expected], "only the broken row is reported");
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
    assert_eq!(out, [expected], "only the stale device is reported");
    // Scoped to the other tenant, the same database verifies clean.
    let summary = db.seeder_json(&["verify", "--tenant", "tenant-b"], 0);
    assert_eq!(violations(&summary), Vec::<String>::new(), "{summary:#}");
    Ok(())
}

backend_tests!(
    clean_database_passes,
    a_wrong_counter_is_named,
    a_cross_tenant_reference_is_named,
    a_broken_status_error_pair_is_named,
    a_device_on_the_wrong_firmware_is_named,
);
