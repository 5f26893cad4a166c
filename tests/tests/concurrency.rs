//! Seeders started together on one empty database (as racing start-up
//! scripts do) all succeed and leave exactly one dataset: migrations are
//! applied once, no campaign or status row is duplicated, counters are true.
//!
//! "Together" is proven, not hoped for: the test holds the migration lock,
//! starts the seeders, waits until every one is queued on it, then lets
//! them all go at once (`ota_seed_tests::gate`).

use entity::prelude::*;
use ota_seed_tests::gate::{seeders_at_once, take_mysql_lock};
use ota_seed_tests::{Backend, DEMO_COUNTS, TestDb, assert_verified, backend_tests, json_summary};
use sea_orm::{EntityTrait, PaginatorTrait};

const SEEDERS: usize = 4;

async fn four_seeders_at_once_make_one_dataset(db: TestDb) -> anyhow::Result<()> {
    // A generous busy timeout: on SQLite the seeders wait on the test's
    // exclusive lock, then on each other.
    let outputs = seeders_at_once(
        &db,
        &db.url,
        SEEDERS,
        &["--no-verify", "--json", "--connect-timeout", "120"],
    )
    .await?;
    // On the servers the migrations are applied under the lock, all by
    // the first seeder through the gate. (SQLite applies them one by one
    // without a lock: a seeder that loses the race part-way reports 0, so
    // only the history below is exact there.)
    let applied: Vec<i64> = outputs
        .iter()
        .map(|out| {
            json_summary(out, 0)["migrations_applied"]
                .as_i64()
                .unwrap_or(-1)
        })
        .collect();
    if db.backend != Backend::Sqlite {
        let mut sorted = applied.clone();
        sorted.sort_unstable();
        let all = ota_seed_tests::migration_count() as i64;
        assert_eq!(
            sorted,
            [0, 0, 0, all],
            "migrations applied per seeder: {applied:?}"
        );
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
    let migrations = ota_seed_tests::recorded_migrations(&conn).await?;
    assert_eq!(
        migrations,
        ota_seed_tests::migration_count() as i64,
        "each migration recorded once"
    );
    for c in OtaCampaigns::find().all(&conn).await? {
        assert_eq!((c.total_devices, c.succeeded, c.failed), (15, 14, 1));
    }
    assert_verified(&db.seeder_json(&["verify"], 0), DEMO_COUNTS);
    Ok(())
}

backend_tests!(four_seeders_at_once_make_one_dataset);

/// The gate checks that it holds its lock: MySQL's `GET_LOCK` does not
/// fail when another session has the lock, it answers 0 after its
/// timeout, and a gate that went on would let the seeders through one by
/// one. (A lock of this test's own: holding the seeders' lock would stall
/// every other test on the server.)
async fn a_gate_that_did_not_get_its_lock_fails(db: TestDb) -> anyhow::Result<()> {
    let lock = format!("{}_gate", db.name());
    let holder = db.connect().await?;
    take_mysql_lock(&holder, &lock, 5).await?;
    let other = db.connect().await?;
    let refused = take_mysql_lock(&other, &lock, 1)
        .await
        .expect_err("the lock is held by another session");
    assert_eq!(
        refused.to_string(),
        format!(
            "the gate did not get the lock: GET_LOCK('{lock}', 1) gave 0 \
             (another session holds it)"
        )
    );
    holder.close().await?;
    other.close().await?;
    Ok(())
}

mod a_gate_that_did_not_get_its_lock_fails {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        ota_seed_tests::run_case(
            ota_seed_tests::Backend::MySql,
            super::a_gate_that_did_not_get_its_lock_fails,
        )
        .await
    }
}
