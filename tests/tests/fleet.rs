//! Larger fleets: more tenants, sites, devices and campaigns in every
//! state, seeded and verified through the library, in-process. (The
//! command's `--json` and `--quiet` outputs are cli.rs's.)

use entity::prelude::*;
use entity::{ota_campaigns, ota_device_status};
use ota_seed_tests::{TestDb, assert_report_verified, backend_tests};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use seeder::{Dataset, DatasetSpec, Seeder, Table};

fn fleet() -> Dataset {
    Dataset::fleet(&DatasetSpec {
        tenants: 3,
        sites_per_tenant: 4,
        devices_per_site: 12,
        campaigns_per_tenant: 6,
        ..DatasetSpec::default()
    })
}

async fn a_fleet_in_every_campaign_state_verifies(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let fleet = fleet();
    Seeder::new(&fleet).run(&conn).await?;
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
    assert_report_verified(&seeder::verify(&conn, &fleet).await?, [3, 144, 21, 18, 144]);
    // A rerun sends nothing.
    let again = Seeder::new(&fleet).run(&conn).await?;
    assert_eq!(again.inserted_total(), 0, "{again:#?}");
    assert_eq!(again.table(Table::DeviceStatus).present, 144, "{again:#?}");
    let verified = seeder::verify(&conn, &fleet).await?;
    assert_eq!(verified.violations, [], "{verified:#?}");
    conn.close().await?;
    Ok(())
}

backend_tests!(a_fleet_in_every_campaign_state_verifies);
