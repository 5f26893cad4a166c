//! The schema's keys, checks, foreign key actions and defaults do what
//! schema.md says, on every backend; and on PostgreSQL (the reference) the
//! live catalog matches schema.md column for column.

use std::collections::BTreeSet;

use chrono::Utc;
use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status, tenants};
use ota_seed_tests::{Backend, TestDb, backend_tests};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryResult, RuntimeErr, Set, Statement, TransactionTrait,
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

    // Every value schema.md allows goes in, including both progress bounds.
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
            "status SUCCEEDED (the guess in original-task.md)",
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

    // schema.md: no foreign key from device_id to device_registry (and none
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

/// `created_at`-style defaults must be the current time (in UTC).
fn assert_recent(backend: Backend, value: sea_orm::prelude::DateTimeWithTimeZone, what: &str) {
    let age = Utc::now().signed_duration_since(value.with_timezone(&Utc));
    assert!(
        age.num_seconds().abs() < 300,
        "{}: {what} defaults to {value}, which is {age} away from now (UTC): not the insert time",
        backend.name()
    );
}

async fn omitted_columns_get_their_defaults(db: TestDb) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.migrate().await?;
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
    assert_recent(backend, tenant.created_at, "tenants.created_at");

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
    assert_recent(backend, c.created_at, "ota_campaigns.created_at");

    let firmware = firmware_versions::Entity::find_by_id(b.firmware_id)
        .one(&conn)
        .await?
        .expect("firmware stored");
    assert_recent(backend, firmware.created_at, "firmware_versions.created_at");
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
    assert_recent(backend, s.created_at, "ota_device_status.created_at");

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
        device.provisioned_at,
        "device_registry.provisioned_at",
    );
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
);

// ---------------------------------------------------------------------------
// PostgreSQL only: the live catalog against schema.md
// ---------------------------------------------------------------------------

async fn pg_rows(db: &DatabaseConnection, sql: &str) -> anyhow::Result<Vec<QueryResult>> {
    Ok(db
        .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?)
}

fn text(row: &QueryResult, col: &str) -> anyhow::Result<String> {
    Ok(row.try_get::<String>("", col)?)
}

fn opt_text(row: &QueryResult, col: &str) -> anyhow::Result<Option<String>> {
    Ok(row.try_get::<Option<String>>("", col)?)
}

/// (table, column, data_type, is_nullable, column_default, character_maximum_length)
type ColumnSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<i32>,
);

/// schema.md, table by table, in column order, as information_schema spells it.
const EXPECTED_COLUMNS: &[ColumnSpec] = &[
    ("device_registry", "tenant_id", "text", "NO", None, None),
    ("device_registry", "device_id", "text", "NO", None, None),
    ("device_registry", "site_id", "text", "NO", None, None),
    (
        "device_registry",
        "status",
        "text",
        "NO",
        Some("'ACTIVE'::text"),
        None,
    ),
    (
        "device_registry",
        "provisioned_at",
        "timestamp with time zone",
        "NO",
        Some("now()"),
        None,
    ),
    (
        "device_registry",
        "provision_token_hash",
        "text",
        "YES",
        None,
        None,
    ),
    (
        "device_registry",
        "device_pubkey",
        "text",
        "YES",
        None,
        None,
    ),
    ("device_registry", "fw_version", "text", "YES", None, None),
    (
        "device_registry",
        "metadata",
        "jsonb",
        "NO",
        Some("'{}'::jsonb"),
        None,
    ),
    // SERIAL: integer fed by the column's own sequence.
    (
        "firmware_versions",
        "id",
        "integer",
        "NO",
        Some("nextval('firmware_versions_id_seq'::regclass)"),
        None,
    ),
    ("firmware_versions", "tenant_id", "text", "NO", None, None),
    (
        "firmware_versions",
        "version",
        "character varying",
        "NO",
        None,
        Some(50),
    ),
    (
        "firmware_versions",
        "description",
        "text",
        "YES",
        None,
        None,
    ),
    ("firmware_versions", "file_url", "text", "NO", None, None),
    (
        "firmware_versions",
        "file_size_bytes",
        "bigint",
        "YES",
        None,
        None,
    ),
    (
        "firmware_versions",
        "checksum_sha256",
        "character varying",
        "YES",
        None,
        Some(64),
    ),
    (
        "firmware_versions",
        "device_type",
        "character varying",
        "YES",
        None,
        Some(50),
    ),
    (
        "firmware_versions",
        "created_at",
        "timestamp with time zone",
        "NO",
        Some("now()"),
        None,
    ),
    ("firmware_versions", "created_by", "text", "YES", None, None),
    (
        "ota_campaigns",
        "id",
        "integer",
        "NO",
        Some("nextval('ota_campaigns_id_seq'::regclass)"),
        None,
    ),
    ("ota_campaigns", "tenant_id", "text", "NO", None, None),
    (
        "ota_campaigns",
        "name",
        "character varying",
        "NO",
        None,
        Some(100),
    ),
    (
        "ota_campaigns",
        "firmware_version_id",
        "integer",
        "NO",
        None,
        None,
    ),
    ("ota_campaigns", "target_group_id", "text", "NO", None, None),
    (
        "ota_campaigns",
        "rollout_strategy",
        "character varying",
        "NO",
        Some("'linear'::character varying"),
        Some(20),
    ),
    (
        "ota_campaigns",
        "rollout_rate",
        "integer",
        "NO",
        Some("10"),
        None,
    ),
    (
        "ota_campaigns",
        "abort_threshold",
        "double precision",
        "NO",
        Some("0.1"),
        None,
    ),
    (
        "ota_campaigns",
        "status",
        "character varying",
        "NO",
        Some("'CREATED'::character varying"),
        Some(20),
    ),
    (
        "ota_campaigns",
        "total_devices",
        "integer",
        "NO",
        Some("0"),
        None,
    ),
    (
        "ota_campaigns",
        "succeeded",
        "integer",
        "NO",
        Some("0"),
        None,
    ),
    ("ota_campaigns", "failed", "integer", "NO", Some("0"), None),
    (
        "ota_campaigns",
        "started_at",
        "timestamp with time zone",
        "YES",
        None,
        None,
    ),
    (
        "ota_campaigns",
        "completed_at",
        "timestamp with time zone",
        "YES",
        None,
        None,
    ),
    (
        "ota_campaigns",
        "created_at",
        "timestamp with time zone",
        "NO",
        Some("now()"),
        None,
    ),
    ("ota_campaigns", "created_by", "text", "YES", None, None),
    // BIGSERIAL
    (
        "ota_device_status",
        "id",
        "bigint",
        "NO",
        Some("nextval('ota_device_status_id_seq'::regclass)"),
        None,
    ),
    ("ota_device_status", "tenant_id", "text", "NO", None, None),
    (
        "ota_device_status",
        "campaign_id",
        "integer",
        "NO",
        None,
        None,
    ),
    // Plain VARCHAR without a length, as the platform declares it.
    (
        "ota_device_status",
        "device_id",
        "character varying",
        "NO",
        None,
        None,
    ),
    (
        "ota_device_status",
        "status",
        "character varying",
        "NO",
        Some("'PENDING'::character varying"),
        Some(20),
    ),
    (
        "ota_device_status",
        "progress_pct",
        "integer",
        "NO",
        Some("0"),
        None,
    ),
    (
        "ota_device_status",
        "error_message",
        "text",
        "YES",
        None,
        None,
    ),
    (
        "ota_device_status",
        "started_at",
        "timestamp with time zone",
        "YES",
        None,
        None,
    ),
    (
        "ota_device_status",
        "completed_at",
        "timestamp with time zone",
        "YES",
        None,
        None,
    ),
    (
        "ota_device_status",
        "created_at",
        "timestamp with time zone",
        "NO",
        Some("now()"),
        None,
    ),
    ("tenants", "tenant_id", "text", "NO", None, None),
    ("tenants", "name", "text", "NO", None, None),
    (
        "tenants",
        "status",
        "text",
        "NO",
        Some("'ACTIVE'::text"),
        None,
    ),
    (
        "tenants",
        "created_at",
        "timestamp with time zone",
        "NO",
        Some("now()"),
        None,
    ),
    // Profile columns of the platform's table that our demo data uses.
    ("tenants", "contact_email", "text", "YES", None, None),
    ("tenants", "country", "text", "YES", None, None),
    (
        "tenants",
        "data_residency_region",
        "text",
        "YES",
        None,
        None,
    ),
];

async fn columns_match_schema_md(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let rows = pg_rows(
        &conn,
        "SELECT table_name::text AS table_name, column_name::text AS column_name, \
                data_type::text AS data_type, is_nullable::text AS is_nullable, \
                column_default::text AS column_default, \
                character_maximum_length::int4 AS max_len \
         FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> 'seaql_migrations' \
         ORDER BY table_name, ordinal_position",
    )
    .await?;
    let mut actual = Vec::new();
    for row in &rows {
        actual.push((
            text(row, "table_name")?,
            text(row, "column_name")?,
            text(row, "data_type")?,
            text(row, "is_nullable")?,
            opt_text(row, "column_default")?,
            row.try_get::<Option<i32>>("", "max_len")?,
        ));
    }
    let expected: Vec<_> = EXPECTED_COLUMNS
        .iter()
        .map(|(t, c, ty, null, default, len)| {
            (
                (*t).to_owned(),
                (*c).to_owned(),
                (*ty).to_owned(),
                (*null).to_owned(),
                default.map(str::to_owned),
                *len,
            )
        })
        .collect();
    for (i, (want, got)) in expected.iter().zip(&actual).enumerate() {
        assert_eq!(got, want, "column #{i} differs from schema.md");
    }
    assert_eq!(
        actual.len(),
        expected.len(),
        "number of columns: {actual:#?}"
    );
    Ok(())
}

async fn keys_match_schema_md(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let rows = pg_rows(
        &conn,
        "SELECT tc.table_name::text AS table_name, tc.constraint_type::text AS kind, \
                tc.constraint_name::text AS name, \
                string_agg(kcu.column_name::text, ',' ORDER BY kcu.ordinal_position) AS cols \
         FROM information_schema.table_constraints tc \
         JOIN information_schema.key_column_usage kcu \
           ON kcu.constraint_schema = tc.constraint_schema \
          AND kcu.constraint_name = tc.constraint_name \
          AND kcu.table_name = tc.table_name \
         WHERE tc.table_schema = 'public' AND tc.table_name <> 'seaql_migrations' \
           AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE') \
         GROUP BY tc.table_name, tc.constraint_type, tc.constraint_name \
         ORDER BY 1, 2, 3",
    )
    .await?;
    let mut actual = Vec::new();
    for row in &rows {
        let kind = text(row, "kind")?;
        // schema.md names the unique constraints, not the primary keys.
        let name = if kind == "UNIQUE" {
            text(row, "name")?
        } else {
            String::new()
        };
        actual.push(format!(
            "{} {kind} {name} ({})",
            text(row, "table_name")?,
            text(row, "cols")?
        ));
    }
    let expected = [
        "device_registry PRIMARY KEY  (tenant_id,device_id)",
        "firmware_versions PRIMARY KEY  (id)",
        "firmware_versions UNIQUE uq_firmware_tenant_version (tenant_id,version,device_type)",
        "ota_campaigns PRIMARY KEY  (id)",
        "ota_device_status PRIMARY KEY  (id)",
        "ota_device_status UNIQUE uq_ota_device_campaign (tenant_id,campaign_id,device_id)",
        "tenants PRIMARY KEY  (tenant_id)",
    ];
    assert_eq!(actual, expected, "primary keys and unique constraints");

    // NULL device_types must stay distinct (PostgreSQL 15+ could say otherwise).
    let rows = pg_rows(
        &conn,
        "SELECT to_jsonb(i) ->> 'indnullsnotdistinct' AS nnd FROM pg_index i \
         WHERE indexrelid = 'uq_firmware_tenant_version'::regclass",
    )
    .await?;
    assert_eq!(rows.len(), 1, "uq_firmware_tenant_version has an index");
    let nulls_not_distinct = opt_text(&rows[0], "nnd")?;
    assert_ne!(
        nulls_not_distinct.as_deref(),
        Some("true"),
        "NULLS NOT DISTINCT is set"
    );
    Ok(())
}

async fn foreign_keys_match_schema_md(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let rows = pg_rows(
        &conn,
        "SELECT kcu.table_name::text AS from_table, kcu.column_name::text AS from_column, \
                ccu.table_name::text AS to_table, ccu.column_name::text AS to_column, \
                rc.delete_rule::text AS on_delete \
         FROM information_schema.referential_constraints rc \
         JOIN information_schema.key_column_usage kcu \
           ON kcu.constraint_schema = rc.constraint_schema AND kcu.constraint_name = rc.constraint_name \
         JOIN information_schema.constraint_column_usage ccu \
           ON ccu.constraint_schema = rc.constraint_schema AND ccu.constraint_name = rc.constraint_name \
         WHERE rc.constraint_schema = 'public' \
         ORDER BY 1, 2",
    )
    .await?;
    let mut actual = Vec::new();
    for row in &rows {
        actual.push(format!(
            "{}.{} -> {}.{} ON DELETE {}",
            text(row, "from_table")?,
            text(row, "from_column")?,
            text(row, "to_table")?,
            text(row, "to_column")?,
            text(row, "on_delete")?,
        ));
    }
    // Exactly these: in particular no key from ota_device_status.device_id
    // to device_registry, and none from device_registry to tenants.
    let expected = [
        "firmware_versions.tenant_id -> tenants.tenant_id ON DELETE CASCADE",
        "ota_campaigns.firmware_version_id -> firmware_versions.id ON DELETE RESTRICT",
        "ota_campaigns.tenant_id -> tenants.tenant_id ON DELETE CASCADE",
        "ota_device_status.campaign_id -> ota_campaigns.id ON DELETE CASCADE",
    ];
    assert_eq!(actual, expected, "foreign keys");
    Ok(())
}

/// The quoted literals of a constraint definition, e.g. `'linear'`.
fn literals(def: &str) -> BTreeSet<String> {
    def.split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

async fn checks_match_schema_md(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let rows = pg_rows(
        &conn,
        "SELECT c.conrelid::regclass::text AS table_name, \
                (SELECT string_agg(a.attname::text, ',') FROM pg_attribute a \
                  WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)) AS columns, \
                pg_get_constraintdef(c.oid) AS def \
         FROM pg_constraint c \
         WHERE c.contype = 'c' AND c.connamespace = 'public'::regnamespace \
         ORDER BY 1, 2",
    )
    .await?;
    let mut seen = Vec::new();
    for row in &rows {
        let (table, column, def) = (
            text(row, "table_name")?,
            text(row, "columns")?,
            text(row, "def")?,
        );
        let set = |values: &[&str]| {
            values
                .iter()
                .map(|v| (*v).to_owned())
                .collect::<BTreeSet<_>>()
        };
        match (table.as_str(), column.as_str()) {
            ("ota_campaigns", "rollout_strategy") => {
                assert_eq!(literals(&def), set(&["linear", "canary"]), "{def}");
            }
            ("ota_campaigns", "status") => assert_eq!(
                literals(&def),
                set(&["CREATED", "RUNNING", "PAUSED", "COMPLETED", "ABORTED"]),
                "{def}"
            ),
            ("ota_device_status", "status") => assert_eq!(
                literals(&def),
                set(&[
                    "PENDING",
                    "DOWNLOADING",
                    "INSTALLING",
                    "SUCCESS",
                    "FAILED",
                    "SKIPPED"
                ]),
                "{def}"
            ),
            ("ota_device_status", "progress_pct") => {
                assert!(
                    def.contains("progress_pct >= 0") && def.contains("progress_pct <= 100"),
                    "progress_pct check is {def}"
                );
            }
            other => panic!("unexpected CHECK constraint on {other:?}: {def}"),
        }
        seen.push(format!("{table}.{column}"));
    }
    assert_eq!(
        seen,
        [
            "ota_campaigns.rollout_strategy",
            "ota_campaigns.status",
            "ota_device_status.progress_pct",
            "ota_device_status.status",
        ],
        "CHECK constraints"
    );
    Ok(())
}

async fn indexes_match_schema_md(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let rows = pg_rows(
        &conn,
        "SELECT tablename::text AS table_name, indexname::text AS index_name, indexdef \
         FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'seaql_migrations' \
         ORDER BY 1, 2",
    )
    .await?;
    let mut plain = Vec::new();
    let mut pending_def = None;
    for row in &rows {
        let (table, name, def) = (
            text(row, "table_name")?,
            text(row, "index_name")?,
            text(row, "indexdef")?,
        );
        if name == "idx_ota_device_status_pending" {
            pending_def = Some(def.clone());
        }
        // Unique indexes back the keys checked in keys_match_schema_md.
        if def.starts_with("CREATE UNIQUE INDEX") {
            continue;
        }
        let shape = def
            .split_once(" USING btree ")
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_else(|| panic!("{name} is not a btree index: {def}"));
        plain.push(format!("{table} {shape}"));
    }
    plain.sort();
    let mut expected = vec![
        "firmware_versions (tenant_id)",
        "firmware_versions (tenant_id, device_type)",
        "ota_campaigns (tenant_id)",
        "ota_campaigns (tenant_id, status)",
        "ota_device_status (tenant_id, campaign_id)",
        "ota_device_status (tenant_id, device_id)",
        "ota_device_status (tenant_id, campaign_id, status) WHERE ((status)::text = 'PENDING'::text)",
    ];
    expected.sort_unstable();
    assert_eq!(plain, expected, "non-unique indexes");

    let pending_def = pending_def.expect("the partial index idx_ota_device_status_pending exists");
    let (_, predicate) = pending_def
        .split_once(" WHERE ")
        .unwrap_or_else(|| panic!("the pending index is not partial: {pending_def}"));
    assert!(
        predicate.contains("status") && predicate.contains("= 'PENDING'"),
        "partial index predicate is {predicate}"
    );
    Ok(())
}

async fn row_level_security_matches_schema_md(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let rows = pg_rows(
        &conn,
        "SELECT relname::text AS table_name, relrowsecurity::text AS rls FROM pg_class \
         WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' \
           AND relname <> 'seaql_migrations' ORDER BY 1",
    )
    .await?;
    let mut actual = Vec::new();
    for row in &rows {
        actual.push(format!(
            "{} {}",
            text(row, "table_name")?,
            text(row, "rls")?
        ));
    }
    assert_eq!(
        actual,
        [
            "device_registry false",
            "firmware_versions true",
            "ota_campaigns true",
            "ota_device_status true",
            "tenants false",
        ],
        "row level security per table"
    );

    let rows = pg_rows(
        &conn,
        "SELECT tablename::text AS table_name, policyname::text AS policy, permissive, \
                roles::text AS roles, cmd, qual, with_check \
         FROM pg_policies WHERE schemaname = 'public' ORDER BY 1, 2",
    )
    .await?;
    let isolation = "(tenant_id = current_setting('app.tenant_id'::text, true))";
    let mut tables = Vec::new();
    for row in &rows {
        let table = text(row, "table_name")?;
        assert_eq!(
            text(row, "policy")?,
            "tenant_isolation",
            "{table}: policy name"
        );
        assert_eq!(
            text(row, "permissive")?,
            "PERMISSIVE",
            "{table}: permissive"
        );
        assert_eq!(text(row, "roles")?, "{public}", "{table}: policy roles");
        assert_eq!(text(row, "cmd")?, "ALL", "{table}: policy command");
        assert_eq!(
            opt_text(row, "qual")?.as_deref(),
            Some(isolation),
            "{table}: USING"
        );
        assert_eq!(
            opt_text(row, "with_check")?.as_deref(),
            Some(isolation),
            "{table}: WITH CHECK"
        );
        tables.push(table);
    }
    assert_eq!(
        tables,
        ["firmware_versions", "ota_campaigns", "ota_device_status"],
        "tables with a tenant_isolation policy"
    );
    Ok(())
}

/// Counts rows of `table` as seen inside `txn`.
async fn pg_count(txn: &impl ConnectionTrait, table: &str) -> anyhow::Result<i64> {
    let row = txn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT count(*) AS n FROM {table}"),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("count(*) returned no row"))?;
    Ok(row.try_get::<i64>("", "n")?)
}

/// What a role that is subject to the policies sees and may write. Uses
/// `ensure!` rather than `assert!` so the caller can always drop the role.
async fn rls_behaviour(conn: &DatabaseConnection, role: &str) -> anyhow::Result<()> {
    use anyhow::ensure;
    for (tenant, versions) in [
        ("tenant-a", ["1.0.0", "1.1.0"]),
        ("tenant-b", ["2.0.0", "2.1.0"]),
    ] {
        add_tenant(conn, tenant).await?;
        for version in versions {
            let fw = add_firmware(conn, tenant, version, None).await?;
            add_campaign(conn, campaign(tenant, &format!("rollout-{version}"), fw)).await?;
        }
    }

    // With app.tenant_id set: only that tenant's rows are visible.
    let txn = conn.begin().await?;
    txn.execute_unprepared(&format!("SET LOCAL ROLE {role}"))
        .await?;
    txn.execute_unprepared("SELECT set_config('app.tenant_id', 'tenant-a', true)")
        .await?;
    let firmware = pg_count(&txn, "firmware_versions").await?;
    let campaigns = pg_count(&txn, "ota_campaigns").await?;
    let tenants_seen = pg_count(&txn, "tenants").await?;
    let updated = txn
        .execute_unprepared(
            "UPDATE ota_campaigns SET status = 'PAUSED' WHERE tenant_id = 'tenant-b'",
        )
        .await?
        .rows_affected();
    txn.rollback().await?;
    ensure!(
        firmware == 2,
        "tenant-a sees {firmware} firmware rows, expected its own 2"
    );
    ensure!(
        campaigns == 2,
        "tenant-a sees {campaigns} campaigns, expected its own 2"
    );
    ensure!(
        tenants_seen == 2,
        "tenants has no policy: all 2 rows are visible, saw {tenants_seen}"
    );
    ensure!(
        updated == 0,
        "tenant-a updated {updated} of tenant-b's campaigns"
    );

    // Writing another tenant's row is refused by WITH CHECK.
    let txn = conn.begin().await?;
    txn.execute_unprepared(&format!("SET LOCAL ROLE {role}"))
        .await?;
    txn.execute_unprepared("SELECT set_config('app.tenant_id', 'tenant-a', true)")
        .await?;
    let foreign = txn
        .execute_unprepared(
            "INSERT INTO firmware_versions (tenant_id, version, file_url) \
             VALUES ('tenant-b', '9.9.9', 'https://fw.example/9.9.9.bin')",
        )
        .await;
    txn.rollback().await?;
    match foreign {
        Ok(_) => anyhow::bail!("tenant-a inserted a firmware row for tenant-b"),
        Err(e) => ensure!(
            e.to_string().contains("row-level security"),
            "cross-tenant insert failed for another reason: {e}"
        ),
    }

    // Without app.tenant_id: nothing is visible.
    let txn = conn.begin().await?;
    txn.execute_unprepared(&format!("SET LOCAL ROLE {role}"))
        .await?;
    let firmware = pg_count(&txn, "firmware_versions").await?;
    txn.rollback().await?;
    ensure!(
        firmware == 0,
        "without app.tenant_id the role sees {firmware} firmware rows"
    );
    Ok(())
}

async fn row_level_security_isolates_tenants(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    // Roles are cluster-wide: name it after this test's own database.
    let database = db.url.rsplit('/').next().expect("database URL has a path");
    let role = format!("{database}_app");
    conn.execute_unprepared(&format!(
        "CREATE ROLE {role} NOLOGIN;
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};"
    ))
    .await?;
    let outcome = rls_behaviour(&conn, &role).await;
    conn.execute_unprepared(&format!("DROP OWNED BY {role}; DROP ROLE {role};"))
        .await?;
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_columns_match_schema_md() {
    ota_seed_tests::run_case(Backend::Postgres, columns_match_schema_md).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keys_match_schema_md() {
    ota_seed_tests::run_case(Backend::Postgres, keys_match_schema_md).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_foreign_keys_match_schema_md() {
    ota_seed_tests::run_case(Backend::Postgres, foreign_keys_match_schema_md).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_checks_match_schema_md() {
    ota_seed_tests::run_case(Backend::Postgres, checks_match_schema_md).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_indexes_match_schema_md() {
    ota_seed_tests::run_case(Backend::Postgres, indexes_match_schema_md).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_row_level_security_matches_schema_md() {
    ota_seed_tests::run_case(Backend::Postgres, row_level_security_matches_schema_md).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_row_level_security_isolates_tenants() {
    ota_seed_tests::run_case(Backend::Postgres, row_level_security_isolates_tenants).await
}
