//! Larger fleets: more tenants, sites, devices and campaigns in every state,
//! and the machine-readable and quiet outputs.

use entity::prelude::*;
use entity::{ota_campaigns, ota_device_status};
use ota_seed_tests::{TestDb, assert_verified, backend_tests, describe};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

const FLEET: [&str; 8] = [
    "--tenants",
    "3",
    "--sites-per-tenant",
    "4",
    "--devices-per-site",
    "12",
    "--campaigns-per-tenant",
    "6",
];

async fn a_fleet_in_every_campaign_state_verifies(db: TestDb) -> anyhow::Result<()> {
    let out = db.seeder(&FLEET);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let conn = db.connect().await?;
    assert_eq!(DeviceRegistry::find().count(&conn).await?, 3 * 48);
    assert_eq!(
        OtaDeviceStatus::find().count(&conn).await?,
        3 * 48,
        "each device is in one campaign"
    );
    for state in ["CREATED", "RUNNING", "PAUSED", "COMPLETED", "ABORTED"] {
        let n = OtaCampaigns::find()
            .filter(ota_campaigns::Column::Status.eq(state))
            .count(&conn)
            .await?;
        assert!(n >= 3, "{state}: {n}");
    }
    let canary = OtaCampaigns::find()
        .filter(ota_campaigns::Column::RolloutStrategy.eq("canary"))
        .count(&conn)
        .await?;
    assert_eq!(canary, 9);
    for status in [
        "PENDING",
        "DOWNLOADING",
        "INSTALLING",
        "SUCCESS",
        "FAILED",
        "SKIPPED",
    ] {
        let n = OtaDeviceStatus::find()
            .filter(ota_device_status::Column::Status.eq(status))
            .count(&conn)
            .await?;
        assert!(n > 0, "no {status} rows");
    }
    let tenant3 = Tenants::find_by_id("tenant-0003".to_owned())
        .one(&conn)
        .await?
        .expect("generated tenant");
    assert!(
        tenant3
            .contact_email
            .as_deref()
            .is_some_and(|e| e.ends_with(".example.com"))
    );

    // verify is the independent judge of the invariants, over every row:
    // per tenant one base firmware and one per campaign (7), 6 campaigns.
    assert_verified(
        &db.seeder_json(&[&["verify"], &FLEET[..]].concat(), 0),
        [3, 144, 21, 18, 144],
    );
    // A rerun sends nothing.
    let out = db.seeder(&[&["--json"], &FLEET[..]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(summary["rows_inserted"], 0, "{summary}");
    assert_eq!(
        summary["tables"]["ota_device_status"]["present"], 144,
        "{summary}"
    );
    assert_eq!(
        summary["verification"]["violations"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    Ok(())
}

async fn json_and_quiet_outputs(db: TestDb) -> anyhow::Result<()> {
    let out = db.seeder(&["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(summary["command"], "seed");
    assert_eq!(
        summary["rows_inserted"], 68,
        "2 + 30 + 4 + 2 + 30 rows: {summary}"
    );
    assert_eq!(summary["tables"]["device_registry"]["inserted"], 30);
    assert!(summary["seconds"].as_f64().is_some_and(|s| s > 0.0));
    assert!(summary["rows_per_second"].as_f64().is_some_and(|r| r > 0.0));
    assert_eq!(
        summary["verification"]["violations"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    let out = db.seeder(&["--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        describe(&out)
    );

    // Not a terminal: progress is plain lines on stderr.
    let out = db.seeder(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tenant-a ota_device_status: inserted 0, already present 15"),
        "{stderr}"
    );
    Ok(())
}

backend_tests!(
    a_fleet_in_every_campaign_state_verifies,
    json_and_quiet_outputs
);
