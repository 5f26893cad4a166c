//! The databases users actually have (issue 9): the platform's own schema
//! made by plain SQL, a search_path that is not `public`, PgBouncer in
//! transaction pooling, server-side timeouts, read-only defaults and a
//! lagging id sequence. Every case runs the real seeder binary against a
//! real server and checks exit codes, messages and what is in the tables.
//!
//! The fixtures are `tests/fixtures/platform_schema.*.sql`; PgBouncer is
//! started per test by `ota_seed_tests::pgbouncer`.

use std::process::Output;
use std::time::{Duration, Instant};

use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status, tenants};
use ota_seed_tests::cleanup::{MySqlUser, PgRole};
use ota_seed_tests::gate::seeders_at_once;
use ota_seed_tests::held::HOLD_TENANT_A;
use ota_seed_tests::pgbouncer::{self, Options, PgBouncer, PoolMode};
use ota_seed_tests::platform_schema::{self, TABLES, edit_table, table_names};
use ota_seed_tests::seeded::{
    assert_demo_dataset, assert_dry_run_finds_everything, assert_extra_columns_defaulted,
    assert_fresh_seed, assert_refused, assert_rerun_inserts_nothing, assert_verifies, counts,
    inserted, json, number, platform_schema_is_seeded_as_it_is, present, rows,
};
use ota_seed_tests::{
    Backend, DEMO_COUNTS, SEEDER_LIMIT, TestDb, assert_clean_error, assert_ok, assert_verified,
    backend_tests, describe, run_case, run_seeder,
};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, Set, TransactionTrait,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn db_name(db: &TestDb) -> String {
    db.name().to_owned()
}

/// Runs the seeder on `url` in the test's scratch directory.
fn seeder_at(db: &TestDb, url: &str, args: &[&str]) -> Output {
    run_seeder(args, &[("DATABASE_URL", url)], db.dir.path())
}

// ---------------------------------------------------------------------------
// The harness itself (passes whatever the seeder does)
// ---------------------------------------------------------------------------

/// The fixture loads, creates exactly the five tables (no migration table),
/// and the entity crate can write and read every table of it: the extra
/// columns take their defaults.
async fn platform_fixture_loads_and_fits_the_entity_crate(db: TestDb) -> anyhow::Result<()> {
    platform_schema::load(&db).await?;
    let conn = db.connect().await?;
    let mut want: Vec<String> = TABLES
        .iter()
        .map(|t| match db.backend {
            Backend::Postgres => format!("public.{t}"),
            _ => (*t).to_owned(),
        })
        .collect();
    want.sort();
    assert_eq!(table_names(&conn).await?, want);

    let now = chrono::Utc::now().fixed_offset();
    tenants::ActiveModel {
        tenant_id: Set("tenant-a".into()),
        name: Set("Tenant A".into()),
        ..Default::default()
    }
    .insert(&conn)
    .await?;
    device_registry::ActiveModel {
        tenant_id: Set("tenant-a".into()),
        device_id: Set("dev-1".into()),
        site_id: Set("site-1".into()),
        metadata: Set(serde_json::json!({"model": "BME280"})),
        ..Default::default()
    }
    .insert(&conn)
    .await?;
    let firmware = firmware_versions::ActiveModel {
        tenant_id: Set("tenant-a".into()),
        version: Set("1.1.0".into()),
        file_url: Set("https://fw.example/1.1.0.bin".into()),
        file_size_bytes: Set(Some(5_000_000_000)),
        device_type: Set(Some("sensor".into())),
        ..Default::default()
    }
    .insert(&conn)
    .await?;
    let campaign = ota_campaigns::ActiveModel {
        tenant_id: Set("tenant-a".into()),
        name: Set("Fleet Update to v1.1.0".into()),
        firmware_version_id: Set(firmware.id),
        target_group_id: Set("all".into()),
        started_at: Set(Some(now)),
        ..Default::default()
    }
    .insert(&conn)
    .await?;
    ota_device_status::ActiveModel {
        tenant_id: Set("tenant-a".into()),
        campaign_id: Set(campaign.id),
        device_id: Set("dev-1".into()),
        status: Set("SUCCESS".into()),
        progress_pct: Set(100),
        ..Default::default()
    }
    .insert(&conn)
    .await?;

    // Everything reads back through the entities.
    assert_eq!(tenants::Entity::find().all(&conn).await?.len(), 1);
    let devices = device_registry::Entity::find().all(&conn).await?;
    assert_eq!(devices[0].metadata["model"], "BME280");
    let fw = firmware_versions::Entity::find().all(&conn).await?;
    assert_eq!(fw[0].file_size_bytes, Some(5_000_000_000));
    let campaigns = ota_campaigns::Entity::find().all(&conn).await?;
    assert_eq!(
        (
            campaigns[0].status.as_str(),
            campaigns[0].rollout_strategy.as_str(),
            campaigns[0].rollout_rate
        ),
        ("CREATED", "linear", 10)
    );
    let statuses = ota_device_status::Entity::find().all(&conn).await?;
    assert_eq!(statuses[0].campaign_id, campaign.id);

    // The platform's extra columns were filled by their defaults.
    assert_eq!(
        number(
            &conn,
            "SELECT COUNT(*) AS n FROM tenants WHERE support_tier = 'standard' AND legal_name IS NULL"
        )
        .await?,
        1
    );
    assert_eq!(
        number(
            &conn,
            "SELECT COUNT(*) AS n FROM ota_device_status WHERE retry_count = 0"
        )
        .await?,
        1
    );
    // The unique keys are there: a second status row for the same device
    // and campaign is refused.
    let duplicate = ota_device_status::ActiveModel {
        tenant_id: Set("tenant-a".into()),
        campaign_id: Set(campaign.id),
        device_id: Set("dev-1".into()),
        ..Default::default()
    }
    .insert(&conn)
    .await;
    assert!(duplicate.is_err(), "uq_ota_device_campaign holds");
    Ok(())
}

/// On PostgreSQL the fixture's constraints, policies and partial index are
/// the platform's, and it can be loaded into a schema of its own.
#[tokio::test]
async fn postgres_fixture_matches_the_platform_and_loads_into_a_schema() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        platform_schema::load(&db).await?;
        platform_schema::load_into_schema(&db, "ota").await?;
        let conn = db.connect().await?;
        let names = table_names(&conn).await?;
        for t in TABLES {
            assert!(names.contains(&format!("public.{t}")), "{names:?}");
            assert!(names.contains(&format!("ota.{t}")), "{names:?}");
        }
        assert_eq!(names.len(), 10, "{names:?}");
        for schema in ["public", "ota"] {
            let constraints = rows(
                &conn,
                &format!(
                    "SELECT c.conname::text AS name, c.contype::text AS kind, \
                            COALESCE(c.confdeltype::text, '') AS on_delete \
                     FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
                     WHERE n.nspname = '{schema}' ORDER BY 1"
                ),
            )
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<String>("", "name")?,
                    r.try_get::<String>("", "kind")?,
                    r.try_get::<String>("", "on_delete")?,
                ))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
            for want in [
                ("uq_firmware_tenant_version", "u", " "),
                ("uq_ota_device_campaign", "u", " "),
                ("firmware_versions_tenant_id_fkey", "f", "c"),
                ("ota_campaigns_tenant_id_fkey", "f", "c"),
                ("ota_campaigns_firmware_version_id_fkey", "f", "r"),
                ("ota_device_status_campaign_id_fkey", "f", "c"),
                ("ota_campaigns_status_check", "c", " "),
                ("ota_campaigns_rollout_strategy_check", "c", " "),
                ("ota_device_status_status_check", "c", " "),
                ("ota_device_status_progress_pct_check", "c", " "),
            ] {
                assert!(
                    constraints
                        .iter()
                        .any(|(n, k, d)| (n.as_str(), k.as_str(), d.as_str()) == want),
                    "{schema}: {want:?} in {constraints:?}"
                );
            }
            assert_eq!(
                number(
                    &conn,
                    &format!(
                        "SELECT COUNT(*) AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                         JOIN pg_policy p ON p.polrelid = c.oid AND p.polname = 'tenant_isolation' \
                         WHERE n.nspname = '{schema}' AND c.relrowsecurity"
                    )
                )
                .await?,
                3,
                "{schema}: RLS with tenant_isolation on the three OTA tables"
            );
            let partial: String = rows(
                &conn,
                &format!(
                    "SELECT pg_get_indexdef(i.indexrelid) AS def FROM pg_index i \
                     JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = '{schema}' AND c.relname = 'idx_ota_device_status_pending'"
                ),
            )
            .await?
            .first()
            .ok_or_else(|| anyhow::anyhow!("no pending index in {schema}"))?
            .try_get("", "def")?;
            assert!(partial.contains("WHERE"), "{partial}");
        }
        Ok(())
    })
    .await;
}

/// PgBouncer starts on a free port, pools in the mode asked for, shares
/// server connections between clients, and is gone after drop.
#[tokio::test]
async fn pgbouncer_harness_pools_and_cleans_up() {
    if !pgbouncer::available() {
        return;
    }
    run_case(Backend::Postgres, |db: TestDb| async move {
        use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
        use sea_orm::sqlx::{Connection as _, Row as _};

        let name = db_name(&db);
        let bouncer = PgBouncer::start(
            PoolMode::Transaction,
            Options {
                ignore_extra_float_digits: false,
                default_pool_size: 1,
                extra_users: Vec::new(),
            },
        )?;
        let url = bouncer.url_for(&db);
        assert_eq!(url, bouncer.url(&name));
        let options: PgConnectOptions = url.parse()?;
        // Without ignore_startup_parameters, a client that sends
        // extra_float_digits (sqlx does by default) is turned away...
        let refused = PgConnection::connect_with(&options).await.err();
        assert!(
            refused
                .as_ref()
                .is_some_and(|e| e.to_string().contains("extra_float_digits")),
            "{refused:?}\n{}",
            bouncer.log()
        );
        // ...and one that does not is let in. Two clients at once share the
        // single server connection: transaction pooling.
        let options = options.extra_float_digits(None);
        let mut first = PgConnection::connect_with(&options).await?;
        let mut second = PgConnection::connect_with(&options).await?;
        let mut pids = Vec::new();
        for which in [0, 1, 0] {
            let conn = if which == 0 { &mut first } else { &mut second };
            let row = sea_orm::sqlx::raw_sql(
                "SELECT pg_backend_pid()::int8 AS pid, current_database()::text AS db",
            )
            .fetch_one(&mut *conn)
            .await?;
            assert_eq!(row.try_get::<String, _>("db")?, name);
            pids.push(row.try_get::<i64, _>("pid")?);
        }
        assert!(pids.iter().all(|p| *p == pids[0]), "{pids:?}");
        first.close().await?;
        second.close().await?;

        let dir = bouncer.dir().to_owned();
        let port = bouncer.port();
        assert!(dir.join("pgbouncer.ini").exists());
        drop(bouncer);
        assert!(!dir.exists(), "files removed");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "nothing listens on {port} any more"
        );

        // Statement mode refuses a transaction block, as the seeder will see.
        let statement = PgBouncer::start(PoolMode::Statement, Options::default())?;
        let mut conn = PgConnection::connect(&statement.url_for(&db)).await?;
        // PgBouncer sees the open transaction when BEGIN returns.
        let mut err = sea_orm::sqlx::raw_sql("BEGIN")
            .execute(&mut conn)
            .await
            .err();
        if err.is_none() {
            err = sea_orm::sqlx::raw_sql("SELECT 1")
                .execute(&mut conn)
                .await
                .err();
        }
        assert!(
            err.as_ref()
                .is_some_and(|e| e.to_string().contains("statement pooling")),
            "{err:?}\n{}",
            statement.log()
        );
        Ok(())
    })
    .await;
}

// ---------------------------------------------------------------------------
// Case 1: the platform's own schema
// ---------------------------------------------------------------------------

async fn required_column_without_default_is_refused(db: TestDb) -> anyhow::Result<()> {
    let sql = edit_table(
        platform_schema::fixture(db.backend),
        "tenants",
        "    legal_name TEXT,\n",
        "    legal_name TEXT,\n    billing_plan TEXT NOT NULL,\n",
    )?;
    assert_refused(
        &db,
        &sql,
        &[],
        &[
            "column tenants.billing_plan is NOT NULL without a default, and the seeder has no value for it \
             (give it a DEFAULT in its migration, or a value where the seeder builds tenants rows: \
             seeder/src/steps/tenants.rs from seeder/src/dataset/tenants.rs, \
             then add it to `written` in seeder/src/db/inspect.rs)",
        ],
    )
    .await
}

async fn missing_status_unique_key_is_refused(db: TestDb) -> anyhow::Result<()> {
    let sql = edit_table(
        platform_schema::fixture(db.backend),
        "ota_device_status",
        "    CONSTRAINT uq_ota_device_campaign UNIQUE (tenant_id, campaign_id, device_id),\n",
        "",
    )?;
    assert_refused(
        &db,
        &sql,
        &[],
        &["ota_device_status has no unique key on (tenant_id, campaign_id, device_id)"],
    )
    .await
}

async fn missing_column_is_refused(db: TestDb) -> anyhow::Result<()> {
    assert_refused(
        &db,
        platform_schema::fixture(db.backend),
        &["ALTER TABLE tenants DROP COLUMN status"],
        &["column tenants.status is missing"],
    )
    .await
}

async fn only_some_tables_present_is_refused(db: TestDb) -> anyhow::Result<()> {
    assert_refused(
        &db,
        platform_schema::fixture(db.backend),
        &["DROP TABLE ota_device_status", "DROP TABLE ota_campaigns"],
        &[
            "table ota_campaigns is missing",
            "table ota_device_status is missing",
        ],
    )
    .await
}

/// Several differences: each is named, in one line.
async fn every_problem_is_named(db: TestDb) -> anyhow::Result<()> {
    let sql = edit_table(
        platform_schema::fixture(db.backend),
        "tenants",
        "    legal_name TEXT,\n",
        "    legal_name TEXT,\n    billing_plan TEXT NOT NULL,\n",
    )?;
    let sql = edit_table(
        &sql,
        "ota_device_status",
        "    CONSTRAINT uq_ota_device_campaign UNIQUE (tenant_id, campaign_id, device_id),\n",
        "",
    )?;
    assert_refused(
        &db,
        &sql,
        &["ALTER TABLE tenants DROP COLUMN status"],
        &[
            "column tenants.status is missing",
            "column tenants.billing_plan is NOT NULL without a default",
            "ota_device_status has no unique key on (tenant_id, campaign_id, device_id)",
        ],
    )
    .await
}

backend_tests!(
    platform_fixture_loads_and_fits_the_entity_crate,
    platform_schema_is_seeded_as_it_is,
    required_column_without_default_is_refused,
    missing_status_unique_key_is_refused,
    missing_column_is_refused,
    only_some_tables_present_is_refused,
    every_problem_is_named,
);

/// A narrower integer than the entity's i64 would fail on large files.
/// (SQLite has one integer type, so this is PostgreSQL and MariaDB only.)
async fn narrower_column_type_is_refused(db: TestDb) -> anyhow::Result<()> {
    let sql = edit_table(
        platform_schema::fixture(db.backend),
        "firmware_versions",
        "    file_size_bytes BIGINT,\n",
        "    file_size_bytes INTEGER,\n",
    )?;
    // MariaDB spells the type as its column type.
    let problem = match db.backend {
        Backend::Postgres => {
            "column firmware_versions.file_size_bytes is integer, but the entity crate expects bigint"
        }
        _ => {
            "column firmware_versions.file_size_bytes is int(11), but the entity crate expects bigint"
        }
    };
    assert_refused(&db, &sql, &[], &[problem]).await
}

#[tokio::test]
async fn postgres_narrower_column_type_is_refused() {
    run_case(Backend::Postgres, narrower_column_type_is_refused).await;
}

#[tokio::test]
async fn mysql_narrower_column_type_is_refused() {
    run_case(Backend::MySql, narrower_column_type_is_refused).await;
}

/// On MariaDB a key column with a case-insensitive collation would make
/// `dev-A` and `dev-a` one device, where PostgreSQL keeps two.
#[tokio::test]
async fn mysql_case_insensitive_key_column_is_refused() {
    run_case(Backend::MySql, |db: TestDb| async move {
        let sql = edit_table(
            platform_schema::fixture(db.backend),
            "device_registry",
            "    device_id VARCHAR(255) NOT NULL,\n",
            "    device_id VARCHAR(255) COLLATE utf8mb4_general_ci NOT NULL,\n",
        )?;
        assert_refused(
            &db,
            &sql,
            &[],
            &["key column device_registry.device_id compares case-insensitively"],
        )
        .await
    })
    .await;
}

// ---------------------------------------------------------------------------
// Case 2: search_path and --schema
// ---------------------------------------------------------------------------

/// Tables in `public`, search_path `app, public` with `app` empty: the
/// seeder fills public and creates nothing in app.
#[tokio::test]
async fn postgres_search_path_finds_the_tables_where_psql_would() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let name = db_name(&db);
        let admin = db.connect().await?;
        admin
            .execute_unprepared(&format!(
                "CREATE SCHEMA app; ALTER DATABASE {name} SET search_path = app, public"
            ))
            .await?;
        admin.close().await?;
        platform_schema::load_into_schema(&db, "public").await?;
        let conn = db.connect().await?;
        assert_eq!(
            number(&conn, "SELECT (current_schema() = 'app')::int4::int8 AS n").await?,
            1,
            "the database's search_path applies"
        );
        let tables = table_names(&conn).await?;
        assert!(
            tables.iter().all(|t| t.starts_with("public.")),
            "{tables:?}"
        );

        let summary = assert_fresh_seed(&db.seeder(&["--json"]));
        assert_eq!(summary["schema"], "unmanaged", "{summary:#}");
        assert_eq!(table_names(&conn).await?, tables, "nothing created in app");
        assert_demo_dataset(&conn, "public.").await?;
        assert_rerun_inserts_nothing(&db.seeder(&["--json"]), true);
        assert_verifies(&db.seeder(&["verify", "--json"]));
        assert_eq!(table_names(&conn).await?, tables);
        Ok(())
    })
    .await;
}

/// An empty database whose search_path starts with an existing `app`:
/// the migrations create one set of tables there (current_schema()), and
/// later runs use it; nothing lands in public.
#[tokio::test]
async fn postgres_empty_database_is_migrated_into_the_current_schema() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let name = db_name(&db);
        let admin = db.connect().await?;
        admin
            .execute_unprepared(&format!(
                "CREATE SCHEMA app; ALTER DATABASE {name} SET search_path = app, public"
            ))
            .await?;
        admin.close().await?;

        let summary = assert_fresh_seed(&db.seeder(&["--json"]));
        assert_eq!(
            summary["migrations_applied"],
            ota_seed_tests::migration_count(),
            "{summary:#}"
        );
        let conn = db.connect().await?;
        let tables = table_names(&conn).await?;
        let mut want: Vec<String> = TABLES
            .iter()
            .chain(["seaql_migrations"].iter())
            .map(|t| format!("app.{t}"))
            .collect();
        want.sort();
        assert_eq!(tables, want);
        assert_demo_dataset(&conn, "app.").await?;
        assert_rerun_inserts_nothing(&db.seeder(&["--json"]), false);
        assert_eq!(table_names(&conn).await?, want, "no second copy");
        Ok(())
    })
    .await;
}

/// `--schema ota`: the platform keeps its OTA tables in a schema that is
/// not on the search_path; every statement acts there.
#[tokio::test]
async fn postgres_schema_option_seeds_a_schema_off_the_search_path() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        platform_schema::load_into_schema(&db, "ota").await?;
        let conn = db.connect().await?;
        let tables = table_names(&conn).await?;
        assert!(tables.iter().all(|t| t.starts_with("ota.")), "{tables:?}");

        let preview = json(&db.seeder(&["--schema", "ota", "--dry-run", "--json"]));
        assert_eq!(preview["schema"], "unmanaged", "{preview:#}");
        assert_eq!(inserted(&preview), [2, 30, 4, 2, 30], "{preview:#}");
        assert_eq!(counts(&conn, "ota.").await?, [0; 5]);

        let summary = assert_fresh_seed(&db.seeder(&["--schema", "ota", "--json"]));
        assert_eq!(summary["schema"], "unmanaged", "{summary:#}");
        assert_eq!(
            table_names(&conn).await?,
            tables,
            "nothing created in public"
        );
        assert_demo_dataset(&conn, "ota.").await?;
        assert_extra_columns_defaulted(&conn, "ota.").await?;
        assert_rerun_inserts_nothing(&db.seeder(&["--schema", "ota", "--json"]), true);
        assert_verifies(&db.seeder(&["--schema", "ota", "verify", "--json"]));
        assert_eq!(table_names(&conn).await?, tables);
        Ok(())
    })
    .await;
}

// ---------------------------------------------------------------------------
// Case 3: PgBouncer
// ---------------------------------------------------------------------------

/// Seed, rerun, verify and --dry-run through PgBouncer in transaction
/// pooling; with `platform` the tables are the platform's fixture.
async fn through_transaction_pooling(
    db: &TestDb,
    options: Options,
    platform: bool,
) -> anyhow::Result<()> {
    if platform {
        platform_schema::load(db).await?;
    }
    let bouncer = PgBouncer::start(PoolMode::Transaction, options)?;
    let url = bouncer.url_for(db);
    let run = |args: &[&str]| seeder_at(db, &url, args);

    let out = run(&["--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        describe(&out),
        bouncer.log()
    );
    let summary = assert_fresh_seed(&out);
    if platform {
        assert_eq!(summary["schema"], "unmanaged", "{summary:#}");
    } else {
        assert_eq!(
            summary["migrations_applied"],
            ota_seed_tests::migration_count(),
            "{summary:#}"
        );
    }
    assert_rerun_inserts_nothing(&run(&["--json"]), platform);
    assert_verifies(&run(&["verify", "--json"]));
    assert_dry_run_finds_everything(&run(&["--dry-run", "--json"]));

    // What is in the database, read directly.
    let conn = db.connect().await?;
    assert_demo_dataset(&conn, "").await?;
    let migrations = table_names(&conn)
        .await?
        .contains(&"public.seaql_migrations".to_owned());
    assert_eq!(
        migrations, !platform,
        "seaql_migrations only where we migrated"
    );
    if !platform {
        assert_eq!(
            number(&conn, "SELECT COUNT(*) AS n FROM seaql_migrations").await?,
            ota_seed_tests::migration_count() as i64
        );
    }
    Ok(())
}

#[tokio::test]
async fn postgres_pgbouncer_transaction_pooling_on_an_empty_database() {
    if !pgbouncer::available() {
        return;
    }
    run_case(Backend::Postgres, |db: TestDb| async move {
        through_transaction_pooling(&db, Options::default(), false).await
    })
    .await;
}

/// The platform's schema, and a PgBouncer without
/// `ignore_startup_parameters`: the seeder must not send extra_float_digits.
#[tokio::test]
async fn postgres_pgbouncer_transaction_pooling_on_the_platform_schema() {
    if !pgbouncer::available() {
        return;
    }
    run_case(Backend::Postgres, |db: TestDb| async move {
        let options = Options {
            ignore_extra_float_digits: false,
            ..Options::default()
        };
        through_transaction_pooling(&db, options, true).await
    })
    .await;
}

/// Statement pooling cannot hold a transaction: refused before anything,
/// saying which setting to change.
#[tokio::test]
async fn postgres_pgbouncer_statement_pooling_is_refused() {
    if !pgbouncer::available() {
        return;
    }
    run_case(Backend::Postgres, |db: TestDb| async move {
        let bouncer = PgBouncer::start(PoolMode::Statement, Options::default())?;
        let url = bouncer.url_for(&db);
        let line = assert_clean_error(&seeder_at(&db, &url, &[]));
        assert!(line.contains("pool_mode"), "{line}");
        let conn = db.connect().await?;
        assert_eq!(
            table_names(&conn).await?,
            Vec::<String>::new(),
            "nothing written"
        );
        Ok(())
    })
    .await;
}

// ---------------------------------------------------------------------------
// Case 4: server-side timeouts
// ---------------------------------------------------------------------------

async fn alter_database(db: &TestDb, setting: &str) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    conn.execute_unprepared(&format!("ALTER DATABASE {} SET {setting}", db_name(db)))
        .await?;
    conn.close().await?;
    Ok(())
}

/// A login role of this test that owns the test's database (and so, on
/// PostgreSQL 15, may create in public) but is no superuser. The guard
/// drops it however the test ends: roles belong to the whole server.
async fn owner_role(db: &TestDb, suffix: &str) -> anyhow::Result<PgRole> {
    let role = PgRole::guard(db, suffix);
    let conn = db.connect().await?;
    conn.execute_unprepared(&format!(
        "CREATE ROLE {0} LOGIN; ALTER DATABASE {1} OWNER TO {0};",
        role.name,
        db_name(db)
    ))
    .await?;
    conn.close().await?;
    Ok(role)
}

/// The role's limits in the timeout tests: far below every wait the test
/// imposes on the seeder.
const ROLE_LIMITS: [&str; 2] = ["statement_timeout = '200ms'", "lock_timeout = '200ms'"];

/// How long a seeder session must have waited on the test's lock before
/// the test lets it go: 5 x the role's limits, which would have cancelled
/// it by then had the seeder not overridden them.
const PAST_THE_LIMIT: &str = "1 second";

/// Bound of every wait for a state of the server: failing it means the
/// state never came.
const READY: Duration = Duration::from_secs(60);

/// Waits until a session of `role` in this database has been waiting on a
/// lock for [`PAST_THE_LIMIT`]; fails if `seeder` ends first.
async fn seeder_waits_past_the_limit(
    conn: &DatabaseConnection,
    role: &str,
    seeder: &mut ota_seed_tests::Spawned,
) -> anyhow::Result<()> {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
         AND usename = '{role}' AND wait_event_type = 'Lock' \
         AND now() - query_start > interval '{PAST_THE_LIMIT}'"
    );
    let deadline = Instant::now() + READY;
    while number(conn, &sql).await? == 0 {
        anyhow::ensure!(
            seeder.running(),
            "the seeder ended while the test held its lock, before waiting {PAST_THE_LIMIT} \
             (the role's limits cut it short?):\n{}",
            seeder.stderr_so_far()
        );
        anyhow::ensure!(
            Instant::now() < deadline,
            "no seeder session waited {PAST_THE_LIMIT} on the test's lock within {READY:?}:\n{}",
            seeder.stderr_so_far()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// A statement of `conn` (a session of the limited role) blocked by the
/// test's lock, in a transaction that first runs `setup`: it must fail
/// with `error`. The role's limit really applies outside the seeder.
async fn cancelled_by_the_role(
    conn: &DatabaseConnection,
    setup: &str,
    blocked: &str,
    error: &str,
) -> anyhow::Result<()> {
    let txn = conn.begin().await?;
    txn.execute_unprepared(setup).await?;
    let started = Instant::now();
    let outcome = txn.execute_unprepared(blocked).await;
    let took = started.elapsed();
    txn.rollback().await?;
    match outcome {
        Err(e) => assert!(
            e.to_string().contains(error),
            "{blocked} after {setup}: {e}"
        ),
        Ok(_) => panic!("{blocked} after {setup} was not cancelled (took {took:?})"),
    }
    Ok(())
}

/// An application role with `statement_timeout` and `lock_timeout` of
/// 200 ms (in this database), and a lock the test holds on what the
/// seeder needs, for far longer: a session of the role outside the seeder
/// is cancelled (by each limit, the other switched off), while the
/// seeder's own transactions wait (`--statement-timeout`, 30 min by
/// default, and 0, none) and complete once the lock is released, with no
/// retry; so do `verify` and `--dry-run` behind a lock on a table they
/// read. With `--statement-timeout 1`, the seeder's own limit ends the
/// wait after 1 s, not the role's after 200 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_role_timeouts_do_not_cancel_the_seeder() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let role = owner_role(&db, "slow").await?;
        let url = role.url(&db);
        {
            use migration::MigratorTrait as _;
            let conn = ota_seed_tests::connect(&url).await?;
            migration::Migrator::up(&conn, None).await?;
            conn.close().await?;
        }
        let conn = db.connect().await?;
        for setting in ROLE_LIMITS {
            conn.execute_unprepared(&format!(
                "ALTER ROLE {} IN DATABASE {} SET {setting}",
                role.name,
                db_name(&db)
            ))
            .await?;
        }
        let holder = conn.begin().await?;
        holder.execute_unprepared(HOLD_TENANT_A).await?;

        // The role's limits cancel its own sessions.
        let as_role = ota_seed_tests::connect(&url).await?;
        let blocked = format!("{HOLD_TENANT_A} ON CONFLICT DO NOTHING");
        cancelled_by_the_role(
            &as_role,
            "SET LOCAL lock_timeout = 0",
            &blocked,
            "canceling statement due to statement timeout",
        )
        .await?;
        cancelled_by_the_role(
            &as_role,
            "SET LOCAL statement_timeout = 0",
            &blocked,
            "canceling statement due to lock timeout",
        )
        .await?;
        as_role.close().await?;

        // The seeder's insert of tenant-a waits on the test's row.
        let mut seeder =
            ota_seed_tests::start_seeder(&["--json"], &[("DATABASE_URL", &url)], db.dir.path())?;
        // Released whatever came of the wait: a failure must not leave
        // the lock to the cleanup (which would wait on it).
        let waited = seeder_waits_past_the_limit(&conn, &role.name, &mut seeder).await;
        holder.rollback().await?;
        waited?;
        let out = seeder.wait(SEEDER_LIMIT);
        let summary = assert_fresh_seed(&out);
        assert_eq!(summary["retries"], 0, "{summary:#}");
        assert_demo_dataset(&conn, "").await?;

        // A rerun with a row to restore locks tenant-a's row: with no
        // limit at all too. (A rerun with nothing to write opens no write
        // transaction, and takes no lock.)
        let lock_tenant_a = "SELECT tenant_id FROM tenants WHERE tenant_id = 'tenant-a' FOR UPDATE";
        for args in [&["--json"][..], &["--json", "--statement-timeout", "0"][..]] {
            conn.execute_unprepared(DROP_A_STATUS_ROW).await?;
            let holder = conn.begin().await?;
            holder.execute_unprepared(lock_tenant_a).await?;
            let mut seeder =
                ota_seed_tests::start_seeder(args, &[("DATABASE_URL", &url)], db.dir.path())?;
            // Released whatever came of the wait: a failure must not leave
            // the lock to the cleanup (which would wait on it).
            let waited = seeder_waits_past_the_limit(&conn, &role.name, &mut seeder).await;
            holder.rollback().await?;
            waited?;
            let summary = json(&seeder.wait(SEEDER_LIMIT));
            assert_eq!(summary["rows_inserted"], 1, "{args:?}: {summary:#}");
            assert_eq!(summary["retries"], 0, "{args:?}: {summary:#}");
        }

        // Readers wait too, behind a lock that keeps them off a table.
        for args in [&["verify", "--json"][..], &["--dry-run", "--json"][..]] {
            let holder = conn.begin().await?;
            holder
                .execute_unprepared("LOCK TABLE device_registry IN ACCESS EXCLUSIVE MODE")
                .await?;
            let mut seeder =
                ota_seed_tests::start_seeder(args, &[("DATABASE_URL", &url)], db.dir.path())?;
            // Released whatever came of the wait: a failure must not leave
            // the lock to the cleanup (which would wait on it).
            let waited = seeder_waits_past_the_limit(&conn, &role.name, &mut seeder).await;
            holder.rollback().await?;
            waited?;
            let summary = json(&seeder.wait(SEEDER_LIMIT));
            if args[0] == "verify" {
                assert_verified(&summary, DEMO_COUNTS);
            } else {
                assert_eq!(summary["rows_inserted"], 0, "{summary:#}");
                assert_eq!(
                    present(&summary),
                    DEMO_COUNTS.map(|n| n as u64),
                    "{summary:#}"
                );
            }
        }

        // The seeder's own limit, 1 s, ends the wait: the lock is held
        // until the seeder has ended.
        conn.execute_unprepared(DROP_A_STATUS_ROW).await?;
        let holder = conn.begin().await?;
        holder.execute_unprepared(lock_tenant_a).await?;
        let started = Instant::now();
        let out = seeder_at(&db, &url, &["--statement-timeout", "1"]);
        let took = started.elapsed();
        holder.rollback().await?;
        let line = assert_clean_error(&out);
        assert!(
            line.contains("canceling statement due to statement timeout")
                || line.contains("canceling statement due to lock timeout"),
            "{line}"
        );
        // The demo's two tenants are one batch, named by its first and last.
        assert!(
            line.contains("for tenants tenant-a … tenant-b (2 tenants) (nothing of these tenants was written; 1 try)"),
            "{line}"
        );
        assert!(
            took >= Duration::from_secs(1),
            "ended after {took:?}, before its own limit of 1 s: {line}"
        );
        assert_eq!(
            counts(&conn, "").await?,
            [2, 30, 4, 2, 29],
            "nothing written: the dropped row is still missing"
        );
        assert_eq!(json(&seeder_at(&db, &url, &["--json"]))["rows_inserted"], 1);
        assert_demo_dataset(&conn, "").await?;
        Ok(())
    })
    .await;
}

/// Deletes one of tenant-a's status rows, so that a rerun has a row to
/// write and opens its write transaction.
const DROP_A_STATUS_ROW: &str = "DELETE FROM ota_device_status WHERE id = \
     (SELECT MIN(id) FROM ota_device_status WHERE tenant_id = 'tenant-a')";

/// `lock_timeout = 200ms` on the database while another session holds a
/// lock the seeder needs for far longer: the seeder waits instead of
/// failing, and completes once the lock is released.
#[tokio::test]
async fn postgres_database_lock_timeout_does_not_cancel_a_wait() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        db.migrate().await?.close().await?;
        alter_database(&db, "lock_timeout = '200ms'").await?;
        let conn = db.connect().await?;
        let holder = conn.begin().await?;
        // SHARE mode: readers pass, every insert into device_registry waits.
        holder
            .execute_unprepared("LOCK TABLE device_registry IN SHARE MODE")
            .await?;
        let mut seeder = db.start_seeder(&["--json"])?;
        // Wait until the seeder has been blocked for 5 x lock_timeout.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut blocked_since: Option<Instant> = None;
        loop {
            let waiting = number(
                &conn,
                "SELECT COUNT(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .await?;
            match (waiting > 0, blocked_since) {
                (true, None) => blocked_since = Some(Instant::now()),
                (true, Some(t)) if t.elapsed() >= Duration::from_secs(1) => break,
                (false, Some(_)) => {
                    anyhow::bail!("the seeder stopped waiting for the lock before it was released")
                }
                _ => {}
            }
            if !seeder.running() || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        holder.commit().await?;
        let out = seeder.wait(SEEDER_LIMIT);
        assert!(
            blocked_since.is_some(),
            "the seeder never waited for the lock:\n{}",
            describe(&out)
        );
        assert_fresh_seed(&out);
        assert_demo_dataset(&conn, "").await?;
        Ok(())
    })
    .await;
}

/// `idle_in_transaction_session_timeout = 200ms` on the database, and the
/// seeder's process paused (SIGSTOP) while its transaction is open, for
/// longer than that: its own transaction-local limit keeps the session,
/// and the run completes with no retry.
#[tokio::test]
async fn postgres_database_idle_in_transaction_timeout_does_not_end_the_session() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        db.migrate().await?.close().await?;
        alter_database(&db, "idle_in_transaction_session_timeout = '200ms'").await?;
        let conn = db.connect().await?;
        let fleet = [
            "--tenants",
            "2",
            "--sites-per-tenant",
            "40",
            "--devices-per-site",
            "500",
        ];
        let mut seeder = db.start_seeder(&[&fleet[..], &["--json"]].concat())?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut survived = false;
        // A seeder session idle inside its transaction (this connection
        // runs none). Mid-statement (a COPY waiting for its next chunk
        // included) the session is active, and the timeout does not apply.
        let idle_in_txn = "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() \
             AND state = 'idle in transaction'";
        'attempts: while seeder.running() && Instant::now() < deadline && !survived {
            if number(&conn, idle_in_txn).await? == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            seeder.signal("STOP")?;
            // Paused between two of its statements? If not (it had sent
            // the next one, or committed), resume and try again at once.
            tokio::time::sleep(Duration::from_millis(50)).await;
            if number(&conn, idle_in_txn).await? == 0 {
                seeder.signal("CONT")?;
                continue;
            }
            // The open transaction stays idle while the seeder is paused.
            // Give it 5 x the timeout, watching for it to stay idle that
            // long (then the limit was overridden; else the server ends
            // the session after 200 ms).
            let paused = Instant::now();
            while paused.elapsed() < Duration::from_secs(3) {
                let idle = number(
                    &conn,
                    &format!("{idle_in_txn} AND now() - state_change > interval '1 second'"),
                )
                .await?;
                if idle > 0 {
                    survived = true;
                    seeder.signal("CONT")?;
                    break 'attempts;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            seeder.signal("CONT")?;
        }
        let out = seeder.wait(SEEDER_LIMIT);
        assert!(
            survived,
            "no seeder transaction stayed open past idle_in_transaction_session_timeout:\n{}",
            describe(&out)
        );
        let summary = json(&out);
        assert_eq!(
            summary["retries"],
            0,
            "no retry was needed:\n{}",
            describe(&out)
        );
        assert_eq!(counts(&conn, "").await?, [2, 40_000, 4, 2, 40_000]);
        Ok(())
    })
    .await;
}

// ---------------------------------------------------------------------------
// Case 5: a read-only default
// ---------------------------------------------------------------------------

#[tokio::test]
async fn postgres_default_transaction_read_only_is_refused_before_writing() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        assert_fresh_seed(&db.seeder(&["--json"]));
        alter_database(&db, "default_transaction_read_only = on").await?;
        let conn = db.connect().await?;
        let before = counts(&conn, "").await?;
        assert_eq!(before, DEMO_COUNTS);

        // A run with something to write (a third tenant), and a plain rerun.
        for args in [&["--tenants", "3"][..], &[][..]] {
            let line = assert_clean_error(&db.seeder(args));
            assert!(line.starts_with("error: refusing to write to "), "{line}");
            assert!(line.contains("default_transaction_read_only"), "{line}");
            assert!(
                line.ends_with("; --dry-run and verify only read and work there"),
                "{line}"
            );
        }
        assert_eq!(counts(&conn, "").await?, before, "tables unchanged");
        assert_eq!(
            number(&conn, "SELECT COUNT(*) AS n FROM seaql_migrations").await?,
            ota_seed_tests::migration_count() as i64
        );

        assert_verifies(&db.seeder(&["verify", "--json"]));
        let preview = json(&db.seeder(&["--dry-run", "--json", "--tenants", "3"]));
        assert_eq!(
            ota_seed_tests::table_counts(&preview, "tenants"),
            (1, 2, 0),
            "{preview:#}"
        );
        assert_eq!(counts(&conn, "").await?, before);
        Ok(())
    })
    .await;
}

// ---------------------------------------------------------------------------
// Case 7: a lagging id sequence
// ---------------------------------------------------------------------------

async fn firmware_sequence(conn: &DatabaseConnection) -> anyhow::Result<Option<i64>> {
    let row = rows(
        conn,
        "SELECT last_value FROM pg_sequences \
         WHERE schemaname = 'public' AND sequencename = 'firmware_versions_id_seq'",
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| anyhow::anyhow!("no firmware_versions_id_seq"))?;
    Ok(row.try_get("", "last_value")?)
}

/// The `SELECT setval(...)` statement in an error line, up to its closing
/// parenthesis.
fn setval_fix(line: &str) -> anyhow::Result<String> {
    let start = line
        .find("SELECT setval(")
        .ok_or_else(|| anyhow::anyhow!("no SELECT setval( in {line}"))?;
    let mut depth = 0;
    let mut in_string = false;
    for (i, c) in line[start..].char_indices() {
        match c {
            '\'' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return Ok(line[start..=start + i].to_owned());
                }
            }
            _ => {}
        }
    }
    anyhow::bail!("unbalanced setval in {line}")
}

#[tokio::test]
async fn postgres_lagging_sequence_is_reported_with_its_fix() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let conn = db.migrate().await?;
        // Rows written with explicit ids, as a restore or a hand-written
        // script does: the sequence still stands at its start.
        conn.execute_unprepared(
            "INSERT INTO tenants (tenant_id, name) VALUES ('legacy', 'Legacy tenant');
             INSERT INTO firmware_versions (id, tenant_id, version, file_url, device_type) VALUES
               (1, 'legacy', '0.9.0', 'https://fw.example/legacy/0.9.0.bin', 'sensor'),
               (2, 'legacy', '0.9.1', 'https://fw.example/legacy/0.9.1.bin', 'sensor'),
               (3, 'legacy', '0.9.2', 'https://fw.example/legacy/0.9.2.bin', 'sensor');",
        )
        .await?;
        let sequence = firmware_sequence(&conn).await?;
        let before = counts(&conn, "").await?;
        assert_eq!(before, [1, 0, 3, 0, 0]);

        // Refused, and refused again: a failed run burns nothing.
        let mut line = String::new();
        for _ in 0..2 {
            line = assert_clean_error(&db.seeder(&[]));
            assert!(
                line.contains("the id sequence of firmware_versions"),
                "{line}"
            );
            assert!(
                line.contains("would hand out 1, but ids up to 3 are taken"),
                "{line}"
            );
            assert!(line.contains("SELECT setval("), "{line}");
            assert_eq!(counts(&conn, "").await?, before, "nothing written");
            assert_eq!(
                firmware_sequence(&conn).await?,
                sequence,
                "the sequence did not move"
            );
        }

        // The printed fix works, and then so does the seeder.
        conn.execute_unprepared(&setval_fix(&line)?).await?;
        assert_fresh_seed(&db.seeder(&["--json"]));
        assert_eq!(counts(&conn, "").await?, [3, 30, 7, 2, 30]);
        assert_eq!(
            number(
                &conn,
                "SELECT COUNT(*) AS n FROM firmware_versions WHERE tenant_id <> 'legacy' AND id > 3"
            )
            .await?,
            4
        );
        Ok(())
    })
    .await;
}

#[test]
fn setval_fix_is_cut_at_its_closing_parenthesis() {
    let line = "error: ... run SELECT setval(pg_get_serial_sequence('firmware_versions', 'id'), \
                (SELECT MAX(id) FROM firmware_versions)); then rerun";
    assert_eq!(
        setval_fix(line).expect("fix"),
        "SELECT setval(pg_get_serial_sequence('firmware_versions', 'id'), \
         (SELECT MAX(id) FROM firmware_versions))"
    );
}

// ---------------------------------------------------------------------------
// More cases of the same kinds (found in review)
// ---------------------------------------------------------------------------

/// A column the seeder leaves NULL in some rows (a SUCCESS row has no
/// error_message) is refused when the platform made it NOT NULL, even with
/// a default: the seeder writes NULL explicitly.
async fn not_null_column_the_seeder_leaves_null_is_refused(db: TestDb) -> anyhow::Result<()> {
    let sql = edit_table(
        platform_schema::fixture(db.backend),
        "ota_device_status",
        "    error_message TEXT,\n",
        "    error_message TEXT NOT NULL DEFAULT '',\n",
    );
    // MariaDB cannot give a TEXT column a literal default before 10.2;
    // 10.11 can, so the same edit serves every backend.
    assert_refused(
        &db,
        &sql?,
        &[],
        &["column ota_device_status.error_message is NOT NULL, but the seeder leaves it NULL in some rows"],
    )
    .await
}

/// Another application's `seaql_migrations` is not ota-seed's history:
/// beside the platform's tables it changes nothing (they are seeded as they
/// are), and in a database without OTA tables the seeder refuses to record
/// its migrations there.
async fn another_applications_migration_history_is_left_alone(db: TestDb) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    let history = "CREATE TABLE seaql_migrations (version VARCHAR(255) NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)";
    conn.execute_unprepared(history).await?;
    conn.execute_unprepared(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m20240101_000001_create_users', 1704067200)",
    )
    .await?;
    let line = assert_clean_error(&db.seeder(&[]));
    assert!(
        line.contains("has a seaql_migrations table of another application (it records m20240101_000001_create_users, none of them ota-seed's) and no OTA tables"),
        "{line}"
    );
    assert_eq!(table_names(&conn).await?.len(), 1, "nothing created");

    platform_schema::load(&db).await?;
    let summary = assert_fresh_seed(&db.seeder(&["--json"]));
    assert_eq!(summary["schema"], "unmanaged", "{summary:#}");
    assert_eq!(
        number(&conn, "SELECT COUNT(*) AS n FROM seaql_migrations").await?,
        1,
        "their history untouched"
    );
    assert_demo_dataset(&conn, "").await?;
    Ok(())
}

backend_tests!(
    not_null_column_the_seeder_leaves_null_is_refused,
    another_applications_migration_history_is_left_alone,
);

/// SQLite: a key column declared `COLLATE NOCASE` is named like MariaDB's
/// case-insensitive collations.
#[tokio::test]
async fn sqlite_nocase_key_column_is_refused() {
    run_case(Backend::Sqlite, |db: TestDb| async move {
        let sql = edit_table(
            platform_schema::fixture(db.backend),
            "device_registry",
            "    device_id TEXT NOT NULL,\n",
            "    device_id TEXT NOT NULL COLLATE NOCASE,\n",
        )?;
        assert_refused(
            &db,
            &sql,
            &[],
            &["key column device_registry.device_id compares case-insensitively (collation NOCASE)"],
        )
        .await
    })
    .await;
}

/// PostgreSQL unique keys as ON CONFLICT sees them: INCLUDE columns are not
/// part of the key; a deferrable key cannot be an arbiter.
#[tokio::test]
async fn postgres_unique_keys_are_judged_by_their_key_columns() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let status_key = "    CONSTRAINT uq_ota_device_campaign UNIQUE (tenant_id, campaign_id, device_id),\n";
        // A covering key (INCLUDE status) is the key: accepted.
        let covering = edit_table(
            platform_schema::fixture(db.backend),
            "ota_device_status",
            status_key,
            "    CONSTRAINT uq_ota_device_campaign UNIQUE (tenant_id, campaign_id, device_id) INCLUDE (status),\n",
        )?;
        platform_schema::load_sql(&db, &covering, None).await?;
        let summary = assert_fresh_seed(&db.seeder(&["--json"]));
        assert_eq!(summary["schema"], "unmanaged", "{summary:#}");
        Ok(())
    })
    .await;
    run_case(Backend::Postgres, |db: TestDb| async move {
        let deferrable = edit_table(
            platform_schema::fixture(db.backend),
            "ota_device_status",
            "    CONSTRAINT uq_ota_device_campaign UNIQUE (tenant_id, campaign_id, device_id),\n",
            "    CONSTRAINT uq_ota_device_campaign UNIQUE (tenant_id, campaign_id, device_id) DEFERRABLE,\n",
        )?;
        assert_refused(
            &db,
            &deferrable,
            &[],
            &["ota_device_status has no unique key on (tenant_id, campaign_id, device_id)"],
        )
        .await
    })
    .await;
    run_case(Backend::Postgres, |db: TestDb| async move {
        // Unique on tenant_id alone, device_id only carried along: not the
        // device key.
        assert_refused(
            &db,
            platform_schema::fixture(db.backend),
            &[
                "ALTER TABLE device_registry DROP CONSTRAINT device_registry_pkey",
                "ALTER TABLE device_registry ADD CONSTRAINT dr_u UNIQUE (tenant_id) INCLUDE (device_id)",
            ],
            &["device_registry has no unique key on (tenant_id, device_id)"],
        )
        .await
    })
    .await;
}

/// The issue's case 7 exactly: the explicit ids belong to a tenant that is
/// seeded (so it already has firmware rows of its own), and a sequence
/// restarted past them is not a lag.
#[tokio::test]
async fn postgres_lagging_sequence_of_a_seeded_tenant() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        platform_schema::load(&db).await?;
        let conn = db.connect().await?;
        conn.execute_unprepared(
            "INSERT INTO tenants (tenant_id, name) VALUES ('tenant-a', 'Acme IoT Corp');
             INSERT INTO firmware_versions (id, tenant_id, version, file_url, device_type) VALUES
               (1, 'tenant-a', '0.9.0', 'https://fw.example/0.9.0.bin', 'sensor'),
               (2, 'tenant-a', '0.9.1', 'https://fw.example/0.9.1.bin', 'sensor'),
               (3, 'tenant-a', '0.9.2', 'https://fw.example/0.9.2.bin', 'sensor');",
        )
        .await?;
        for _ in 0..3 {
            let line = assert_clean_error(&db.seeder(&[]));
            assert!(
                line.contains("the id sequence of firmware_versions"),
                "{line}"
            );
            assert!(
                line.contains("would hand out 1, but ids up to 3 are taken"),
                "{line}"
            );
        }
        assert_eq!(firmware_sequence(&conn).await?, None, "no id burnt");
        // Restarted past the taken ids (is_called false): no lag.
        conn.execute_unprepared("ALTER SEQUENCE firmware_versions_id_seq RESTART WITH 100")
            .await?;
        let summary = json(&db.seeder(&["--json"]));
        assert_eq!(
            ota_seed_tests::table_counts(&summary, "firmware_versions"),
            (4, 0, 0),
            "{summary:#}"
        );
        assert_eq!(
            number(
                &conn,
                "SELECT MIN(id)::int8 AS n FROM firmware_versions WHERE version LIKE '1.%'"
            )
            .await?,
            100
        );
        Ok(())
    })
    .await;
}

/// A database whose transactions default to REPEATABLE READ: seeders that
/// start together on it still apply the migrations once and leave one
/// dataset, without retries.
#[tokio::test]
async fn postgres_repeatable_read_default_and_concurrent_first_runs() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        alter_database(&db, "default_transaction_isolation = 'repeatable read'").await?;
        // Started together for certain: all four queue on the migration
        // lock the test holds before any goes on.
        seeders_at_once(&db, &db.url, 4, &["--json"]).await?;
        let conn = db.connect().await?;
        assert_demo_dataset(&conn, "").await?;
        assert_eq!(
            number(&conn, "SELECT COUNT(*) AS n FROM seaql_migrations").await?,
            ota_seed_tests::migration_count() as i64
        );
        Ok(())
    })
    .await;
}

/// Through a transaction-pooling PgBouncer whose server connections hold
/// statements other clients left under sqlx's names: the migrations (the
/// one place the seeder sends named statements) still apply.
#[tokio::test]
async fn postgres_pgbouncer_with_stale_sqlx_statements() {
    if !pgbouncer::available() {
        return;
    }
    run_case(Backend::Postgres, |db: TestDb| async move {
        let bouncer = PgBouncer::start(PoolMode::Transaction, Options::default())?;
        let url = bouncer.url_for(&db);
        // Every server connection of the pool gets a leftover sqlx_s_1/2.
        let clients: Vec<DatabaseConnection> = {
            let mut v = Vec::new();
            for _ in 0..2 {
                v.push(ota_seed_tests::connect(format!("{url}?statement-cache-capacity=0")).await?);
            }
            v
        };
        let txns: Vec<_> = {
            let mut v = Vec::new();
            for c in &clients {
                let t = sea_orm::TransactionTrait::begin(c).await?;
                t.execute_unprepared("PREPARE sqlx_s_1 AS SELECT 1; PREPARE sqlx_s_2 AS SELECT 2")
                    .await?;
                v.push(t);
            }
            v
        };
        for t in txns {
            t.commit().await?;
        }
        let out = seeder_at(&db, &url, &[]);
        let text = assert_ok(&out);
        assert!(
            text.contains(&format!(
                "migrations: applied {}",
                ota_seed_tests::migration_count()
            )),
            "{}\n{}",
            describe(&out),
            bouncer.log()
        );
        for c in clients {
            c.close().await?;
        }
        Ok(())
    })
    .await;
}

/// A MariaDB user whose statements may run 20 ms: seeders started together
/// on an empty database still take turns on the migration lock (whose wait
/// that limit would cut short) and leave one dataset.
#[tokio::test]
async fn mysql_user_statement_limit_and_concurrent_first_runs() {
    run_case(Backend::MySql, |db: TestDb| async move {
        let name = db_name(&db);
        // Users belong to the server: the guard drops it however the test
        // ends.
        let user = MySqlUser::guard(&db, "u_");
        let conn = db.connect().await?;
        conn.execute_unprepared(&format!(
            "CREATE USER '{0}'@'%' IDENTIFIED BY '' WITH MAX_STATEMENT_TIME 0.02",
            user.name
        ))
        .await?;
        conn.execute_unprepared(&format!("GRANT ALL ON {name}.* TO '{}'@'%'", user.name))
            .await?;
        // All three queue on the migration lock the test holds (far longer
        // than 20 ms) before any goes on.
        seeders_at_once(&db, &user.url(&db), 3, &["-q"]).await?;
        assert_demo_dataset(&conn, "").await?;
        Ok(())
    })
    .await;
}
