//! PostgreSQL as the platform runs it: the seeder connects as an
//! application role that owns nothing and is subject to the
//! tenant-isolation policies, with FORCE ROW LEVEL SECURITY on. It seeds
//! and verifies each tenant inside a transaction scoped to that tenant, and
//! cannot write one tenant's rows while scoped to another.
//!
//! The grants are exactly those the README documents.

use ota_seed_tests::{Backend, TestDb, assert_ok, describe, run_case, run_seeder};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, TransactionTrait};

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

async fn as_application_role(
    db: &TestDb,
    owner: &DatabaseConnection,
    role: &str,
) -> anyhow::Result<()> {
    let role_url = db
        .url
        .replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
    let seed = |args: &[&str]| run_seeder(args, &[("DATABASE_URL", &role_url)], db.dir.path());

    // Seeding as the role: every row lands, under its own tenant.
    let out = seed(&[]);
    let text = assert_ok(&out);
    assert!(text.contains("ota_device_status  inserted 30"), "{text}");
    assert!(text.contains("invariants: all 6 hold"), "{text}");
    // The closing verification saw the rows (it does not pass vacuously).
    assert!(text.contains("ota_device_status        30"), "{text}");
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
    // A rerun as the role finds everything in place.
    let text = assert_ok(&seed(&[]));
    assert!(
        text.contains("nothing to do: every row was already present"),
        "{text}"
    );

    // verify as the role sees each tenant: a broken counter of tenant-b's
    // campaign is found.
    owner
        .execute_unprepared("UPDATE ota_campaigns SET succeeded = 13 WHERE tenant_id = 'tenant-b'")
        .await?;
    let out = seed(&["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "counters say 15 total / 13 succeeded / 1 failed, its status rows say 15 / 14 / 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("(tenant-b, \"Fleet Update to v1.1.0\")"),
        "{text}"
    );

    // The role, scoped to tenant-a, can neither write nor change tenant-b's
    // rows.
    let app = Database::connect(&role_url).await?;
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

/// Roles belong to the cluster, not the test's database: each test drops
/// its own, from the server's maintenance database.
async fn drop_role(db: &TestDb, database: &str, role: &str) -> anyhow::Result<()> {
    let admin = Database::connect(db.url.replacen(database, "postgres", 1)).await?;
    admin
        .execute_unprepared(&format!("DROP ROLE {role}"))
        .await?;
    admin.close().await?;
    Ok(())
}

#[tokio::test]
async fn seeds_and_verifies_as_a_non_owner_role_under_forced_row_level_security() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let owner = db.migrate().await?;
        let database = db.url.rsplit('/').next().unwrap_or_default().to_owned();
        let role = format!("{database}_app");
        owner
            .execute_unprepared(&format!(
                "CREATE ROLE {role} LOGIN;
                 ALTER TABLE firmware_versions FORCE ROW LEVEL SECURITY;
                 ALTER TABLE ota_campaigns FORCE ROW LEVEL SECURITY;
                 ALTER TABLE ota_device_status FORCE ROW LEVEL SECURITY;
                 {}",
                GRANTS
                    .replace("{role}", &role)
                    .replace("{database}", &database)
            ))
            .await?;
        let outcome = as_application_role(&db, &owner, &role).await;
        // What the role was granted in this database goes first.
        owner
            .execute_unprepared(&format!(
                "DROP OWNED BY {role}; REVOKE CONNECT ON DATABASE {database} FROM {role};"
            ))
            .await?;
        owner.close().await?;
        drop_role(&db, &database, &role).await?;
        outcome
    })
    .await;
}

#[tokio::test]
async fn a_role_without_the_grants_gets_a_clear_error() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let owner = db.migrate().await?;
        let database = db.url.rsplit('/').next().unwrap_or_default().to_owned();
        let role = format!("{database}_bare");
        owner
            .execute_unprepared(&format!("CREATE ROLE {role} LOGIN"))
            .await?;
        let role_url = db
            .url
            .replacen("postgres://postgres@", &format!("postgres://{role}@"), 1);
        let out = run_seeder(&[], &[("DATABASE_URL", &role_url)], db.dir.path());
        let line = ota_seed_tests::assert_clean_error(&out);
        owner.close().await?;
        drop_role(&db, &database, &role).await?;
        assert!(line.contains("permission denied"), "{line}");
        assert!(line.contains("README"), "{line}");
        Ok(())
    })
    .await;
}
