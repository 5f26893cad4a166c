//! The migrations build the schema on an empty database, take all of it down
//! again, and build it a second time, on every backend.

use migration::{Migrator, MigratorTrait, SchemaManager};
/// The tables the migrations own, in the order they are created.
use ota_seed_tests::platform_schema::TABLES;
use ota_seed_tests::{Backend, TestDb, backend_tests};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

/// The migrations that create the five tables, first and in this order.
/// Later migrations (a schema change, see the README) follow them; every
/// other expectation here reads the list from the `Migrator`.
const TABLE_MIGRATIONS: [&str; 5] = [
    "m20261127_000001_tenants",
    "m20261127_000002_device_registry",
    "m20261127_000003_firmware_versions",
    "m20261127_000004_ota_campaigns",
    "m20261127_000005_ota_device_status",
];

#[test]
fn migration_names_start_with_the_tables_in_dependency_order() {
    let names = migration::known_migration_names();
    assert_eq!(
        names[..TABLE_MIGRATIONS.len().min(names.len())],
        TABLE_MIGRATIONS,
        "known_migration_names() begins with the table migrations"
    );

    // SeaORM records applied migrations by name and the seeder compares the
    // recorded names with this list, so name order must be creation order.
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(
        sorted, names,
        "migration names must sort in the order they run"
    );

    // Every table is created after the tables its foreign keys point to.
    let position = |table: &str| {
        names
            .iter()
            .position(|n| n.ends_with(&format!("_{table}")))
            .unwrap_or_else(|| panic!("no migration creates {table}"))
    };
    assert!(position("tenants") < position("firmware_versions"));
    assert!(position("tenants") < position("ota_campaigns"));
    assert!(position("firmware_versions") < position("ota_campaigns"));
    assert!(position("ota_campaigns") < position("ota_device_status"));
}

/// Every table of the connected database except SeaORM's bookkeeping table,
/// read from the backend's own catalog, sorted.
async fn user_tables(db: &DatabaseConnection, backend: Backend) -> anyhow::Result<Vec<String>> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name AS table_name FROM sqlite_master \
             WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS table_name FROM information_schema.tables \
             WHERE table_schema = 'public'"
        }
        Backend::MySql => {
            "SELECT CAST(table_name AS CHAR) AS table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE()"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_string(backend.db_backend(), sql))
        .await?;
    let mut tables = rows
        .iter()
        .map(|row| row.try_get::<String>("", "table_name"))
        .collect::<Result<Vec<_>, _>>()?;
    tables.retain(|t| t != "seaql_migrations");
    tables.sort();
    Ok(tables)
}

/// Names recorded in `seaql_migrations`, oldest first.
async fn applied_migrations(
    db: &DatabaseConnection,
    backend: Backend,
) -> anyhow::Result<Vec<String>> {
    let rows = db
        .query_all_raw(Statement::from_string(
            backend.db_backend(),
            "SELECT version FROM seaql_migrations ORDER BY version",
        ))
        .await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get::<String>("", "version"))
        .collect::<Result<Vec<_>, _>>()?)
}

/// Asserts through both `SchemaManager::has_table` and the catalog that all
/// five tables exist (`present`) or that none of them does.
async fn assert_tables(
    db: &DatabaseConnection,
    backend: Backend,
    present: bool,
    stage: &str,
) -> anyhow::Result<()> {
    let manager = SchemaManager::new(db);
    for table in TABLES {
        assert_eq!(
            manager.has_table(table).await?,
            present,
            "{}: has_table({table}) {stage}",
            backend.name()
        );
    }
    let expected: Vec<String> = if present {
        let mut all: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
        all.sort();
        all
    } else {
        Vec::new()
    };
    assert_eq!(
        user_tables(db, backend).await?,
        expected,
        "{}: tables in the catalog {stage}",
        backend.name()
    );
    Ok(())
}

/// Number of row level security policies left in the database (PostgreSQL).
async fn policy_count(db: &DatabaseConnection) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_policies WHERE schemaname = 'public'",
        ))
        .await?
        .expect("count(*) returns a row");
    Ok(row.try_get::<i64>("", "n")?)
}

async fn migrations_go_up_down_and_up_again(db: TestDb) -> anyhow::Result<()> {
    let backend = db.backend;
    let conn = db.connect().await?;
    assert_eq!(
        user_tables(&conn, backend).await?,
        Vec::<String>::new(),
        "{}: the test database starts empty",
        backend.name()
    );

    Migrator::up(&conn, None).await?;
    assert_tables(&conn, backend, true, "after the first up").await?;
    assert_eq!(
        applied_migrations(&conn, backend).await?,
        migration::known_migration_names(),
        "{}: recorded migrations after up",
        backend.name()
    );
    if backend == Backend::Postgres {
        assert_eq!(
            policy_count(&conn).await?,
            3,
            "tenant_isolation policies after up"
        );
    }

    Migrator::down(&conn, None).await?;
    assert_tables(&conn, backend, false, "after down").await?;
    assert_eq!(
        applied_migrations(&conn, backend).await?,
        Vec::<String>::new(),
        "{}: recorded migrations after down",
        backend.name()
    );
    if backend == Backend::Postgres {
        assert_eq!(policy_count(&conn).await?, 0, "policies left after down");
    }

    Migrator::up(&conn, None).await?;
    assert_tables(&conn, backend, true, "after the second up").await?;
    assert_eq!(
        applied_migrations(&conn, backend).await?,
        migration::known_migration_names(),
        "{}: recorded migrations after the second up",
        backend.name()
    );
    if backend == Backend::Postgres {
        assert_eq!(
            policy_count(&conn).await?,
            3,
            "policies after the second up"
        );
    }

    // The rebuilt schema takes rows along its whole foreign key chain.
    for sql in [
        "INSERT INTO tenants (tenant_id, name) VALUES ('t-1', 'Tenant 1')",
        "INSERT INTO firmware_versions (tenant_id, version, file_url) VALUES ('t-1', '1.0.0', 'https://fw.example/1.0.0.bin')",
        "INSERT INTO ota_campaigns (tenant_id, name, firmware_version_id, target_group_id) \
         SELECT 't-1', 'first', id, 'group-1' FROM firmware_versions",
        "INSERT INTO ota_device_status (tenant_id, campaign_id, device_id) \
         SELECT 't-1', id, 'dev-1' FROM ota_campaigns",
    ] {
        conn.execute_unprepared(sql).await?;
    }
    let rows = conn
        .query_one_raw(Statement::from_string(
            backend.db_backend(),
            "SELECT count(*) AS n FROM ota_device_status",
        ))
        .await?
        .expect("count(*) returns a row");
    assert_eq!(
        rows.try_get::<i64>("", "n")?,
        1,
        "{}: status row after re-up",
        backend.name()
    );

    // With nothing pending, a further up is a no-op that keeps the data.
    Migrator::up(&conn, None).await?;
    assert_tables(&conn, backend, true, "after an up with nothing pending").await?;
    let rows = conn
        .query_one_raw(Statement::from_string(
            backend.db_backend(),
            "SELECT count(*) AS n FROM ota_device_status",
        ))
        .await?
        .expect("count(*) returns a row");
    assert_eq!(
        rows.try_get::<i64>("", "n")?,
        1,
        "{}: an up with nothing pending must not touch data",
        backend.name()
    );
    conn.close().await?;
    Ok(())
}

backend_tests!(migrations_go_up_down_and_up_again);
