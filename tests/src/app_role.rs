//! PostgreSQL as the platform runs it: an application role that owns
//! nothing, with the README's grants, under FORCE ROW LEVEL SECURITY. Shared
//! by `least_privilege` (the shared PostgreSQL) and `postgres18`.

use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use crate::cleanup::PgRole;
use crate::{
    DEMO_COUNTS, TestDb, assert_verified, json_summary, run_seeder, table_counts, violations,
};

/// The README's grants for the application role (`{role}`, `{database}`).
pub const GRANTS: &str = "
    GRANT CONNECT ON DATABASE {database} TO {role};
    GRANT USAGE ON SCHEMA public TO {role};
    GRANT SELECT ON seaql_migrations TO {role};
    GRANT SELECT, INSERT, UPDATE ON tenants, device_registry, firmware_versions,
          ota_campaigns, ota_device_status TO {role};
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};";

/// The `n` column of a one-row query (see [`crate::sql::number`]).
pub use crate::sql::number as count;

/// The tables the platform's tenant-isolation policies protect.
pub const POLICY_TABLES: [&str; 3] = ["firmware_versions", "ota_campaigns", "ota_device_status"];

/// Creates `role` with the README's grants, and FORCE ROW LEVEL SECURITY on
/// the protected tables, each also given `per_table` (SQL in which
/// `{table}` and `{role}` are replaced).
pub async fn create_role(
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
pub fn seed_json(db: &TestDb, url: &str, args: &[&str], code: i32) -> serde_json::Value {
    let out = run_seeder(
        &[args, &["--json"]].concat(),
        &[("DATABASE_URL", url)],
        db.dir.path(),
    );
    json_summary(&out, code)
}

pub async fn as_application_role(
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
    let app = crate::connect(&role_url).await?;
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
