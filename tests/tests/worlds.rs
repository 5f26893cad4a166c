//! Never two worlds in one database: seeding another scenario, other sizes
//! or another seed over a dataset either only adds to it, or is refused
//! before writing, saying what differs (and the dry run says the same).

use ota_seed_tests::snapshot::table_contents;
use ota_seed_tests::{TestDb, backend_tests, small_history};
use sea_orm::DatabaseConnection;
use seeder::{CampaignsSpec, Dataset, DatasetSpec, Scenario, SeedError, Seeder, Table};

/// Seeds `first`, then tries `second`: returns the refusal's message,
/// after checking that the run and its dry run were refused alike and
/// that nothing was written.
async fn refused(
    conn: &DatabaseConnection,
    first: &Dataset,
    second: &Dataset,
) -> anyhow::Result<String> {
    Seeder::new(first).run(conn).await?;
    let before = table_contents(conn).await?;
    let preview = Seeder::new(second).dry_run(conn).await;
    // Two tenants at once: the first is compared before either is written,
    // so neither commits (each is compared again in its transaction).
    let jobs = Seeder::new(second).jobs(2).run(conn).await;
    assert!(
        matches!(jobs, Err(SeedError::OtherWorld { .. })),
        "{jobs:?}"
    );
    assert_eq!(
        table_contents(conn).await?,
        before,
        "nothing written with --jobs 2"
    );
    let run = Seeder::new(second).run(conn).await;
    let message = match run {
        Err(e @ SeedError::OtherWorld { .. }) => e.to_string(),
        other => anyhow::bail!("expected a refusal, got {other:?}"),
    };
    match preview {
        Err(e @ SeedError::OtherWorld { .. }) => assert_eq!(e.to_string(), message),
        other => anyhow::bail!("the dry run should refuse too, got {other:?}"),
    }
    assert_eq!(table_contents(conn).await?, before, "nothing written");
    Ok(message)
}

fn demo_with(change: impl FnOnce(&mut DatasetSpec)) -> Dataset {
    let mut spec = DatasetSpec::default();
    change(&mut spec);
    Dataset::fleet(&spec)
}

/// The case: three campaigns over a demo seeded with one would
/// cut the fleet into slices that the first campaign already covers.
async fn more_campaigns_over_one_is_refused(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let message = refused(
        &conn,
        &Dataset::demo(),
        &demo_with(|s| s.campaigns_per_tenant = 3),
    )
    .await?;
    assert_eq!(
        message,
        "refusing to seed tenant tenant-a: it holds another dataset than this one (scenario demo, \
         --seed 42): campaign \"Fleet Update to v1.1.0\" has rows for 15 devices there, the \
         scenario targets 5. Nothing of this tenant was written. Seed it with the scenario and \
         options it was seeded with, or start over: `seeder reset` with these options deletes \
         the dataset's tenants, then seed again."
    );
    Ok(())
}

/// The case: `--seed 7` said "nothing to do".
async fn another_seed_is_refused(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let message = refused(&conn, &Dataset::demo(), &demo_with(|s| s.seed = 7)).await?;
    assert!(
        message.starts_with(
            "refusing to seed tenant tenant-a: it holds another dataset than this one (scenario \
             demo, --seed 7): device "
        ),
        "{message}"
    );
    // The first device whose model differs, with both models, then how
    // many more of the sample differ.
    assert!(message.contains(" has model "), "{message}");
    assert!(message.contains(" in the scenario (and "), "{message}");
    Ok(())
}

/// Another scenario over the demo: its campaigns are not the demo's.
async fn another_scenario_is_refused(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let history = Dataset::from_scenario(&small_history(), seeder::DEFAULT_SEED)?;
    let message = refused(&conn, &Dataset::demo(), &history).await?;
    assert!(
        message.contains(
            "campaign \"Fleet Update to v1.1.0\" is there, the scenario has no such campaign"
        ),
        "{message}"
    );
    Ok(())
}

/// What only adds to a dataset goes ahead: more tenants, more devices per
/// site; in a history,
/// more devices per site (they join the campaigns that started after
/// them, the devices it had keep their models and rows) and a newer
/// release with its campaign, which the devices follow.
async fn what_only_adds_goes_ahead(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    Seeder::new(&Dataset::demo()).run(&conn).await?;
    let grown = demo_with(|s| s.tenants = 3);
    let report = Seeder::new(&grown).run(&conn).await?;
    assert_eq!(report.table(Table::Devices).inserted, 15);
    assert_eq!(report.table(Table::Devices).present, 30);
    assert!(Seeder::new(&grown).verify(&conn).await?.passed());
    // More devices per site: the demo's models are drawn in device order,
    // so the grown plan would give the devices it had other models; they
    // keep theirs, and the campaign of all devices takes the new ones.
    let grown = demo_with(|s| {
        s.tenants = 3;
        s.devices_per_site = 8;
    });
    let report = Seeder::new(&grown).run(&conn).await?;
    assert_eq!(report.table(Table::Devices).inserted, 3 * 3 * 3);
    assert_eq!(report.table(Table::DeviceStatus).inserted, 3 * 3 * 3);
    assert!(Seeder::new(&grown).verify(&conn).await?.passed());
    seeder::reset(&conn, &grown).await?;

    // A history whose lines end with finished campaigns.
    let mut s = small_history();
    if let CampaignsSpec::Releases(r) = &mut s.campaigns {
        r.now.clear();
        r.aborted.clear();
    }
    let sensor_releases = |s: &mut Scenario, count| {
        let g = s.device_types[0]
            .firmware
            .generated
            .as_mut()
            .expect("generated");
        g.count = Some(count);
        g.first_released = "390 days ago".parse().expect("a time");
    };
    sensor_releases(&mut s, 8);
    Seeder::new(&Dataset::from_scenario(&s, seeder::DEFAULT_SEED)?)
        .run(&conn)
        .await?;

    // Twice the devices per site: 12 sensors, 3 gateways, 5 cameras.
    s.fleet.devices_per_site = 20;
    let bigger = Dataset::from_scenario(&s, seeder::DEFAULT_SEED)?;
    let report = Seeder::new(&bigger).run(&conn).await?;
    assert_eq!(report.table(Table::Devices).inserted, 10);
    assert_eq!(report.table(Table::Devices).present, 10);
    // All there from the start: 6 sensors × 7 campaigns, 1 gateway × 4,
    // 3 cameras × 6.
    assert_eq!(
        report.table(Table::DeviceStatus).inserted,
        6 * 7 + 4 + 3 * 6
    );
    assert!(Seeder::new(&bigger).verify(&conn).await?.passed());

    // One more sensor release, 14 days ago, and its campaign.
    sensor_releases(&mut s, 9);
    let newer = Dataset::from_scenario(&s, seeder::DEFAULT_SEED)?;
    let report = Seeder::new(&newer).run(&conn).await?;
    assert_eq!(report.table(Table::Firmware).inserted, 1);
    assert_eq!(report.table(Table::Campaigns).inserted, 1);
    assert_eq!(report.table(Table::DeviceStatus).inserted, 12);
    // The 12 sensors' updates: about 6% fail, the others now run 1.8.0.
    assert!(report.table(Table::Devices).updated >= 10, "{report:?}");
    assert!(Seeder::new(&newer).verify(&conn).await?.passed());
    Ok(())
}

/// The trial's cases: the `fleet` scenario, or 100 devices per site, over
/// the demo numbered its devices `-sensor-001` beside the demo's
/// `-sensor-01`, and the run went ahead with two fleets in each tenant.
async fn other_numbering_is_refused(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let fleet = Scenario::builtin("fleet").ok_or_else(|| anyhow::anyhow!("fleet"))?;
    let fleet = Dataset::from_scenario(&fleet, seeder::DEFAULT_SEED)?;
    let message = refused(&conn, &Dataset::demo(), &fleet).await?;
    assert!(
        message.contains(
            "(scenario fleet, --seed 42): device cold-storage-1-sensor-01 is there, numbered as \
             this dataset's devices are but not one of them (seeded with other sizes?)"
        ),
        "{message}"
    );
    let hundred = demo_with(|s| s.devices_per_site = 100);
    let message = refused(&conn, &Dataset::demo(), &hundred).await?;
    assert!(
        message.contains("numbered as this dataset's devices are"),
        "{message}"
    );
    Ok(())
}

/// Only tenant-b was seeded; another seed for both: tenant-a is new and
/// would be written whole before tenant-b is refused in its own
/// transaction, had the run not compared tenant-b first.
async fn a_refusal_comes_before_any_tenant_is_written(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let demo = Dataset::demo();
    Seeder::new(&demo).tenants(["tenant-b"]).run(&conn).await?;
    let before = table_contents(&conn).await?;
    let seven = demo_with(|s| s.seed = 7);
    let run = Seeder::new(&seven).run(&conn).await;
    match run {
        Err(SeedError::OtherWorld { tenant, .. }) => assert_eq!(tenant, "tenant-b"),
        other => anyhow::bail!("expected a refusal, got {other:?}"),
    }
    assert_eq!(table_contents(&conn).await?, before, "tenant-a not written");
    Ok(())
}

backend_tests!(
    a_refusal_comes_before_any_tenant_is_written,
    other_numbering_is_refused,
    more_campaigns_over_one_is_refused,
    another_seed_is_refused,
    another_scenario_is_refused,
    what_only_adds_goes_ahead,
);
