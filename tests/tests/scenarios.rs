//! Every built-in scenario seeded and verified on every backend; the
//! `history` scenario's figures read back from the tables; the same rows on
//! every backend; a rerun inserts nothing. Through the library, as the
//! platform's tests would use it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use entity::prelude::*;
use ota_seed_tests::snapshot::{DigestScope, dataset_digest};
use ota_seed_tests::{Backend, TestDb, backend_tests, run_case, small_history};
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use seeder::{Dataset, Scenario, SeedReport, Seeder, Table};

/// A built-in at a size every backend seeds in a second or two.
fn builtin(name: &str) -> anyhow::Result<Scenario> {
    let mut s = Scenario::builtin(name).ok_or_else(|| anyhow::anyhow!("no built-in {name}"))?;
    if name == "fleet" {
        s.set_tenant_count(3);
        s.fleet.devices_per_site = 20;
    }
    Ok(s)
}

async fn seed_and_verify(
    conn: &DatabaseConnection,
    dataset: &Dataset,
) -> anyhow::Result<SeedReport> {
    let seeder = Seeder::new(dataset);
    let report = seeder.run(conn).await?;
    let verified = seeder.verify(conn).await?;
    assert!(verified.passed(), "{:#?}", verified.violations);
    Ok(report)
}

fn inserted(report: &SeedReport) -> u64 {
    Table::ALL.iter().map(|t| report.table(*t).inserted).sum()
}

async fn every_builtin_seeds_verifies_and_reruns_as_nothing(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    for name in ["demo", "fleet", "history"] {
        let dataset = Dataset::from_scenario(&builtin(name)?, seeder::DEFAULT_SEED)?;
        let first = seed_and_verify(&conn, &dataset).await?;
        assert!(inserted(&first) > 0, "{name}");
        let again = seed_and_verify(&conn, &dataset).await?;
        assert_eq!(inserted(&again), 0, "{name}: a rerun inserts nothing");
        assert_eq!(again.table(Table::Campaigns).updated, 0, "{name}");
        // Two worlds never share a database: the next starts over.
        seeder::reset(&conn, &dataset).await?;
        assert_eq!(OtaDeviceStatus::find().count(&conn).await?, 0, "{name}");
    }
    Ok(())
}

/// The hand-worked figures of seeder/src/dataset/scenario_tests.rs, read
/// back from the database: one site of 10 devices (6 sensors, 2 gateways,
/// 2 cameras), all there from the start; 8 + 4 + 6 campaigns, one per
/// release after the first; every campaign state; 68 status rows.
async fn history_figures_in_the_tables(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let dataset = Dataset::from_scenario(&small_history(), seeder::DEFAULT_SEED)?;
    seed_and_verify(&conn, &dataset).await?;

    let mut per_type: BTreeMap<String, usize> = BTreeMap::new();
    for d in DeviceRegistry::find().all(&conn).await? {
        let t = d.metadata["type"].as_str().unwrap_or("none").to_owned();
        *per_type.entry(t).or_default() += 1;
    }
    assert_eq!(
        per_type,
        BTreeMap::from([
            ("camera".to_owned(), 2),
            ("gateway".to_owned(), 2),
            ("sensor".to_owned(), 6)
        ])
    );
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for c in OtaCampaigns::find().all(&conn).await? {
        *states.entry(c.status).or_default() += 1;
    }
    assert_eq!(
        states,
        BTreeMap::from([
            ("ABORTED".to_owned(), 1),
            ("COMPLETED".to_owned(), 14),
            ("CREATED".to_owned(), 1),
            ("PAUSED".to_owned(), 1),
            ("RUNNING".to_owned(), 1),
        ])
    );
    assert_eq!(OtaDeviceStatus::find().count(&conn).await?, 68);
    // Updates per device: 8 per sensor, 4 per gateway, 6 per camera.
    let mut per_device: BTreeMap<String, usize> = BTreeMap::new();
    for r in OtaDeviceStatus::find().all(&conn).await? {
        *per_device.entry(r.device_id).or_default() += 1;
    }
    assert_eq!(per_device["warehouse-east-sensor-01"], 8);
    assert_eq!(per_device["warehouse-east-gateway-02"], 4);
    assert_eq!(per_device["warehouse-east-camera-01"], 6);
    // The aborted campaign is camera 2.3.0.
    let aborted = OtaCampaigns::find()
        .all(&conn)
        .await?
        .into_iter()
        .filter(|c| c.status == "ABORTED")
        .map(|c| c.name)
        .collect::<Vec<_>>();
    assert_eq!(aborted, ["Camera 2.3.0 rollout"]);
    Ok(())
}

/// The dry run's figures are the run's, for a history on an empty
/// database, after a partial run (one tenant's devices only), and for a
/// rerun.
async fn history_dry_run_is_exact(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let dataset = Dataset::from_scenario(&builtin("history")?, 3)?;
    let figures = |r: &SeedReport| -> Vec<(u64, u64)> {
        Table::ALL
            .iter()
            .map(|t| (r.table(*t).inserted, r.table(*t).present))
            .collect()
    };
    let seeder = Seeder::new(&dataset);
    let predicted = seeder.dry_run(&conn).await?;
    let done = seeder.run(&conn).await?;
    assert_eq!(figures(&predicted), figures(&done));
    seeder::reset(&conn, &dataset).await?;

    Seeder::new(&dataset)
        .tenants(["tenant-b"])
        .only([Table::Devices])
        .run(&conn)
        .await?;
    let predicted = seeder.dry_run(&conn).await?;
    let done = seeder.run(&conn).await?;
    assert_eq!(figures(&predicted), figures(&done));
    assert!(done.table(Table::Devices).present > 0);
    let again = seeder.dry_run(&conn).await?;
    assert!(
        Table::ALL.iter().all(|t| again.table(*t).inserted == 0),
        "{again:?}"
    );
    Ok(())
}

/// A device registered by hand after a campaign started does not join it
/// (its row would start before the device existed, invariant 7); it joins
/// a campaign not started yet. The dry run predicts as much.
async fn a_late_device_joins_only_campaigns_after_it(db: TestDb) -> anyhow::Result<()> {
    use sea_orm::{ActiveModelTrait, Set};
    let conn = db.connect().await?;
    // Five campaigns, one per state: the last slice's is CREATED.
    let mut s = builtin("fleet")?;
    s.set_tenant_count(1);
    s.fleet.sites_per_tenant = 1;
    s.fleet.devices_per_site = 10;
    let dataset = Dataset::from_scenario(&s, seeder::DEFAULT_SEED)?;
    seed_and_verify(&conn, &dataset).await?;
    for id in ["aaa-late-device", "zzz-late-device"] {
        entity::device_registry::ActiveModel {
            tenant_id: Set("tenant-a".into()),
            device_id: Set(id.into()),
            site_id: Set("warehouse-east".into()),
            fw_version: Set(Some("1.0.0".into())),
            ..Default::default()
        }
        .insert(&conn)
        .await?;
    }
    let seeder = Seeder::new(&dataset);
    let predicted = seeder.dry_run(&conn).await?;
    let report = seed_and_verify(&conn, &dataset).await?;
    assert_eq!(predicted.table(Table::DeviceStatus).inserted, 1);
    assert_eq!(report.table(Table::DeviceStatus).inserted, 1);
    let rows: Vec<(String, String)> = OtaDeviceStatus::find()
        .all(&conn)
        .await?
        .into_iter()
        .filter(|r| r.device_id.ends_with("late-device"))
        .map(|r| (r.device_id, r.status))
        .collect();
    assert_eq!(rows, [("zzz-late-device".to_owned(), "PENDING".to_owned())]);
    Ok(())
}

backend_tests!(
    a_late_device_joins_only_campaigns_after_it,
    history_dry_run_is_exact,
    every_builtin_seeds_verifies_and_reruns_as_nothing,
    history_figures_in_the_tables,
);

/// The history scenario gives the same rows on every backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_gives_the_same_rows_on_every_backend() {
    static DIGESTS: Mutex<Vec<(Backend, String)>> = Mutex::new(Vec::new());
    for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
        run_case(backend, |db: TestDb| async move {
            let conn = db.connect().await?;
            let dataset = Dataset::from_scenario(&builtin("history")?, 7)?;
            seed_and_verify(&conn, &dataset).await?;
            let digest = dataset_digest(&conn, DigestScope::Everything).await?;
            DIGESTS.lock().expect("lock").push((backend, digest));
            Ok(())
        })
        .await;
    }
    let digests = DIGESTS.lock().expect("lock").clone();
    let (_, first) = digests.first().expect("SQLite always runs").clone();
    for (backend, digest) in &digests {
        assert_eq!(
            digest,
            &first,
            "{} rows differ from SQLite's",
            backend.name()
        );
    }
}

/// Small histories, where a campaign may find few or no devices of its
/// type, still verify: every size from 1 to 7 devices per site, three
/// seeds, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_histories_verify_at_every_size() {
    run_case(Backend::Sqlite, |db: TestDb| async move {
        let conn = db.connect().await?;
        for devices_per_site in 1..=7 {
            for seed in [1, 2, 3] {
                let mut s = builtin("history")?;
                s.fleet.sites_per_tenant = 2;
                s.fleet.devices_per_site = devices_per_site;
                let dataset = Dataset::from_scenario(&s, seed)?;
                let seeder = Seeder::new(&dataset);
                seeder.run(&conn).await?;
                let verified = seeder.verify(&conn).await?;
                assert!(
                    verified.passed(),
                    "{devices_per_site} per site, seed {seed}: {:#?}",
                    verified.violations
                );
                seeder::reset(&conn, &dataset).await?;
            }
        }
        Ok(())
    })
    .await;
}
