//! PostgreSQL as the platform runs it: the seeder connects as an
//! application role that owns nothing and is subject to the
//! tenant-isolation policies, with FORCE ROW LEVEL SECURITY on. It seeds
//! and verifies each tenant inside a transaction scoped to that tenant, and
//! cannot write one tenant's rows while scoped to another.
//!
//! The grants are exactly those the README documents.

#[path = "../../entity/examples/campaign_report.rs"]
#[allow(dead_code)]
mod campaign_report;

use entity::prelude::*;
use ota_seed_tests::cleanup::PgRole;
use ota_seed_tests::{
    Backend, DEMO_COUNTS, TestDb, assert_verified, json_summary, run_case, run_seeder,
    table_counts, violations,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, TransactionTrait};

/// The README's grants for the application role (`{role}`, `{database}`).
const GRANTS: &str = "
    GRANT CONNECT ON DATABASE {database} TO {role};
    GRANT USAGE ON SCHEMA public TO {role};
    GRANT SELECT ON seaql_migrations TO {role};
    GRANT SELECT, INSERT, UPDATE ON tenants, device_registry, firmware_versions,
          ota_campaigns, ota_device_status TO {role};
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};";

async fn count(conn: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            sql,
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get("", "n")?)
}

/// The tables the platform's tenant-isolation policies protect.
const POLICY_TABLES: [&str; 3] = ["firmware_versions", "ota_campaigns", "ota_device_status"];

/// Creates `role` with the README's grants, and FORCE ROW LEVEL SECURITY on
/// the protected tables, each also given `per_table` (SQL in which
/// `{table}` and `{role}` are replaced).
async fn create_role(
    db: &TestDb,
    owner: &DatabaseConnection,
    role: &PgRole,
    per_table: &str,
) -> anyhow::Result<()> {
    let mut sql = format!("CREATE ROLE {} LOGIN;", role.name);
    for table in POLICY_TABLES {
        sql.push_str(&format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY;"));
        sql.push_str(
            &per_table
                .replace("{table}", table)
                .replace("{role}", &role.name),
        );
    }
    sql.push_str(
        &GRANTS
            .replace("{role}", &role.name)
            .replace("{database}", db.name()),
    );
    owner.execute_unprepared(&sql).await?;
    Ok(())
}

/// The JSON summary of the seeder run with `args` against `url`, which
/// must exit with `code`.
fn seed_json(db: &TestDb, url: &str, args: &[&str], code: i32) -> serde_json::Value {
    let out = run_seeder(
        &[args, &["--json"]].concat(),
        &[("DATABASE_URL", url)],
        db.dir.path(),
    );
    json_summary(&out, code)
}

async fn as_application_role(
    db: &TestDb,
    owner: &DatabaseConnection,
    role: &PgRole,
) -> anyhow::Result<()> {
    let role_url = role.url(db);
    let seed = |args: &[&str], code: i32| seed_json(db, &role_url, args, code);

    // Seeding as the role: every row lands, under its own tenant.
    let summary = seed(&[], 0);
    assert_eq!(table_counts(&summary, "ota_device_status"), (30, 0, 0));
    // The closing verification saw the rows (it does not pass vacuously).
    assert_verified(&summary, DEMO_COUNTS);
    for (table, n) in [
        ("tenants", 2),
        ("device_registry", 30),
        ("firmware_versions", 4),
        ("ota_campaigns", 2),
        ("ota_device_status", 30),
    ] {
        assert_eq!(
            count(owner, &format!("SELECT COUNT(*) AS n FROM {table}")).await?,
            n,
            "{table}"
        );
    }
    assert_eq!(
        count(
            owner,
            "SELECT COUNT(*) AS n FROM ota_device_status s JOIN ota_campaigns c ON c.id = s.campaign_id \
             WHERE s.tenant_id <> c.tenant_id"
        )
        .await?,
        0
    );
    // Under row level security the status rows travel through a staging
    // table (COPY is refused on a table with policies); each row still
    // takes exactly one id.
    assert_eq!(
        count(
            owner,
            "SELECT last_value AS n FROM ota_device_status_id_seq"
        )
        .await?,
        30
    );
    // A rerun as the role finds everything in place.
    let summary = seed(&[], 0);
    assert_eq!(summary["rows_inserted"], 0, "{summary:#}");
    assert_eq!(table_counts(&summary, "ota_device_status"), (0, 30, 0));

    // verify as the role sees each tenant: a broken counter of tenant-b's
    // campaign is found, and nothing else.
    owner
        .execute_unprepared("UPDATE ota_campaigns SET succeeded = 13 WHERE tenant_id = 'tenant-b'")
        .await?;
    let b_id = count(
        owner,
        "SELECT id::int8 AS n FROM ota_campaigns WHERE tenant_id = 'tenant-b'",
    )
    .await?;
    assert_eq!(
        violations(&seed(&["verify"], 1)),
        [format!(
            "invariant 1: ota_campaigns id={b_id} (tenant-b, \"Fleet Update to v1.1.0\"): \
             counters say 15 total / 13 succeeded / 1 failed, its status rows say 15 / 14 / 1"
        )]
    );

    // The role, scoped to tenant-a, can neither write nor change tenant-b's
    // rows.
    let app = ota_seed_tests::connect(&role_url).await?;
    let txn = app.begin().await?;
    txn.execute_unprepared("SELECT set_config('app.tenant_id', 'tenant-a', true)")
        .await?;
    let refused = txn
        .execute_unprepared(
            "INSERT INTO firmware_versions (tenant_id, version, file_url, device_type) \
             VALUES ('tenant-b', '9.9.9', 'https://x.example/fw.bin', 'sensor')",
        )
        .await
        .expect_err("writing tenant-b's firmware while scoped to tenant-a");
    assert!(
        refused.to_string().contains("row-level security"),
        "{refused}"
    );
    txn.rollback().await?;
    let txn = app.begin().await?;
    txn.execute_unprepared("SELECT set_config('app.tenant_id', 'tenant-a', true)")
        .await?;
    let changed = txn
        .execute_unprepared("UPDATE ota_campaigns SET failed = 99 WHERE tenant_id = 'tenant-b'")
        .await?;
    assert_eq!(
        changed.rows_affected(),
        0,
        "tenant-b's campaign is invisible"
    );
    txn.commit().await?;
    app.close().await?;
    Ok(())
}

#[tokio::test]
async fn seeds_and_verifies_as_a_non_owner_role_under_forced_row_level_security() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let owner = db.migrate().await?;
        // Roles belong to the cluster: the guard drops it (and what it was
        // granted) however the test ends.
        let role = PgRole::guard(&db, "app");
        create_role(&db, &owner, &role, "").await?;
        as_application_role(&db, &owner, &role).await?;
        owner.close().await?;
        Ok(())
    })
    .await;
}

/// A platform whose policies read `app.tenant_id` without `missing_ok`:
/// outside a tenant's scope, reading a table it protects is an error. Every
/// read of seeding and verifying happens inside a tenant's scope, except
/// verify's count of other tenants' rows, where that error means the role
/// sees none.
#[tokio::test]
async fn policies_that_require_the_tenant_setting_are_only_read_in_a_tenants_scope() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let owner = db.migrate().await?;
        let role = PgRole::guard(&db, "strict");
        create_role(
            &db,
            &owner,
            &role,
            "DROP POLICY tenant_isolation ON {table};
             CREATE POLICY tenant_isolation ON {table}
                 USING (tenant_id = current_setting('app.tenant_id'))
                 WITH CHECK (tenant_id = current_setting('app.tenant_id'));",
        )
        .await?;
        // The policies are as strict as described: unscoped, a read fails.
        let app = ota_seed_tests::connect(&role.url(&db)).await?;
        let unscoped = app
            .execute_unprepared("SELECT COUNT(*) FROM ota_device_status")
            .await
            .expect_err("an unscoped read under a strict policy");
        assert!(unscoped.to_string().contains("app.tenant_id"), "{unscoped}");
        app.close().await?;

        let role_url = role.url(&db);
        let run = |args: &[&str], code: i32| seed_json(&db, &role_url, args, code);
        let summary = run(&[], 0);
        assert_eq!(table_counts(&summary, "ota_device_status"), (30, 0, 0));
        assert_verified(&summary, DEMO_COUNTS);
        let summary = run(&["verify"], 0);
        assert_eq!(violations(&summary), Vec::<String>::new());
        assert_eq!(
            count(&owner, "SELECT COUNT(*) AS n FROM ota_device_status").await?,
            30
        );
        owner.close().await?;
        Ok(())
    })
    .await;
}

/// A support role whose policy lets it see every tenant's rows: verify
/// finds what the owner finds, a status row moved into another tenant's
/// campaign included (it counts in that campaign's breakdown).
#[tokio::test]
async fn a_role_that_sees_every_tenant_verifies_as_the_owner_does() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let owner = db.migrate().await?;
        let role = PgRole::guard(&db, "support");
        create_role(
            &db,
            &owner,
            &role,
            "CREATE POLICY support_reads_all ON {table} FOR SELECT TO {role} USING (true);",
        )
        .await?;
        let run = |url: &str, args: &[&str], code: i32| seed_json(&db, url, args, code);
        let role_url = role.url(&db);
        assert_verified(&run(&role_url, &[], 0), DEMO_COUNTS);
        // One of tenant-a's status rows moved into tenant-b's campaign.
        owner
            .execute_unprepared(
                "UPDATE ota_device_status SET campaign_id = \
                   (SELECT id FROM ota_campaigns WHERE tenant_id = 'tenant-b') \
                 WHERE id = (SELECT MAX(id) FROM ota_device_status WHERE tenant_id = 'tenant-a')",
            )
            .await?;
        let as_owner = violations(&run(&db.url, &["verify"], 1));
        let as_role = violations(&run(&role_url, &["verify"], 1));
        assert_eq!(as_role, as_owner);
        assert!(
            as_role.iter().any(|v| v.starts_with("invariant 1: ")
                && v.contains("(tenant-b, ")
                && v.contains("its status rows say 16 / ")),
            "tenant-b's campaign counts the moved row: {as_role:#?}"
        );
        owner.close().await?;
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn a_role_without_the_grants_gets_a_clear_error() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let owner = db.migrate().await?;
        let role = PgRole::guard(&db, "bare");
        owner
            .execute_unprepared(&format!("CREATE ROLE {} LOGIN", role.name))
            .await?;
        owner.close().await?;
        let out = run_seeder(&[], &[("DATABASE_URL", &role.url(&db))], db.dir.path());
        let line = ota_seed_tests::assert_clean_error(&out);
        assert!(line.contains("permission denied"), "{line}");
        assert!(line.contains("README"), "{line}");
        Ok(())
    })
    .await;
}

/// Issue 14: application code reusing `entity` as the platform's
/// application role. Unscoped, row level security hides every campaign
/// (no error); the shipped example scopes its transaction with
/// `entity::tenant_scope` and reads the tenant's campaign, firmware,
/// statuses and devices, and nothing of the other tenant.
#[tokio::test]
async fn the_entity_example_reads_a_tenants_campaign_as_the_application_role() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let owner = db.migrate().await?;
        db.seeder_json(&[], 0);
        let database = db.name().to_owned();
        let role = PgRole::guard(&db, "reader");
        owner
            .execute_unprepared(&format!(
                "CREATE ROLE {role} LOGIN; {}",
                GRANTS
                    .replace("{role}", &role.name)
                    .replace("{database}", &database),
                role = role.name,
            ))
            .await?;
        owner.close().await?;

        let app = ota_seed_tests::connect(&role.url(&db)).await?;
        assert_eq!(
            OtaCampaigns::find().count(&app).await?,
            0,
            "unscoped, the role sees no campaign"
        );
        for (tenant, other) in [("tenant-a", "tenant-b"), ("tenant-b", "tenant-a")] {
            let report =
                campaign_report::load_campaign_report(&app, tenant, "Fleet Update to v1.1.0")
                    .await?
                    .unwrap_or_else(|| panic!("{tenant}'s campaign is readable"));
            assert_eq!(report.campaign.tenant_id, tenant);
            assert_eq!(report.firmware.id, report.campaign.firmware_version_id);
            assert_eq!(report.firmware.tenant_id, tenant);
            assert_eq!(report.devices.len(), 15, "{tenant}: one status per device");
            for (status, device) in &report.devices {
                assert_eq!(status.tenant_id, tenant);
                let device = device
                    .as_ref()
                    .unwrap_or_else(|| panic!("{tenant}: {} is registered", status.device_id));
                assert_eq!(device.tenant_id, tenant);
            }
            // The scope ends with the example's transaction.
            let txn = entity::tenant_scope::begin_for_tenant(&app, tenant).await?;
            let tenants: Vec<String> = OtaCampaigns::find()
                .all(&txn)
                .await?
                .into_iter()
                .map(|c| c.tenant_id)
                .collect();
            txn.commit().await?;
            assert_eq!(tenants, [tenant], "scoped to {tenant}, nothing of {other}");
        }
        assert_eq!(OtaCampaigns::find().count(&app).await?, 0);
        app.close().await?;
        Ok(())
    })
    .await;
}
