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

use entity::ota_campaigns;
use entity::prelude::*;
use ota_seed_tests::app_role::{GRANTS, as_application_role, count, create_role, seed_json};
use ota_seed_tests::cleanup::PgRole;
use ota_seed_tests::{
    Backend, DEMO_COUNTS, TestDb, assert_verified, run_case, run_seeder, table_counts, violations,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, Set,
};
use seeder::{Dataset, DatasetSpec, Seeder};

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

/// A platform whose policies fail otherwise outside a tenant's scope: a
/// function of its own raises (not PostgreSQL's undefined_object, 42704).
/// Only 42704 means "none visible" to verify's unscoped count of other
/// tenants' rows; any other error of that read fails verify, so that a
/// breakdown is never short of rows because a query failed.
#[tokio::test]
async fn another_error_outside_a_tenants_scope_fails_verify() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let owner = db.migrate().await?;
        owner
            .execute_unprepared(
                "CREATE FUNCTION scoped_tenant() RETURNS text LANGUAGE plpgsql STABLE AS $$
                 BEGIN
                     IF COALESCE(current_setting('app.tenant_id', true), '') = '' THEN
                         RAISE EXCEPTION 'no tenant in scope';
                     END IF;
                     RETURN current_setting('app.tenant_id', true);
                 END $$;",
            )
            .await?;
        let role = PgRole::guard(&db, "raising");
        create_role(
            &db,
            &owner,
            &role,
            "DROP POLICY tenant_isolation ON {table};
             CREATE POLICY tenant_isolation ON {table}
                 USING (tenant_id = scoped_tenant())
                 WITH CHECK (tenant_id = scoped_tenant());",
        )
        .await?;
        // Seeded by the owner; the role's reads in a tenant's scope work.
        assert_verified(&db.seeder_json(&[], 0), DEMO_COUNTS);
        let out = run_seeder(
            &["verify", "--tenant", "tenant-a"],
            &[("DATABASE_URL", &role.url(&db))],
            db.dir.path(),
        );
        let line = ota_seed_tests::assert_clean_error(&out);
        assert!(line.contains("no tenant in scope"), "{line}");
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

/// Issue 22: several tenants as the application role. The policies show
/// the role one tenant per transaction, so verify checks each tenant in its
/// own scope: every tenant's rows are counted, and the broken counters of
/// the first and the last tenant are named, as the owner (who sees every
/// tenant at once) finds them.
#[tokio::test]
async fn the_application_role_verifies_several_tenants_each_in_its_scope() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let owner = db.migrate().await?;
        let fleet = Dataset::fleet(&DatasetSpec {
            tenants: 6,
            sites_per_tenant: 1,
            devices_per_site: 2,
            campaigns_per_tenant: 1,
            ..DatasetSpec::default()
        });
        Seeder::new(&fleet).run(&owner).await?;
        let role = PgRole::guard(&db, "app");
        create_role(&db, &owner, &role, "").await?;
        let ids = fleet.tenant_ids();
        let mut expected = Vec::new();
        for tenant in [ids[0], ids[5]] {
            let c = OtaCampaigns::find()
                .filter(ota_campaigns::Column::TenantId.eq(tenant))
                .one(&owner)
                .await?
                .expect("the tenant's campaign");
            let mut broken = c.clone().into_active_model();
            broken.succeeded = Set(c.succeeded + 1);
            broken.update(&owner).await?;
            expected.push(format!(
                "invariant 1: ota_campaigns id={} ({tenant}, {:?}): counters say {} total / {} \
                 succeeded / {} failed, its status rows say {} / {} / {}",
                c.id,
                c.name,
                c.total_devices,
                c.succeeded + 1,
                c.failed,
                c.total_devices,
                c.succeeded,
                c.failed
            ));
        }
        let app = ota_seed_tests::connect(&role.url(&db)).await?;
        let as_role = Seeder::new(&fleet).verify(&app).await?;
        app.close().await?;
        let shown: Vec<String> = as_role.violations.iter().map(ToString::to_string).collect();
        assert_eq!(shown, expected, "{as_role:#?}");
        assert_eq!(
            as_role.counts,
            [
                ("tenants", 6),
                ("device_registry", 12),
                (
                    "firmware_versions",
                    count(&owner, "SELECT COUNT(*) AS n FROM firmware_versions").await?
                ),
                ("ota_campaigns", 6),
                ("ota_device_status", 12),
            ]
        );
        assert_eq!(as_role, Seeder::new(&fleet).verify(&owner).await?);
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
