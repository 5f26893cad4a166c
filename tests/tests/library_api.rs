//! The seeder as a platform test uses it: in-process, through the library's
//! public API, on a database the test opened itself; assertions through
//! the `entity` crate's relations; `reset` for isolation.

use entity::{firmware_versions, ota_campaigns, ota_device_status, tenants};
use ota_seed_tests::{TestDb, assert_ok, backend_tests};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, ModelTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Set,
};
use seeder::{Dataset, DatasetSpec, SchemaOrigin, SeedError, Seeder, Table};

/// The platform engineer's test: migrate, seed the demo, read a campaign
/// with its firmware and status rows through the relations, verify, reset.
async fn demo_through_the_library(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let schema = seeder::migrate(&conn).await?;
    assert_eq!(
        (schema.origin, schema.applied),
        (SchemaOrigin::Created, ota_seed_tests::migration_count())
    );

    let demo = Dataset::demo();
    let report = Seeder::new(&demo).run(&conn).await?;
    assert_eq!(report.table(Table::DeviceStatus).inserted, 30);
    assert_eq!(report.tenants, ["tenant-a", "tenant-b"]);

    let (campaign, firmware) = ota_campaigns::Entity::find()
        .filter(ota_campaigns::Column::TenantId.eq("tenant-b"))
        .find_also_related(firmware_versions::Entity)
        .one(&conn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("tenant-b has no campaign"))?;
    assert_eq!(campaign.name, "Fleet Update to v1.1.0");
    assert_eq!(firmware.map(|f| f.version).as_deref(), Some("1.1.0"));
    let statuses = campaign
        .find_related(ota_device_status::Entity)
        .all(&conn)
        .await?;
    let failed: Vec<&str> = statuses
        .iter()
        .filter(|s| s.status == "FAILED")
        .map(|s| s.device_id.as_str())
        .collect();
    assert_eq!(
        (statuses.len(), failed),
        (15, vec!["factory-floor-sensor-01"])
    );
    assert_eq!(
        (campaign.total_devices, campaign.succeeded, campaign.failed),
        (15, 14, 1)
    );

    let verified = seeder::verify(&conn, &demo).await?;
    assert!(verified.passed(), "{verified}");

    // A second run inserts nothing.
    let again = Seeder::new(&demo).run(&conn).await?;
    assert_eq!(again.inserted_total(), 0);
    assert_eq!(again.table(Table::DeviceStatus).present, 30);

    let reset = seeder::reset(&conn, &demo).await?;
    assert_eq!(reset.deleted.get(&Table::DeviceStatus), Some(&30));
    assert_eq!(reset.total(), 2 + 30 + 4 + 2 + 30);
    assert_eq!(tenants::Entity::find().count(&conn).await?, 0);
    assert_eq!(ota_device_status::Entity::find().count(&conn).await?, 0);
    conn.close().await?;
    Ok(())
}

/// A tenant that is not the dataset's: its rows, by hand.
async fn another_tenant(conn: &DatabaseConnection) -> anyhow::Result<()> {
    tenants::ActiveModel {
        tenant_id: Set("other-co".to_owned()),
        name: Set("Other Co".to_owned()),
        status: Set("ACTIVE".to_owned()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    firmware_versions::ActiveModel {
        tenant_id: Set("other-co".to_owned()),
        version: Set("9.9.9".to_owned()),
        file_url: Set("https://fw.example/9.9.9.bin".to_owned()),
        device_type: Set(Some("sensor".to_owned())),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// `reset` deletes exactly the selected dataset tenants: another
/// tenant's rows and the unselected dataset tenant stay; an id that is not
/// the dataset's is refused before anything is deleted.
async fn reset_touches_only_the_selected_dataset_tenants(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let demo = Dataset::demo();
    Seeder::new(&demo).run(&conn).await?;
    another_tenant(&conn).await?;

    let refused = Seeder::new(&demo)
        .tenants(["other-co"])
        .reset(&conn, false)
        .await;
    assert!(
        matches!(&refused, Err(SeedError::UnknownTenant { id, .. }) if id == "other-co"),
        "{refused:?}"
    );

    let preview = Seeder::new(&demo)
        .tenants(["tenant-a"])
        .reset(&conn, true)
        .await?;
    assert!(preview.dry_run);
    assert_eq!(preview.total(), 1 + 15 + 2 + 1 + 15);
    assert_eq!(
        tenants::Entity::find().count(&conn).await?,
        3,
        "a dry run deletes nothing"
    );

    let reset = Seeder::new(&demo)
        .tenants(["tenant-a"])
        .reset(&conn, false)
        .await?;
    assert_eq!(reset.tenants, ["tenant-a"]);
    assert_eq!(reset.total(), preview.total());
    let left: Vec<String> = tenants::Entity::find()
        .order_by_asc(tenants::Column::TenantId)
        .all(&conn)
        .await?
        .into_iter()
        .map(|t| t.tenant_id)
        .collect();
    assert_eq!(left, ["other-co", "tenant-b"]);
    assert_eq!(
        firmware_versions::Entity::find()
            .filter(firmware_versions::Column::TenantId.eq("other-co"))
            .count(&conn)
            .await?,
        1
    );
    assert_eq!(
        ota_device_status::Entity::find()
            .filter(ota_device_status::Column::TenantId.eq("tenant-b"))
            .count(&conn)
            .await?,
        15
    );
    // And the reset tenant seeds again from scratch.
    let again = Seeder::new(&demo).run(&conn).await?;
    assert_eq!(again.table(Table::DeviceStatus).inserted, 15);
    conn.close().await?;
    Ok(())
}

/// `seeder reset` on the command line: names what it deletes, needs
/// `--yes` without a terminal, and leaves another tenant alone.
async fn reset_on_the_command_line(db: TestDb) -> anyhow::Result<()> {
    assert_ok(&db.seeder(&["-q"]));
    let conn = db.connect().await?;
    another_tenant(&conn).await?;

    let out = db.seeder(&["reset"]);
    let line = ota_seed_tests::assert_clean_error(&out);
    assert!(
        line.contains("reset not confirmed, nothing was deleted"),
        "{line}"
    );

    let out = assert_ok(&db.seeder(&["reset", "--dry-run", "--json"]));
    let preview: serde_json::Value = serde_json::from_str(&out)?;
    assert_eq!(preview["dry_run"], true);
    assert_eq!(preview["deleted"]["ota_device_status"], 30, "{preview}");

    let out = assert_ok(&db.seeder(&["reset", "--yes", "--json"]));
    let deleted: serde_json::Value = serde_json::from_str(&out)?;
    assert_eq!(deleted["deleted"]["tenants"], 2, "{deleted}");
    assert_eq!(
        deleted["tenants"],
        serde_json::json!(["tenant-a", "tenant-b"])
    );
    assert_eq!(
        tenants::Entity::find().count(&conn).await?,
        1,
        "other-co stays"
    );
    assert_eq!(firmware_versions::Entity::find().count(&conn).await?, 1);

    let out = db.seeder(&["reset", "--yes", "--tenant", "other-co"]);
    let line = ota_seed_tests::assert_clean_error(&out);
    assert!(line.contains("unknown tenant \"other-co\""), "{line}");
    conn.close().await?;
    Ok(())
}

/// A fleet seeded through the library is the same as through the CLI:
/// same sizes, counters computed from the rows.
async fn a_fleet_through_the_library(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let spec = DatasetSpec {
        tenants: 3,
        sites_per_tenant: 4,
        devices_per_site: 10,
        campaigns_per_tenant: 5,
        ..DatasetSpec::default()
    };
    let fleet = Dataset::fleet(&spec);
    let report = Seeder::new(&fleet).run(&conn).await?;
    assert_eq!(report.table(Table::Devices).inserted, 3 * 40);
    assert_eq!(report.table(Table::Campaigns).inserted, 3 * 5);
    let verified = Seeder::new(&fleet).verify(&conn).await?;
    assert!(verified.passed(), "{verified}");
    assert_eq!(verified.count("ota_device_status"), 3 * 40);
    conn.close().await?;
    Ok(())
}

/// A stop requested before the run starts: nothing is planned or written,
/// on an empty database and on a complete one (where every batch's plan
/// writes nothing), and the report says the run stopped.
async fn a_stop_requested_before_the_run_starts_nothing(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let demo = Dataset::demo();
    let stopped_run = |conn: &DatabaseConnection| {
        let cancel = seeder::Cancel::new();
        cancel.cancel();
        let conn = conn.clone();
        let demo = &demo;
        async move { Seeder::new(demo).cancel(cancel).run(&conn).await }
    };

    let report = stopped_run(&conn).await?;
    assert!(report.stopped.is_some(), "{report:?}");
    assert!(report.tenants.is_empty(), "{report:?}");
    assert_eq!(tenants::Entity::find().count(&conn).await?, 0);

    Seeder::new(&demo).run(&conn).await?;
    let report = stopped_run(&conn).await?;
    assert!(report.stopped.is_some(), "{report:?}");
    assert!(
        report.tenants.is_empty(),
        "no tenant reported seeded: {report:?}"
    );
    assert_eq!(report.table(Table::DeviceStatus).present, 0, "{report:?}");
    conn.close().await?;
    Ok(())
}

backend_tests!(
    a_stop_requested_before_the_run_starts_nothing,
    demo_through_the_library,
    reset_touches_only_the_selected_dataset_tenants,
    reset_on_the_command_line,
    a_fleet_through_the_library,
);
