//! The schema's keys, checks, foreign key actions and defaults do what
//! `docs/schema.md` says, on every backend, and `entity::status` spells
//! exactly the values the schema's CHECK constraints allow. (PostgreSQL's
//! catalog against the column reference is `schema_catalog.rs`.)

use std::collections::BTreeSet;

use chrono::Utc;
use entity::status::{CampaignStatus, DeviceUpdateStatus, RolloutStrategy};
use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status, tenants};
use ota_seed_tests::{Backend, TestDb, backend_tests};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, RuntimeErr, Set, Statement,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The kind of integrity rule a database said a statement broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Violation {
    Check,
    Unique,
    ForeignKey,
}

/// Classifies a driver error by the backend's own error code, so a test
/// cannot pass on an unrelated failure (a typo in SQL, a type mismatch...).
fn violation(err: &DbErr) -> Option<Violation> {
    use sea_orm::sqlx;
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err
    else {
        return None;
    };
    let sqlx::Error::Database(e) = &**e else {
        return None;
    };
    if let Some(my) = e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return match my.number() {
            // MariaDB ER_CONSTRAINT_FAILED, MySQL ER_CHECK_CONSTRAINT_VIOLATED
            4025 | 3819 => Some(Violation::Check),
            1062 | 1586 => Some(Violation::Unique),
            1216 | 1217 | 1451 | 1452 => Some(Violation::ForeignKey),
            _ => None,
        };
    }
    let code = e.code()?;
    if e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        // SQLSTATE
        return match code.as_ref() {
            "23514" => Some(Violation::Check),
            "23505" => Some(Violation::Unique),
            "23503" => Some(Violation::ForeignKey),
            _ => None,
        };
    }
    if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Extended result codes: SQLITE_CONSTRAINT_CHECK, _UNIQUE,
        // _PRIMARYKEY, _FOREIGNKEY.
        return match code.as_ref() {
            "275" => Some(Violation::Check),
            "2067" | "1555" => Some(Violation::Unique),
            "787" => Some(Violation::ForeignKey),
            // SQLite reports an ON DELETE RESTRICT refusal as
            // SQLITE_CONSTRAINT_TRIGGER (which sea-orm's `sql_err()` does not
            // classify as a foreign key error); the message tells it apart
            // from a RAISE in a trigger.
            "1811" if e.message().contains("FOREIGN KEY constraint failed") => {
                Some(Violation::ForeignKey)
            }
            _ => None,
        };
    }
    None
}

/// Asserts that `result` failed, and failed because of a `want` violation.
fn assert_violation<T: std::fmt::Debug>(
    backend: Backend,
    result: Result<T, DbErr>,
    want: Violation,
    what: &str,
) {
    match result {
        Ok(value) => panic!(
            "{}: {what} was accepted ({value:?}); expected a {want:?} violation",
            backend.name()
        ),
        Err(err) => assert_eq!(
            violation(&err),
            Some(want),
            "{}: {what} failed, but not with a {want:?} violation: {err}",
            backend.name()
        ),
    }
}

async fn add_tenant(db: &DatabaseConnection, tenant_id: &str) -> anyhow::Result<()> {
    tenants::Entity::insert(tenants::ActiveModel {
        tenant_id: Set(tenant_id.to_owned()),
        name: Set(format!("Tenant {tenant_id}")),
        ..Default::default()
    })
    .exec(db)
    .await?;
    Ok(())
}

async fn add_firmware(
    db: &DatabaseConnection,
    tenant_id: &str,
    version: &str,
    device_type: Option<&str>,
) -> Result<i32, DbErr> {
    let model = firmware_versions::ActiveModel {
        tenant_id: Set(tenant_id.to_owned()),
        version: Set(version.to_owned()),
        file_url: Set(format!("https://fw.example/{tenant_id}/{version}.bin")),
        device_type: Set(device_type.map(str::to_owned)),
        ..Default::default()
    };
    Ok(firmware_versions::Entity::insert(model)
        .exec(db)
        .await?
        .last_insert_id)
}

/// A campaign with only the columns that have no default.
fn campaign(tenant_id: &str, name: &str, firmware_id: i32) -> ota_campaigns::ActiveModel {
    ota_campaigns::ActiveModel {
        tenant_id: Set(tenant_id.to_owned()),
        name: Set(name.to_owned()),
        firmware_version_id: Set(firmware_id),
        target_group_id: Set(format!("{tenant_id}-group")),
        ..Default::default()
    }
}

async fn add_campaign(
    db: &DatabaseConnection,
    model: ota_campaigns::ActiveModel,
) -> Result<i32, DbErr> {
    Ok(ota_campaigns::Entity::insert(model)
        .exec(db)
        .await?
        .last_insert_id)
}

/// A device status row with only the columns that have no default.
fn device_status(
    tenant_id: &str,
    campaign_id: i32,
    device_id: &str,
) -> ota_device_status::ActiveModel {
    ota_device_status::ActiveModel {
        tenant_id: Set(tenant_id.to_owned()),
        campaign_id: Set(campaign_id),
        device_id: Set(device_id.to_owned()),
        ..Default::default()
    }
}

async fn add_status(
    db: &DatabaseConnection,
    model: ota_device_status::ActiveModel,
) -> Result<i64, DbErr> {
    Ok(ota_device_status::Entity::insert(model)
        .exec(db)
        .await?
        .last_insert_id)
}

async fn count_firmware(db: &DatabaseConnection, cond: Condition) -> Result<u64, DbErr> {
    firmware_versions::Entity::find()
        .filter(cond)
        .count(db)
        .await
}

async fn count_campaigns(db: &DatabaseConnection, cond: Condition) -> Result<u64, DbErr> {
    ota_campaigns::Entity::find().filter(cond).count(db).await
}

async fn count_statuses(db: &DatabaseConnection, cond: Condition) -> Result<u64, DbErr> {
    ota_device_status::Entity::find()
        .filter(cond)
        .count(db)
        .await
}

/// One tenant with one firmware and one campaign: what most cases build on.
struct Base {
    tenant: &'static str,
    firmware_id: i32,
    campaign_id: i32,
}

async fn base(db: &DatabaseConnection) -> anyhow::Result<Base> {
    let tenant = "tenant-a";
    add_tenant(db, tenant).await?;
    let firmware_id = add_firmware(db, tenant, "1.0.0", Some("gateway")).await?;
    let campaign_id = add_campaign(db, campaign(tenant, "rollout-1", firmware_id)).await?;
    Ok(Base {
        tenant,
        firmware_id,
        campaign_id,
    })
}

// ---------------------------------------------------------------------------
// Cases that run on every backend
// ---------------------------------------------------------------------------

async fn device_status_checks_reject_unknown_status_and_out_of_range_progress(
    db: TestDb,
) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.migrate().await?;
    let b = base(&conn).await?;

    // Every value docs/schema.md allows goes in, including both progress bounds.
    for (i, status) in [
        "PENDING",
        "DOWNLOADING",
        "INSTALLING",
        "SUCCESS",
        "FAILED",
        "SKIPPED",
    ]
    .into_iter()
    .enumerate()
    {
        let mut row = device_status(b.tenant, b.campaign_id, &format!("ok-{i}"));
        row.status = Set(status.to_owned());
        row.progress_pct = Set(if status == "SUCCESS" { 100 } else { 0 });
        add_status(&conn, row).await?;
    }
    assert_eq!(
        count_statuses(&conn, Condition::all()).await?,
        6,
        "{}: allowed statuses",
        backend.name()
    );

    let bad_cases: [(&str, &str, i32); 5] = [
        (
            "status SUCCEEDED (what the platform's old seed script wrote)",
            "SUCCEEDED",
            100,
        ),
        ("status success (wrong case)", "success", 100),
        ("progress_pct 101", "DOWNLOADING", 101),
        ("progress_pct -1", "DOWNLOADING", -1),
        ("status empty", "", 0),
    ];
    for (i, (what, status, progress)) in bad_cases.into_iter().enumerate() {
        let device = format!("bad-{i}");
        let mut row = device_status(b.tenant, b.campaign_id, &device);
        row.status = Set(status.to_owned());
        row.progress_pct = Set(progress);
        assert_violation(
            backend,
            add_status(&conn, row).await,
            Violation::Check,
            what,
        );
        assert_eq!(
            count_statuses(
                &conn,
                Condition::all().add(ota_device_status::Column::DeviceId.eq(device))
            )
            .await?,
            0,
            "{}: rejected row ({what}) must not be stored",
            backend.name()
        );
    }
    assert_eq!(
        count_statuses(&conn, Condition::all()).await?,
        6,
        "{}: row count after rejections",
        backend.name()
    );
    Ok(())
}

async fn campaign_checks_reject_unknown_status_and_strategy(db: TestDb) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.migrate().await?;
    let b = base(&conn).await?;

    for status in ["CREATED", "RUNNING", "PAUSED", "COMPLETED", "ABORTED"] {
        let mut row = campaign(b.tenant, &format!("status-{status}"), b.firmware_id);
        row.status = Set(status.to_owned());
        add_campaign(&conn, row).await?;
    }
    for strategy in ["linear", "canary"] {
        let mut row = campaign(b.tenant, &format!("strategy-{strategy}"), b.firmware_id);
        row.rollout_strategy = Set(strategy.to_owned());
        add_campaign(&conn, row).await?;
    }
    // base() made one more.
    assert_eq!(
        count_campaigns(&conn, Condition::all()).await?,
        8,
        "{}: allowed values",
        backend.name()
    );

    let bad_cases: [(&str, Option<&str>, Option<&str>); 4] = [
        ("status DONE", Some("DONE"), None),
        ("status running (wrong case)", Some("running"), None),
        ("rollout_strategy big-bang", None, Some("big-bang")),
        ("rollout_strategy LINEAR (wrong case)", None, Some("LINEAR")),
    ];
    for (i, (what, status, strategy)) in bad_cases.into_iter().enumerate() {
        let name = format!("bad-{i}");
        let mut row = campaign(b.tenant, &name, b.firmware_id);
        if let Some(status) = status {
            row.status = Set(status.to_owned());
        }
        if let Some(strategy) = strategy {
            row.rollout_strategy = Set(strategy.to_owned());
        }
        assert_violation(
            backend,
            add_campaign(&conn, row).await,
            Violation::Check,
            what,
        );
        assert_eq!(
            count_campaigns(
                &conn,
                Condition::all().add(ota_campaigns::Column::Name.eq(name))
            )
            .await?,
            0,
            "{}: rejected campaign ({what}) must not be stored",
            backend.name()
        );
    }
    assert_eq!(
        count_campaigns(&conn, Condition::all()).await?,
        8,
        "{}: count after rejections",
        backend.name()
    );
    Ok(())
}

async fn firmware_unique_key_rejects_duplicates_but_not_null_device_types(
    db: TestDb,
) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.migrate().await?;
    add_tenant(&conn, "tenant-a").await?;
    add_tenant(&conn, "tenant-b").await?;

    add_firmware(&conn, "tenant-a", "2.0.0", Some("gateway")).await?;
    assert_violation(
        backend,
        add_firmware(&conn, "tenant-a", "2.0.0", Some("gateway")).await,
        Violation::Unique,
        "second firmware (tenant-a, 2.0.0, gateway)",
    );
    let same_key = Condition::all()
        .add(firmware_versions::Column::TenantId.eq("tenant-a"))
        .add(firmware_versions::Column::Version.eq("2.0.0"))
        .add(firmware_versions::Column::DeviceType.eq("gateway"));
    assert_eq!(
        count_firmware(&conn, same_key).await?,
        1,
        "{}: the duplicate must not be stored",
        backend.name()
    );

    // Any one part of the key differing makes a new row; keys compare
    // case-sensitively on every backend, as on PostgreSQL.
    add_firmware(&conn, "tenant-a", "2.0.0", Some("sensor")).await?;
    add_firmware(&conn, "tenant-a", "2.0.0", Some("Gateway")).await?;
    add_firmware(&conn, "tenant-a", "2.0.1", Some("gateway")).await?;
    add_firmware(&conn, "tenant-b", "2.0.0", Some("gateway")).await?;

    // NULL device_types are distinct: both rows go in.
    let first_null = add_firmware(&conn, "tenant-a", "2.0.0", None).await?;
    let second_null = add_firmware(&conn, "tenant-a", "2.0.0", None).await?;
    assert_ne!(
        first_null,
        second_null,
        "{}: two NULL-device_type rows",
        backend.name()
    );
    let null_rows = Condition::all()
        .add(firmware_versions::Column::TenantId.eq("tenant-a"))
        .add(firmware_versions::Column::Version.eq("2.0.0"))
        .add(firmware_versions::Column::DeviceType.is_null());
    assert_eq!(
        count_firmware(&conn, null_rows).await?,
        2,
        "{}: NULLs are distinct",
        backend.name()
    );
    assert_eq!(
        count_firmware(&conn, Condition::all()).await?,
        7,
        "{}: firmware rows",
        backend.name()
    );
    Ok(())
}

async fn device_status_unique_per_tenant_campaign_and_device(db: TestDb) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.migrate().await?;
    let b = base(&conn).await?;
    let other_campaign =
        add_campaign(&conn, campaign(b.tenant, "rollout-2", b.firmware_id)).await?;

    add_status(&conn, device_status(b.tenant, b.campaign_id, "dev-1")).await?;
    let mut again = device_status(b.tenant, b.campaign_id, "dev-1");
    again.status = Set("DOWNLOADING".to_owned());
    assert_violation(
        backend,
        add_status(&conn, again).await,
        Violation::Unique,
        "second status row for (tenant-a, campaign, dev-1)",
    );
    let key = Condition::all()
        .add(ota_device_status::Column::TenantId.eq(b.tenant))
        .add(ota_device_status::Column::CampaignId.eq(b.campaign_id))
        .add(ota_device_status::Column::DeviceId.eq("dev-1"));
    assert_eq!(
        count_statuses(&conn, key.clone()).await?,
        1,
        "{}: duplicate not stored",
        backend.name()
    );
    let stored = ota_device_status::Entity::find()
        .filter(key)
        .one(&conn)
        .await?
        .expect("the first status row is there");
    assert_eq!(
        stored.status,
        "PENDING",
        "{}: the first row is unchanged",
        backend.name()
    );

    // The same device in another campaign, or a same-named device of
    // another tenant, is a different key.
    add_status(&conn, device_status(b.tenant, other_campaign, "dev-1")).await?;
    add_status(&conn, device_status("tenant-b", b.campaign_id, "dev-1")).await?;
    add_status(&conn, device_status(b.tenant, b.campaign_id, "DEV-1")).await?;
    assert_eq!(
        count_statuses(&conn, Condition::all()).await?,
        4,
        "{}: status rows",
        backend.name()
    );
    Ok(())
}

async fn foreign_keys_reject_dangling_references(db: TestDb) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.migrate().await?;
    let b = base(&conn).await?;

    assert_violation(
        backend,
        add_firmware(&conn, "no-such-tenant", "1.0.0", None).await,
        Violation::ForeignKey,
        "firmware of an unknown tenant",
    );
    assert_eq!(
        count_firmware(
            &conn,
            Condition::all().add(firmware_versions::Column::TenantId.eq("no-such-tenant"))
        )
        .await?,
        0,
        "{}: dangling firmware not stored",
        backend.name()
    );

    let missing_firmware = b.firmware_id + 1000;
    assert_violation(
        backend,
        add_campaign(&conn, campaign(b.tenant, "dangling", missing_firmware)).await,
        Violation::ForeignKey,
        "campaign of an unknown firmware",
    );
    assert_violation(
        backend,
        add_campaign(&conn, campaign("no-such-tenant", "dangling", b.firmware_id)).await,
        Violation::ForeignKey,
        "campaign of an unknown tenant",
    );
    assert_eq!(
        count_campaigns(
            &conn,
            Condition::all().add(ota_campaigns::Column::Name.eq("dangling"))
        )
        .await?,
        0,
        "{}: dangling campaigns not stored",
        backend.name()
    );

    assert_violation(
        backend,
        add_status(
            &conn,
            device_status(b.tenant, b.campaign_id + 1000, "dev-1"),
        )
        .await,
        Violation::ForeignKey,
        "status row of an unknown campaign",
    );
    assert_eq!(
        count_statuses(&conn, Condition::all()).await?,
        0,
        "{}: dangling status",
        backend.name()
    );

    // docs/schema.md: no foreign key from device_id to device_registry (and none
    // from ota_device_status.tenant_id), so an unregistered device is fine.
    add_status(
        &conn,
        device_status("unregistered-tenant", b.campaign_id, "unregistered-device"),
    )
    .await?;
    assert_eq!(
        count_statuses(&conn, Condition::all()).await?,
        1,
        "{}: status rows",
        backend.name()
    );
    Ok(())
}

async fn deleting_a_campaign_deletes_its_status_rows(db: TestDb) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.migrate().await?;
    let b = base(&conn).await?;
    let kept = add_campaign(&conn, campaign(b.tenant, "rollout-2", b.firmware_id)).await?;
    for device in ["dev-1", "dev-2", "dev-3"] {
        add_status(&conn, device_status(b.tenant, b.campaign_id, device)).await?;
        add_status(&conn, device_status(b.tenant, kept, device)).await?;
    }

    let deleted = ota_campaigns::Entity::delete_by_id(b.campaign_id)
        .exec(&conn)
        .await?;
    assert_eq!(
        deleted.rows_affected,
        1,
        "{}: campaign deleted",
        backend.name()
    );
    assert_eq!(
        count_statuses(
            &conn,
            Condition::all().add(ota_device_status::Column::CampaignId.eq(b.campaign_id))
        )
        .await?,
        0,
        "{}: ON DELETE CASCADE removes the campaign's status rows",
        backend.name()
    );
    assert_eq!(
        count_statuses(
            &conn,
            Condition::all().add(ota_device_status::Column::CampaignId.eq(kept))
        )
        .await?,
        3,
        "{}: the other campaign's status rows stay",
        backend.name()
    );
    Ok(())
}

async fn deleting_a_firmware_in_use_is_refused(db: TestDb) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.migrate().await?;
    let b = base(&conn).await?;
    add_status(&conn, device_status(b.tenant, b.campaign_id, "dev-1")).await?;
    let unused = add_firmware(&conn, b.tenant, "0.9.0", None).await?;

    assert_violation(
        backend,
        firmware_versions::Entity::delete_by_id(b.firmware_id)
            .exec(&conn)
            .await,
        Violation::ForeignKey,
        "deleting a firmware a campaign references",
    );
    let still_there = firmware_versions::Entity::find_by_id(b.firmware_id)
        .one(&conn)
        .await?;
    assert!(
        still_there.is_some(),
        "{}: ON DELETE RESTRICT keeps the firmware",
        backend.name()
    );
    assert!(
        ota_campaigns::Entity::find_by_id(b.campaign_id)
            .one(&conn)
            .await?
            .is_some(),
        "{}: and its campaign",
        backend.name()
    );
    assert_eq!(
        count_statuses(&conn, Condition::all()).await?,
        1,
        "{}: and its status rows",
        backend.name()
    );

    // An unreferenced firmware deletes; once its campaign is gone, so does
    // the first one.
    let deleted = firmware_versions::Entity::delete_by_id(unused)
        .exec(&conn)
        .await?;
    assert_eq!(
        deleted.rows_affected,
        1,
        "{}: unused firmware deleted",
        backend.name()
    );
    ota_campaigns::Entity::delete_by_id(b.campaign_id)
        .exec(&conn)
        .await?;
    let deleted = firmware_versions::Entity::delete_by_id(b.firmware_id)
        .exec(&conn)
        .await?;
    assert_eq!(
        deleted.rows_affected,
        1,
        "{}: firmware deleted after its campaign",
        backend.name()
    );
    Ok(())
}

async fn deleting_a_tenant_deletes_its_firmware(db: TestDb) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.migrate().await?;
    // tenant-a's firmware is referenced by no campaign, so no RESTRICT is in
    // the way; tenant-b is a bystander with a campaign of its own.
    add_tenant(&conn, "tenant-a").await?;
    add_firmware(&conn, "tenant-a", "1.0.0", None).await?;
    add_firmware(&conn, "tenant-a", "1.1.0", Some("gateway")).await?;
    add_tenant(&conn, "tenant-b").await?;
    let b_firmware = add_firmware(&conn, "tenant-b", "1.0.0", None).await?;
    add_campaign(&conn, campaign("tenant-b", "rollout-b", b_firmware)).await?;
    // device_registry has no foreign key to tenants (as on the platform).
    device_registry::Entity::insert(device_registry::ActiveModel {
        tenant_id: Set("tenant-a".to_owned()),
        device_id: Set("dev-1".to_owned()),
        site_id: Set("site-1".to_owned()),
        ..Default::default()
    })
    .exec(&conn)
    .await?;

    let deleted = tenants::Entity::delete_by_id("tenant-a")
        .exec(&conn)
        .await?;
    assert_eq!(
        deleted.rows_affected,
        1,
        "{}: tenant deleted",
        backend.name()
    );
    assert_eq!(
        count_firmware(
            &conn,
            Condition::all().add(firmware_versions::Column::TenantId.eq("tenant-a"))
        )
        .await?,
        0,
        "{}: ON DELETE CASCADE removes the tenant's firmware",
        backend.name()
    );
    assert_eq!(
        count_firmware(
            &conn,
            Condition::all().add(firmware_versions::Column::TenantId.eq("tenant-b"))
        )
        .await?,
        1,
        "{}: other tenants' firmware stays",
        backend.name()
    );
    assert_eq!(
        count_campaigns(&conn, Condition::all()).await?,
        1,
        "{}: other campaigns stay",
        backend.name()
    );
    assert_eq!(
        device_registry::Entity::find().count(&conn).await?,
        1,
        "{}: devices are not tied to tenants by a foreign key",
        backend.name()
    );
    Ok(())
}

/// A tenant with a campaign: the tenant's delete cascades to both its
/// firmware (FK 1) and its campaigns (FK 2), while FK 3 (campaign ->
/// firmware) is ON DELETE RESTRICT.
///
/// PostgreSQL (the reference) and SQLite delete the whole tree: the
/// campaign goes in the same statement as the firmware it references, so
/// the RESTRICT check finds nothing left. InnoDB (MariaDB/MySQL) applies
/// the cascades row by row, depth first, and checks RESTRICT at once when
/// it removes the firmware, while the campaign is still there: it refuses
/// the whole statement (error 1451) and nothing is deleted. So on MariaDB a
/// tenant that has campaigns cannot be deleted in one statement; its
/// campaigns must go first.
async fn deleting_a_tenant_with_campaigns(db: TestDb) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.migrate().await?;
    let b = base(&conn).await?;
    add_status(&conn, device_status(b.tenant, b.campaign_id, "dev-1")).await?;
    add_status(&conn, device_status(b.tenant, b.campaign_id, "dev-2")).await?;
    add_tenant(&conn, "tenant-b").await?;
    let b_firmware = add_firmware(&conn, "tenant-b", "1.0.0", None).await?;
    let b_campaign = add_campaign(&conn, campaign("tenant-b", "rollout-b", b_firmware)).await?;
    add_status(&conn, device_status("tenant-b", b_campaign, "dev-1")).await?;

    let result = tenants::Entity::delete_by_id(b.tenant).exec(&conn).await;
    let mine = |column: ota_campaigns::Column| Condition::all().add(column.eq(b.tenant));
    let (tenants_left, firmware_left, campaigns_left, statuses_left) = (
        tenants::Entity::find_by_id(b.tenant).count(&conn).await?,
        count_firmware(
            &conn,
            Condition::all().add(firmware_versions::Column::TenantId.eq(b.tenant)),
        )
        .await?,
        count_campaigns(&conn, mine(ota_campaigns::Column::TenantId)).await?,
        count_statuses(
            &conn,
            Condition::all().add(ota_device_status::Column::TenantId.eq(b.tenant)),
        )
        .await?,
    );
    match backend {
        Backend::Postgres | Backend::Sqlite => {
            let deleted = result
                .map_err(|e| anyhow::anyhow!("{}: tenant delete failed: {e}", backend.name()))?;
            assert_eq!(
                deleted.rows_affected,
                1,
                "{}: tenant deleted",
                backend.name()
            );
            assert_eq!(
                (tenants_left, firmware_left, campaigns_left, statuses_left),
                (0, 0, 0, 0),
                "{}: tenant, firmware, campaigns and status rows all cascade away",
                backend.name()
            );
        }
        Backend::MySql => {
            assert_violation(
                backend,
                result,
                Violation::ForeignKey,
                "InnoDB: tenant delete through RESTRICT",
            );
            assert_eq!(
                (tenants_left, firmware_left, campaigns_left, statuses_left),
                (1, 1, 1, 2),
                "{}: the refused delete leaves every row in place",
                backend.name()
            );
            // Campaigns first, then the tenant: the way that works here.
            ota_campaigns::Entity::delete_many()
                .filter(ota_campaigns::Column::TenantId.eq(b.tenant))
                .exec(&conn)
                .await?;
            tenants::Entity::delete_by_id(b.tenant).exec(&conn).await?;
            assert_eq!(
                count_firmware(
                    &conn,
                    Condition::all().add(firmware_versions::Column::TenantId.eq(b.tenant))
                )
                .await?,
                0,
                "{}: firmware cascades once the campaigns are gone",
                backend.name()
            );
            assert_eq!(
                count_statuses(
                    &conn,
                    Condition::all().add(ota_device_status::Column::TenantId.eq(b.tenant))
                )
                .await?,
                0,
                "{}: status rows went with their campaigns",
                backend.name()
            );
        }
    }
    // The other tenant is untouched either way.
    assert_eq!(
        count_campaigns(&conn, Condition::all()).await?,
        1,
        "{}: tenant-b's campaign",
        backend.name()
    );
    assert_eq!(
        count_statuses(&conn, Condition::all()).await?,
        1,
        "{}: tenant-b's status",
        backend.name()
    );
    Ok(())
}

/// `created_at`-style defaults must be the time of the insert (in UTC):
/// between `before` (taken before the row was written, less a second for
/// SQLite's whole seconds) and now.
fn assert_recent(
    backend: Backend,
    before: chrono::DateTime<Utc>,
    value: sea_orm::prelude::DateTimeWithTimeZone,
    what: &str,
) {
    let value = value.with_timezone(&Utc);
    let after = Utc::now();
    assert!(
        before - chrono::Duration::seconds(1) <= value && value <= after,
        "{}: {what} defaults to {value}, outside the insert's time {before} .. {after} (UTC)",
        backend.name()
    );
}

async fn omitted_columns_get_their_defaults(db: TestDb) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.migrate().await?;
    let before = Utc::now();
    let b = base(&conn).await?;

    let tenant = tenants::Entity::find_by_id(b.tenant)
        .one(&conn)
        .await?
        .expect("tenant stored");
    assert_eq!(
        tenant.status,
        "ACTIVE",
        "{}: tenants.status default",
        backend.name()
    );
    assert_recent(backend, before, tenant.created_at, "tenants.created_at");

    // base() inserted the campaign with only the required columns.
    let c = ota_campaigns::Entity::find_by_id(b.campaign_id)
        .one(&conn)
        .await?
        .expect("campaign stored");
    assert_eq!(c.status, "CREATED", "{}: status default", backend.name());
    assert_eq!(
        c.rollout_strategy,
        "linear",
        "{}: rollout_strategy default",
        backend.name()
    );
    assert_eq!(
        c.rollout_rate,
        10,
        "{}: rollout_rate default",
        backend.name()
    );
    assert!(
        (c.abort_threshold - 0.1).abs() < 1e-12,
        "{}: abort_threshold default is {}",
        backend.name(),
        c.abort_threshold
    );
    assert_eq!(
        (c.total_devices, c.succeeded, c.failed),
        (0, 0, 0),
        "{}: counter defaults",
        backend.name()
    );
    assert_eq!(
        (c.started_at, c.completed_at, c.created_by),
        (None, None, None)
    );
    assert_recent(backend, before, c.created_at, "ota_campaigns.created_at");

    let firmware = firmware_versions::Entity::find_by_id(b.firmware_id)
        .one(&conn)
        .await?
        .expect("firmware stored");
    assert_recent(
        backend,
        before,
        firmware.created_at,
        "firmware_versions.created_at",
    );
    assert_eq!(
        (
            firmware.description,
            firmware.file_size_bytes,
            firmware.checksum_sha256
        ),
        (None, None, None)
    );

    let id = add_status(&conn, device_status(b.tenant, b.campaign_id, "dev-1")).await?;
    let s = ota_device_status::Entity::find_by_id(id)
        .one(&conn)
        .await?
        .expect("status stored");
    assert_eq!(s.status, "PENDING", "{}: status default", backend.name());
    assert_eq!(
        s.progress_pct,
        0,
        "{}: progress_pct default",
        backend.name()
    );
    assert_eq!(
        (s.error_message, s.started_at, s.completed_at),
        (None, None, None)
    );
    assert_recent(
        backend,
        before,
        s.created_at,
        "ota_device_status.created_at",
    );

    // A device inserted without metadata or status, in plain SQL as another
    // writer of the platform would.
    conn.execute_unprepared(
        "INSERT INTO device_registry (tenant_id, device_id, site_id) VALUES ('tenant-a', 'dev-1', 'site-1')",
    )
    .await?;
    let device = device_registry::Entity::find_by_id(("tenant-a".to_owned(), "dev-1".to_owned()))
        .one(&conn)
        .await?
        .expect("device stored");
    assert_eq!(
        device.metadata,
        serde_json::json!({}),
        "{}: metadata default",
        backend.name()
    );
    assert_eq!(
        device.status,
        "ACTIVE",
        "{}: device status default",
        backend.name()
    );
    assert_eq!(
        (
            device.provision_token_hash,
            device.device_pubkey,
            device.fw_version
        ),
        (None, None, None)
    );
    assert_recent(
        backend,
        before,
        device.provisioned_at,
        "device_registry.provisioned_at",
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// entity::status against the live schema's CHECK constraints
// ---------------------------------------------------------------------------

/// The CHECK clauses of `table` as the backend reports them.
async fn check_clauses(conn: &DatabaseConnection, table: &str) -> anyhow::Result<Vec<String>> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT pg_get_constraintdef(c.oid) AS def FROM pg_constraint c \
             WHERE c.contype = 'c' AND c.conrelid = '{table}'::regclass"
        ),
        DbBackend::MySql => format!(
            "SELECT CHECK_CLAUSE AS def FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = '{table}'"
        ),
        _ => format!(
            "SELECT sql AS def FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
        ),
    };
    let mut clauses = Vec::new();
    for row in conn
        .query_all_raw(Statement::from_string(backend, sql))
        .await?
    {
        let def: String = row.try_get("", "def")?;
        if backend == DbBackend::Sqlite {
            // The CREATE TABLE text: each `CHECK (...)`, parentheses balanced.
            let mut rest = def.as_str();
            while let Some(at) = rest.find("CHECK (") {
                let body = &rest[at + "CHECK ".len()..];
                let mut depth = 0;
                let end = body
                    .char_indices()
                    .find_map(|(i, c)| {
                        match c {
                            '(' => depth += 1,
                            ')' => depth -= 1,
                            _ => {}
                        }
                        (depth == 0).then_some(i + 1)
                    })
                    .unwrap_or(body.len());
                clauses.push(body[..end].to_owned());
                rest = &body[end..];
            }
        } else {
            clauses.push(def);
        }
    }
    Ok(clauses)
}

/// The quoted values the CHECK on `column` allows, e.g. `linear`, `canary`.
/// A clause belongs to the column its first identifier names (each
/// backend spells the column first: `((status)::text = ANY ...`,
/// `` `status` in (...) ``, `("status" IN (...))`).
fn allowed_values(clauses: &[String], column: &str) -> BTreeSet<String> {
    let first_identifier = |clause: &str| -> String {
        let clause = clause.trim_start_matches("CHECK");
        clause
            .chars()
            .skip_while(|c| !(c.is_ascii_alphabetic() || *c == '_'))
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    clauses
        .iter()
        .filter(|clause| first_identifier(clause) == column)
        .flat_map(|clause| {
            clause
                .split('\'')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn status_values_match_the_schema_checks(db: TestDb) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.migrate().await?;
    let campaigns = check_clauses(&conn, "ota_campaigns").await?;
    let statuses = check_clauses(&conn, "ota_device_status").await?;
    let cases: [(&str, BTreeSet<String>, Vec<&str>); 3] = [
        (
            "ota_device_status.status",
            allowed_values(&statuses, "status"),
            DeviceUpdateStatus::ALL.iter().map(|v| v.as_str()).collect(),
        ),
        (
            "ota_campaigns.status",
            allowed_values(&campaigns, "status"),
            CampaignStatus::ALL.iter().map(|v| v.as_str()).collect(),
        ),
        (
            "ota_campaigns.rollout_strategy",
            allowed_values(&campaigns, "rollout_strategy"),
            RolloutStrategy::ALL.iter().map(|v| v.as_str()).collect(),
        ),
    ];
    for (column, allowed, spelled) in cases {
        assert!(
            allowed.len() >= 2,
            "{}: no CHECK listing the values of {column} in {campaigns:?} / {statuses:?}",
            backend.name()
        );
        let spelled_set: BTreeSet<String> = spelled.iter().map(|v| (*v).to_owned()).collect();
        assert_eq!(
            spelled_set.len(),
            spelled.len(),
            "{column}: entity::status spells a value twice: {spelled:?}"
        );
        assert_eq!(
            spelled_set,
            allowed,
            "{}: entity::status and the CHECK on {column} disagree",
            backend.name()
        );
    }
    // Every value the database allows reads back as the variant that
    // spells it.
    for v in allowed_values(&statuses, "status") {
        assert_eq!(
            v.parse::<DeviceUpdateStatus>().map(|s| s.as_str()),
            Ok(v.as_str())
        );
    }
    for v in allowed_values(&campaigns, "status") {
        assert_eq!(
            v.parse::<CampaignStatus>().map(|s| s.as_str()),
            Ok(v.as_str())
        );
    }
    for v in allowed_values(&campaigns, "rollout_strategy") {
        assert_eq!(
            v.parse::<RolloutStrategy>().map(|s| s.as_str()),
            Ok(v.as_str())
        );
    }
    Ok(())
}

backend_tests!(
    device_status_checks_reject_unknown_status_and_out_of_range_progress,
    campaign_checks_reject_unknown_status_and_strategy,
    firmware_unique_key_rejects_duplicates_but_not_null_device_types,
    device_status_unique_per_tenant_campaign_and_device,
    foreign_keys_reject_dangling_references,
    deleting_a_campaign_deletes_its_status_rows,
    deleting_a_firmware_in_use_is_refused,
    deleting_a_tenant_deletes_its_firmware,
    deleting_a_tenant_with_campaigns,
    omitted_columns_get_their_defaults,
    status_values_match_the_schema_checks,
);
