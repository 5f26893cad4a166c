//! Checks of a seeded demo dataset and of the platform's schema, shared by
//! the test binaries that run them on different servers (the shared
//! PostgreSQL/MariaDB/SQLite in `real_databases`, PostgreSQL 18 in
//! `postgres18`): what a run's `--json` summary says, what the tables
//! hold, and the platform-schema cases themselves.

use std::process::Output;

use sea_orm::ConnectionTrait;
use serde_json::Value;

use crate::platform_schema::{self, TABLES, table_names};
use crate::{DEMO_COUNTS, TestDb, assert_clean_error, assert_ok, assert_verified};

/// Start of the refusal of an incompatible schema.
pub const INCOMPATIBLE: &str = "has OTA tables that ota-seed cannot seed as they are (";

/// The row helpers, here too for the binaries that take them from here.
pub use crate::sql::{counts, number, rows};

/// The campaign of `tenant` (the demo gives each tenant one).
pub async fn campaign(
    conn: &impl ConnectionTrait,
    tenant: &str,
) -> anyhow::Result<entity::ota_campaigns::Model> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entity::ota_campaigns::Entity::find()
        .filter(entity::ota_campaigns::Column::TenantId.eq(tenant))
        .one(conn)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no campaign of {tenant}"))
}

/// How a verification names a status row in a violation.
pub fn status_row(row: &entity::ota_device_status::Model) -> String {
    format!(
        "ota_device_status id={} ({}, campaign {}, device {}, {})",
        row.id, row.tenant_id, row.campaign_id, row.device_id, row.status
    )
}

/// The platform's verification figures, read with SQL: 2 tenants, 30
/// devices, 4 firmware rows, 2 COMPLETED campaigns of 15/14/1, 30 status
/// rows of which 28 SUCCESS and 2 FAILED, each counter true to its rows.
pub async fn assert_demo_dataset(conn: &impl ConnectionTrait, prefix: &str) -> anyhow::Result<()> {
    assert_eq!(counts(conn, prefix).await?, DEMO_COUNTS, "rows per table");
    let campaigns = rows(
        conn,
        &format!(
            "SELECT c.tenant_id, c.status, c.total_devices, c.succeeded, c.failed, \
                    (SELECT COUNT(*) FROM {prefix}ota_device_status s WHERE s.campaign_id = c.id) AS n_rows, \
                    (SELECT COUNT(*) FROM {prefix}ota_device_status s WHERE s.campaign_id = c.id AND s.status = 'SUCCESS') AS n_success, \
                    (SELECT COUNT(*) FROM {prefix}ota_device_status s WHERE s.campaign_id = c.id AND s.status = 'FAILED') AS n_failed \
             FROM {prefix}ota_campaigns c ORDER BY c.tenant_id"
        ),
    )
    .await?;
    let mut seen = Vec::new();
    for c in &campaigns {
        seen.push((
            c.try_get::<String>("", "tenant_id")?,
            c.try_get::<String>("", "status")?,
            c.try_get::<i32>("", "total_devices")?,
            c.try_get::<i32>("", "succeeded")?,
            c.try_get::<i32>("", "failed")?,
            c.try_get::<i64>("", "n_rows")?,
            c.try_get::<i64>("", "n_success")?,
            c.try_get::<i64>("", "n_failed")?,
        ));
    }
    let expected = |tenant: &str| {
        (
            tenant.to_owned(),
            "COMPLETED".to_owned(),
            15,
            14,
            1,
            15,
            14,
            1,
        )
    };
    assert_eq!(seen, [expected("tenant-a"), expected("tenant-b")]);
    Ok(())
}

/// The platform's extra columns got their defaults: the seeder left them
/// out, and the database filled them.
pub async fn assert_extra_columns_defaulted(
    conn: &impl ConnectionTrait,
    prefix: &str,
) -> anyhow::Result<()> {
    for (sql, want) in [
        (
            "SELECT COUNT(*) AS n FROM {p}tenants WHERE support_tier = 'standard' AND legal_name IS NULL",
            2,
        ),
        (
            "SELECT COUNT(*) AS n FROM {p}device_registry WHERE last_seen_at IS NULL",
            30,
        ),
        (
            "SELECT COUNT(*) AS n FROM {p}firmware_versions WHERE release_channel = 'stable'",
            4,
        ),
        (
            "SELECT COUNT(*) AS n FROM {p}ota_device_status WHERE retry_count = 0",
            30,
        ),
    ] {
        let sql = sql.replace("{p}", prefix);
        assert_eq!(number(conn, &sql).await?, want, "{sql}");
    }
    Ok(())
}

pub fn json(out: &Output) -> Value {
    let text = assert_ok(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// The per-table `inserted` counts of a `--json` summary, in `TABLES` order.
pub fn inserted(summary: &Value) -> Vec<u64> {
    TABLES
        .iter()
        .map(|t| {
            summary["tables"][t]["inserted"]
                .as_u64()
                .unwrap_or_else(|| panic!("no inserted count for {t}: {summary}"))
        })
        .collect()
}

/// The per-table `present` counts of a `--json` summary, in `TABLES` order.
pub fn present(summary: &Value) -> Vec<u64> {
    TABLES
        .iter()
        .map(|t| {
            summary["tables"][t]["present"]
                .as_u64()
                .unwrap_or_else(|| panic!("no present count for {t}: {summary}"))
        })
        .collect()
}

/// A rerun inserts nothing, and reports every row as present (read from
/// the tables).
pub fn assert_rerun_inserts_nothing(out: &Output, unmanaged: bool) {
    let summary = json(out);
    assert_eq!(summary["rows_inserted"], 0, "{summary}");
    assert_eq!(inserted(&summary), [0; 5], "{summary}");
    assert_eq!(
        present(&summary),
        DEMO_COUNTS.map(|n| n as u64),
        "{summary}"
    );
    if unmanaged {
        assert_eq!(summary["schema"], "unmanaged", "{summary}");
    }
    assert_eq!(
        summary["verification"]["violations"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "{summary}"
    );
}

/// A first run of the demo (`--json`): every status row inserted, and its
/// verification clean over the whole dataset. Returns the summary.
pub fn assert_fresh_seed(out: &Output) -> Value {
    let summary = json(out);
    assert_eq!(
        crate::table_counts(&summary, "ota_device_status"),
        (30, 0, 0),
        "{summary:#}"
    );
    assert_verified(&summary, DEMO_COUNTS);
    summary
}

/// `verify --json` passes over the whole demo dataset.
pub fn assert_verifies(out: &Output) {
    assert_verified(&json(out), DEMO_COUNTS);
}

/// `--dry-run --json` on a complete demo: nothing to insert, every row
/// found. Returns the summary.
pub fn assert_dry_run_finds_everything(out: &Output) -> Value {
    let summary = json(out);
    assert_eq!(summary["rows_inserted"], 0, "{summary:#}");
    assert_eq!(
        present(&summary),
        DEMO_COUNTS.map(|n| n as u64),
        "{summary:#}"
    );
    summary
}

/// A compatible platform schema is seeded as it is: nothing created or
/// recorded, the platform's figures, a rerun inserting nothing, verify and
/// --dry-run judging it the same way.
pub async fn platform_schema_is_seeded_as_it_is(db: TestDb) -> anyhow::Result<()> {
    platform_schema::load(&db).await?;
    let conn = db.connect().await?;
    let tables = table_names(&conn).await?;

    // --dry-run predicts the whole dataset and writes nothing.
    let preview = json(&db.seeder(&["--dry-run", "--json"]));
    assert_eq!(preview["schema"], "unmanaged", "{preview}");
    assert_eq!(
        inserted(&preview),
        DEMO_COUNTS.map(|n| n as u64),
        "{preview}"
    );
    assert_eq!(counts(&conn, "").await?, [0; 5]);

    let summary = assert_fresh_seed(&db.seeder(&["--json"]));
    assert_eq!(summary["schema"], "unmanaged", "{summary:#}");
    assert_eq!(summary["migrations_applied"], 0, "{summary:#}");
    assert_eq!(
        table_names(&conn).await?,
        tables,
        "nothing created (no seaql_migrations)"
    );
    assert_demo_dataset(&conn, "").await?;
    assert_extra_columns_defaulted(&conn, "").await?;

    assert_rerun_inserts_nothing(&db.seeder(&["--json"]), true);
    // --no-migrate is satisfied: nothing is pending on a schema we do not
    // manage.
    assert_rerun_inserts_nothing(&db.seeder(&["--no-migrate", "--json"]), true);

    let summary = json(&db.seeder(&["verify", "--json"]));
    assert_eq!(summary["schema"], "unmanaged", "{summary:#}");
    assert_verified(&summary, DEMO_COUNTS);
    let summary = assert_dry_run_finds_everything(&db.seeder(&["--dry-run", "--json"]));
    assert_eq!(summary["schema"], "unmanaged", "{summary:#}");

    assert_demo_dataset(&conn, "").await?;
    assert_eq!(table_names(&conn).await?, tables);
    Ok(())
}

/// Loads `sql`, runs `after`, then insists that seeding and --dry-run (which
/// judges the schema as a run would) are refused naming every one of
/// `problems`, and that nothing was written: same tables, all empty.
pub async fn assert_refused(
    db: &TestDb,
    sql: &str,
    after: &[&str],
    problems: &[&str],
) -> anyhow::Result<()> {
    platform_schema::load_sql(db, sql, None).await?;
    let conn = db.connect().await?;
    for stmt in after {
        conn.execute_unprepared(stmt).await?;
    }
    let tables = table_names(&conn).await?;
    for args in [&[][..], &["--dry-run"][..]] {
        let out = db.seeder(args);
        let line = assert_clean_error(&out);
        assert!(line.starts_with("error: database "), "{args:?}: {line}");
        assert!(line.contains(INCOMPATIBLE), "{args:?}: {line}");
        assert!(
            line.contains(". Nothing was written. Change the tables"),
            "{args:?}: {line}"
        );
        for problem in problems {
            assert!(line.contains(problem), "{args:?}: {problem:?} in {line}");
        }
        if problems.len() > 1 {
            assert!(line.contains("; "), "problems separated by '; ': {line}");
        }
    }
    assert_eq!(table_names(&conn).await?, tables, "no table created");
    for table in TABLES {
        if tables.iter().any(|t| t.rsplit('.').next() == Some(table)) {
            assert_eq!(
                number(&conn, &format!("SELECT COUNT(*) AS n FROM {table}")).await?,
                0,
                "{table} stays empty"
            );
        }
    }
    Ok(())
}
