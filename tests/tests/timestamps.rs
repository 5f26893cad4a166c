//! `seeder verify` compares timestamps as instants, whatever UTC offset the
//! stored values carry (issue 9, case 8).
//!
//! Each case seeds the demo with the binary, then rewrites a few timestamps
//! with plain SQL the way another tool would: on SQLite as the literal texts
//! below (SQLite keeps text as written, so offsets, `Z`, `T` or a space and
//! the fraction digits all differ from SeaORM's own format); on PostgreSQL
//! the same literals, which its timestamptz reads as the same instants; on
//! MariaDB the same instants in UTC, the schema's convention for DATETIME(6).
//! Every trap is a pair whose text order is the opposite of its instant
//! order, so comparing text gives the wrong outcome on SQLite.

use chrono::{DateTime, Utc};
use entity::prelude::*;
use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status};
use ota_seed_tests::seeded::{campaign, status_row};
use ota_seed_tests::{Backend, TestDb, assert_ok, backend_tests, json_summary};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, NotSet, QueryFilter, QueryOrder, Set, Statement,
};
use serde_json::json;

/// Seeds the demo and connects. The cases write fixed dates (late November
/// 2026) where the demo's are relative to the run, and invariant 7 wants no
/// update to start before its firmware was created: the demo's 1.1.0 is
/// released seven days before the run, so it is moved to a fixed date
/// before the cases' own, or they would break 7 on a later day.
async fn seeded(db: &TestDb) -> anyhow::Result<DatabaseConnection> {
    assert_ok(&db.seeder(&["-q"]));
    let conn = db.connect().await?;
    conn.execute_unprepared(
        "UPDATE firmware_versions SET created_at = '2026-11-01 00:00:00' WHERE version = '1.1.0'",
    )
    .await?;
    Ok(conn)
}

/// How the timestamp `text` is written on `backend` (see the module
/// comment).
fn literal(backend: Backend, text: &str) -> String {
    match backend {
        Backend::Sqlite | Backend::Postgres => text.to_owned(),
        Backend::MySql => DateTime::parse_from_rfc3339(&text.replacen(' ', "T", 1))
            .unwrap_or_else(|e| panic!("test timestamp {text:?}: {e}"))
            .with_timezone(&Utc)
            .format("%Y-%m-%d %H:%M:%S%.6f")
            .to_string(),
    }
}

/// Rewrites `started_at` and `completed_at` of row `id` of `table` (our
/// constants only are spliced in), and on SQLite checks that the texts are
/// stored exactly as written.
async fn set_times(
    db: &TestDb,
    conn: &DatabaseConnection,
    table: &str,
    id: i64,
    started: &str,
    completed: &str,
) -> anyhow::Result<()> {
    let (s, c) = (literal(db.backend, started), literal(db.backend, completed));
    let done = conn
        .execute_unprepared(&format!(
            "UPDATE {table} SET started_at = '{s}', completed_at = '{c}' WHERE id = {id}"
        ))
        .await?;
    assert_eq!(done.rows_affected(), 1, "{table} id={id}");
    if db.backend == Backend::Sqlite {
        let row = conn
            .query_one_raw(Statement::from_string(
                db.backend.db_backend(),
                format!("SELECT started_at, completed_at FROM {table} WHERE id = {id}"),
            ))
            .await?
            .expect("the row just updated");
        let stored: (String, String) = (
            row.try_get("", "started_at")?,
            row.try_get("", "completed_at")?,
        );
        assert_eq!(stored, (started.to_owned(), completed.to_owned()));
    }
    Ok(())
}

/// tenant-a's SUCCESS rows of the demo campaign, in id order.
async fn success_rows(conn: &DatabaseConnection) -> anyhow::Result<Vec<ota_device_status::Model>> {
    Ok(OtaDeviceStatus::find()
        .filter(ota_device_status::Column::TenantId.eq("tenant-a"))
        .filter(ota_device_status::Column::Status.eq("SUCCESS"))
        .order_by_asc(ota_device_status::Column::Id)
        .all(conn)
        .await?)
}

/// Runs `seeder verify --json`, expects `exit`, returns the violations.
fn json_violations(db: &TestDb, exit: i32) -> serde_json::Value {
    json_summary(&db.seeder(&["verify", "--json"]), exit)["verification"]["violations"].clone()
}

const BEFORE: &str = "terminal (SUCCESS/FAILED) with completed_at before started_at";

/// Issue 9, case 8 exactly: started 2026-11-27 20:15Z, completed 21:00Z,
/// though the started text sorts after the completed one.
async fn issue_case_8_offsets_are_instants(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    let row = success_rows(&conn).await?.remove(0);
    set_times(
        &db,
        &conn,
        "ota_device_status",
        row.id,
        "2026-11-28 10:00:00+13:45",
        "2026-11-27 21:00:00+00:00",
    )
    .await?;
    assert_eq!(json_violations(&db, 0), json!([]));
    Ok(())
}

/// The reverse: completed truly before started, but later as text. One
/// pair hours apart across offsets, one 200 µs apart (`.0002` and `.0004`
/// are the same millisecond, so millisecond precision would miss it).
async fn completed_before_started_across_offsets_is_named(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    let rows = success_rows(&conn).await?;
    let (hours, micros) = (&rows[0], &rows[1]);
    // Started 15:00Z, completed 11:00Z.
    set_times(
        &db,
        &conn,
        "ota_device_status",
        hours.id,
        "2026-11-28 10:00:00-05:00",
        "2026-11-28 11:00:00+00:00",
    )
    .await?;
    // Started 10:00:00.000400Z, completed 10:00:00.000200Z; `T` sorts after
    // the space.
    set_times(
        &db,
        &conn,
        "ota_device_status",
        micros.id,
        "2026-11-28 10:00:00.0004+00:00",
        "2026-11-28T10:00:00.0002Z",
    )
    .await?;
    // Exactly these two, in id order (the check's order).
    assert_eq!(
        json_violations(&db, 1),
        json!([
            { "kind": "final_completed_before_started", "invariant": 3, "row": status_row(hours), "problem": BEFORE },
            { "kind": "final_completed_before_started", "invariant": 3, "row": status_row(micros), "problem": BEFORE },
        ])
    );
    Ok(())
}

/// Invariant 6 asks about a device's latest finished update, which must be
/// the latest by instant. Two devices of tenant-a get a second row in a
/// rollback campaign to 1.0.0 that finished at 14:59Z, after their demo row
/// (10:00Z), while its text (`09:59:00-05:00`) sorts before the demo row's.
/// - `failed_later`: the rollback FAILED; its fw_version is set to 1.0.0.
///   Its latest finished update failed, so 6 asks nothing of it; its latest
///   success installed 1.1.0, so it breaks invariant 10, and only 10 (by
///   text the latest finished would be the 1.1.0 success, and the device
///   named under 6);
/// - `succeeded_later`: the rollback succeeded, fw_version is still 1.1.0:
///   a violation of 6 (by text the latest would be the 1.1.0 success, and
///   fine).
async fn latest_finished_update_is_latest_by_instant(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    let demo = campaign(&conn, "tenant-a").await?;
    let rows = success_rows(&conn).await?;
    let (failed_later, succeeded_later) = (&rows[0], &rows[1]);
    let old_firmware = FirmwareVersions::find()
        .filter(firmware_versions::Column::TenantId.eq("tenant-a"))
        .filter(firmware_versions::Column::Version.eq("1.0.0"))
        .one(&conn)
        .await?
        .expect("seeded firmware 1.0.0");

    // RUNNING, so invariant 4 asks nothing of it; counters match its rows.
    let rollback = ota_campaigns::ActiveModel {
        id: NotSet,
        name: Set("Rollback to v1.0.0".to_owned()),
        firmware_version_id: Set(old_firmware.id),
        status: Set("RUNNING".to_owned()),
        total_devices: Set(2),
        succeeded: Set(1),
        failed: Set(1),
        ..demo.clone().into_active_model()
    }
    .insert(&conn)
    .await?;
    for (device, status, error) in [
        (failed_later, "FAILED", Some("Install timed out")),
        (succeeded_later, "SUCCESS", None),
    ] {
        let row = ota_device_status::ActiveModel {
            id: NotSet,
            campaign_id: Set(rollback.id),
            status: Set(status.to_owned()),
            error_message: Set(error.map(str::to_owned)),
            ..device.clone().into_active_model()
        }
        .insert(&conn)
        .await?;
        // The demo row as SeaORM writes it, the rollback row as another tool.
        set_times(
            &db,
            &conn,
            "ota_device_status",
            device.id,
            "2026-11-28T09:00:00.000000+00:00",
            "2026-11-28T10:00:00.000000+00:00",
        )
        .await?;
        set_times(
            &db,
            &conn,
            "ota_device_status",
            row.id,
            "2026-11-28 09:30:00-05:00",
            "2026-11-28 09:59:00-05:00",
        )
        .await?;
    }
    let mut device: device_registry::ActiveModel =
        DeviceRegistry::find_by_id(("tenant-a".to_owned(), failed_later.device_id.clone()))
            .one(&conn)
            .await?
            .expect("device")
            .into();
    device.fw_version = Set(Some("1.0.0".to_owned()));
    device.update(&conn).await?;

    let problem = "its latest finished update installed 1.0.0 but fw_version is \"1.1.0\"";
    let row = format!("device_registry (tenant-a, {})", succeeded_later.device_id);
    let problem_10 = "its latest successful update installed 1.1.0 but fw_version is \"1.0.0\"";
    let row_10 = format!("device_registry (tenant-a, {})", failed_later.device_id);
    assert_eq!(
        json_violations(&db, 1),
        json!([
            { "kind": "off_latest_finished_update", "invariant": 6, "row": row, "problem": problem },
            { "kind": "off_latest_success", "invariant": 10, "row": row_10, "problem": problem_10 },
        ]),
        "the device whose later update succeeded under 6, the one whose later update failed under 10"
    );
    Ok(())
}

/// Invariant 4 on campaigns: tenant-a's campaign ran from 20:15Z to 21:00Z
/// (fine, though its texts are reversed); tenant-b's "completed" 200 µs
/// before it started (a violation, though its texts are in order).
async fn campaign_times_compare_as_instants(db: TestDb) -> anyhow::Result<()> {
    let conn = seeded(&db).await?;
    let (a, b) = (
        campaign(&conn, "tenant-a").await?,
        campaign(&conn, "tenant-b").await?,
    );
    set_times(
        &db,
        &conn,
        "ota_campaigns",
        a.id.into(),
        "2026-11-28 10:00:00+13:45",
        "2026-11-27T21:00:00.000000+00:00",
    )
    .await?;
    set_times(
        &db,
        &conn,
        "ota_campaigns",
        b.id.into(),
        "2026-11-28T10:00:00.000400+00:00",
        "2026-11-28 11:00:00.0002+01:00",
    )
    .await?;
    let row = format!(
        "ota_campaigns id={} (tenant-b, \"Fleet Update to v1.1.0\")",
        b.id
    );
    let problem = "COMPLETED or ABORTED with completed_at before started_at";
    assert_eq!(
        json_violations(&db, 1),
        json!([{
            "kind": "finished_campaign_completed_before_started",
            "invariant": 4,
            "row": row,
            "problem": problem
        }]),
        "tenant-a's campaign is fine"
    );
    Ok(())
}

backend_tests!(
    issue_case_8_offsets_are_instants,
    completed_before_started_across_offsets_is_named,
    latest_finished_update_is_latest_by_instant,
    campaign_times_compare_as_instants,
);
