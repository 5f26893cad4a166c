//! Seeders started together on one empty database (as racing start-up
//! scripts do) all succeed and leave exactly one dataset: migrations are
//! applied once, no campaign or status row is duplicated, counters are true.

use std::process::{Command, Stdio};

use entity::prelude::*;
use ota_seed_tests::{TestDb, backend_tests, describe, seeder_bin};
use sea_orm::{EntityTrait, PaginatorTrait};

const SEEDERS: usize = 4;

async fn four_seeders_at_once_make_one_dataset(db: TestDb) -> anyhow::Result<()> {
    let children: Vec<_> = (0..SEEDERS)
        .map(|_| {
            Command::new(seeder_bin())
                .args(["--no-verify"])
                .env("DATABASE_URL", &db.url)
                .current_dir(db.dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    for child in children {
        let out = child.wait_with_output()?;
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    }
    let conn = db.connect().await?;
    assert_eq!(Tenants::find().count(&conn).await?, 2);
    assert_eq!(DeviceRegistry::find().count(&conn).await?, 30);
    assert_eq!(FirmwareVersions::find().count(&conn).await?, 4);
    assert_eq!(
        OtaCampaigns::find().count(&conn).await?,
        2,
        "no duplicate campaign"
    );
    assert_eq!(
        OtaDeviceStatus::find().count(&conn).await?,
        30,
        "no duplicate status row"
    );
    for c in OtaCampaigns::find().all(&conn).await? {
        assert_eq!((c.total_devices, c.succeeded, c.failed), (15, 14, 1));
    }
    let out = db.seeder(&["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    Ok(())
}

backend_tests!(four_seeders_at_once_make_one_dataset);
