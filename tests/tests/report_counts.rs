//! "Already present" figures are rows found in the tables, never inferred
//! from the plan: a tenant whose device count matches the plan but which
//! lacks a planned device is completed, and the report says so.

use ota_seed_tests::sql::number_at;
use ota_seed_tests::{TestDb, assert_ok, backend_tests, table_counts};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::Value;

/// The `n` column of `sql` on the test's database.
async fn count(db: &TestDb, sql: &str) -> anyhow::Result<i64> {
    number_at(&db.url, sql).await
}

async fn a_swapped_device_is_found_missing_not_counted_present(db: TestDb) -> anyhow::Result<()> {
    assert_ok(&db.seeder(&["-q"]));
    // Same count, other devices: a planned device (and its status row) goes,
    // a foreign one comes.
    let conn = db.connect().await?;
    for sql in [
        "DELETE FROM ota_device_status WHERE tenant_id = 'tenant-a' AND device_id = 'warehouse-east-sensor-03'",
        "DELETE FROM device_registry WHERE tenant_id = 'tenant-a' AND device_id = 'warehouse-east-sensor-03'",
        // Provisioned with the demo's devices: its status row will start
        // with the demo campaign, and invariant 7 wants no update to start
        // before its device was provisioned.
        "INSERT INTO device_registry \
         (tenant_id, device_id, site_id, status, fw_version, metadata, provisioned_at) \
         VALUES ('tenant-a', 'hand-added-01', 'warehouse-east', 'ACTIVE', '1.0.0', '{}', \
                 '2024-01-15 00:00:00')",
    ] {
        conn.execute_unprepared(sql).await?;
    }
    conn.close().await?;
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) AS n FROM device_registry WHERE tenant_id = 'tenant-a'"
        )
        .await?,
        15
    );

    let out = assert_ok(&db.seeder(&["--json"]));
    let summary: Value = serde_json::from_str(&out)?;
    // The planned device is back; the 29 others were found.
    assert_eq!(table_counts(&summary, "device_registry").0, 1, "{out}");
    assert_eq!(table_counts(&summary, "device_registry").1, 29, "{out}");
    // Status rows for the returned device and the foreign one; 29 found.
    assert_eq!(table_counts(&summary, "ota_device_status").0, 2, "{out}");
    assert_eq!(table_counts(&summary, "ota_device_status").1, 29, "{out}");
    // tenant-a's counters follow its 16 rows.
    assert_eq!(table_counts(&summary, "ota_campaigns").2, 1, "{out}");
    assert_eq!(
        summary["verification"]["violations"],
        Value::Array(vec![]),
        "{out}"
    );

    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) AS n FROM device_registry WHERE tenant_id = 'tenant-a'"
        )
        .await?,
        16
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) AS n FROM ota_device_status WHERE tenant_id = 'tenant-a' \
             AND device_id IN ('warehouse-east-sensor-03', 'hand-added-01')"
        )
        .await?,
        2
    );
    let conn = db.connect().await?;
    let campaign = entity::ota_campaigns::Entity::find()
        .filter(entity::ota_campaigns::Column::TenantId.eq("tenant-a"))
        .one(&conn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("tenant-a has no campaign"))?;
    conn.close().await?;
    assert_eq!(
        (campaign.total_devices, campaign.succeeded, campaign.failed),
        (16, 15, 1)
    );

    // And now nothing is missing.
    let out = assert_ok(&db.seeder(&["--json"]));
    let summary: Value = serde_json::from_str(&out)?;
    assert_eq!(
        table_counts(&summary, "device_registry"),
        (0, 30, 0),
        "{out}"
    );
    assert_eq!(
        table_counts(&summary, "ota_device_status"),
        (0, 31, 0),
        "{out}"
    );
    Ok(())
}

backend_tests!(a_swapped_device_is_found_missing_not_counted_present);
