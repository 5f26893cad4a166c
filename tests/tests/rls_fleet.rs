//! Many small tenants under row level security (issue 22): the platform's
//! own schema, whose policies are enabled but not FORCEd (they bind the
//! application role, which owns nothing, not the owner), and the
//! least-privilege application role seeding with `--jobs 2`. Batching many
//! tenants into one transaction must still write each tenant's rows in its
//! own scope: as the owner sees it afterwards, every tenant is complete,
//! verify passes, and a rerun inserts nothing.

#[path = "support/tenant_state.rs"]
#[allow(dead_code)]
mod tenant_state;

use ota_seed_tests::app_role::seed_json;
use ota_seed_tests::cleanup::PgRole;
use ota_seed_tests::{
    Backend, TestDb, assert_verified, platform_schema, run_case, table_counts, violations,
};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tenant_state::{FleetState, complete, tenant_ids};

/// 300 tenants of one site of 4 devices, one campaign each.
const FLEET: [&str; 6] = [
    "--tenants",
    "300",
    "--sites-per-tenant",
    "1",
    "--devices-per-site",
    "4",
];
const TENANTS: usize = 300;
const DEVICES_PER_TENANT: i64 = 4;

/// The README's grants for the application role, without
/// `seaql_migrations` (the platform's schema has none).
const GRANTS: &str = "
    GRANT CONNECT ON DATABASE {database} TO {role};
    GRANT USAGE ON SCHEMA public TO {role};
    GRANT SELECT, INSERT, UPDATE ON tenants, device_registry, firmware_versions,
          ota_campaigns, ota_device_status TO {role};
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};";

/// The tables the fixture's tenant-isolation policies protect.
const POLICY_TABLES: [&str; 3] = ["firmware_versions", "ota_campaigns", "ota_device_status"];

/// Loads the platform's schema, runs `policies` (SQL per protected table,
/// `{table}` replaced) and creates the application role with its grants.
async fn platform_with_role(
    db: &TestDb,
    owner: &DatabaseConnection,
    suffix: &str,
    policies: &str,
) -> anyhow::Result<PgRole> {
    platform_schema::load(db).await?;
    let role = PgRole::guard(db, suffix);
    let mut sql = format!("CREATE ROLE {} LOGIN;", role.name);
    for table in POLICY_TABLES {
        sql.push_str(&policies.replace("{table}", table));
    }
    sql.push_str(
        &GRANTS
            .replace("{role}", &role.name)
            .replace("{database}", db.name()),
    );
    owner.execute_unprepared(&sql).await?;
    // FORCE-free: the owner is not bound by the policies, the role is.
    let forced = ota_seed_tests::sql::number(
        owner,
        "SELECT COUNT(*) AS n FROM pg_class WHERE relforcerowsecurity \
         AND relname IN ('firmware_versions', 'ota_campaigns', 'ota_device_status')",
    )
    .await?;
    anyhow::ensure!(forced == 0, "{forced} tables FORCE row level security");
    Ok(role)
}

/// Seeds the fleet as `role` with two jobs, then checks as the owner.
async fn seed_the_fleet_as(
    db: &TestDb,
    owner: &DatabaseConnection,
    role: &PgRole,
) -> anyhow::Result<()> {
    let role_url = role.url(db);
    let tenants = TENANTS as i64;
    let devices = tenants * DEVICES_PER_TENANT;
    let counts = [tenants, devices, 2 * tenants, tenants, devices];

    let summary = seed_json(db, &role_url, &[&FLEET[..], &["--jobs", "2"]].concat(), 0);
    assert_eq!(summary["schema"], "unmanaged", "{summary:#}");
    for (table, n) in platform_schema::TABLES.iter().zip(counts) {
        // Inserted and present (a campaign's counters are recomputed once
        // its status rows are in: "updated" is not asserted here).
        let (inserted, present, _) = table_counts(&summary, table);
        assert_eq!((inserted, present), (n as u64, 0), "{table}: {summary:#}");
    }
    // The role's own verification saw every row.
    assert_verified(&summary, counts);

    // As the owner, who sees every tenant: each is whole, counters right.
    let whole = FleetState::read(owner)
        .await?
        .complete_tenants(&tenant_ids(TENANTS), complete(DEVICES_PER_TENANT))?;
    assert_eq!(whole.len(), TENANTS, "complete tenants: {whole:?}");
    // Status rows in a campaign of their own tenant only.
    assert_eq!(
        ota_seed_tests::sql::number(
            owner,
            "SELECT COUNT(*) AS n FROM ota_device_status s \
             JOIN ota_campaigns c ON c.id = s.campaign_id WHERE s.tenant_id <> c.tenant_id"
        )
        .await?,
        0
    );
    let summary = db.seeder_json(&[&FLEET[..], &["verify"]].concat(), 0);
    assert_eq!(violations(&summary), Vec::<String>::new(), "{summary:#}");

    // A rerun as the role finds everything.
    let summary = seed_json(db, &role_url, &[&FLEET[..], &["--jobs", "2"]].concat(), 0);
    assert_eq!(summary["rows_inserted"], 0, "{summary:#}");
    assert_eq!(
        table_counts(&summary, "ota_device_status"),
        (0, devices as u64, 0),
        "{summary:#}"
    );
    Ok(())
}

/// The fixture's policies as they are: `current_setting('app.tenant_id',
/// true)`, so an unscoped read sees nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tenants_as_the_application_role() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let owner = db.connect().await?;
        let role = platform_with_role(&db, &owner, "fleet", "").await?;
        seed_the_fleet_as(&db, &owner, &role).await?;
        owner.close().await?;
        Ok(())
    })
    .await;
}

/// Policies that read `app.tenant_id` without `missing_ok` (as
/// least_privilege.rs's strict case): outside a tenant's scope a read of a
/// protected table is an error, so every statement of a batch that touches
/// them must run in the scope of the tenant whose rows it writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tenants_under_strict_policies() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let owner = db.connect().await?;
        let role = platform_with_role(
            &db,
            &owner,
            "strict",
            "DROP POLICY tenant_isolation ON {table};
             CREATE POLICY tenant_isolation ON {table}
                 USING (tenant_id = current_setting('app.tenant_id'))
                 WITH CHECK (tenant_id = current_setting('app.tenant_id'));",
        )
        .await?;
        // As strict as described: unscoped, the role's read fails.
        let app = ota_seed_tests::connect(&role.url(&db)).await?;
        let unscoped = app
            .execute_unprepared("SELECT COUNT(*) FROM ota_campaigns")
            .await
            .expect_err("an unscoped read under a strict policy");
        assert!(unscoped.to_string().contains("app.tenant_id"), "{unscoped}");
        app.close().await?;
        seed_the_fleet_as(&db, &owner, &role).await?;
        owner.close().await?;
        Ok(())
    })
    .await;
}
