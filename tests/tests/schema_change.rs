//! Issue 14: the README's schema-change workflow, step by step.
//!
//! - The example "add column" migration (`migration::example_add_column`,
//!   a NOT NULL column with a default) applies after ours on every backend;
//!   the seeder, which does not know the column, seeds and verifies, the
//!   default fills every row, and `down` removes it again.
//! - Regenerating from a database with it changes exactly one entity file,
//!   adding the column (PostgreSQL, the generator's reference backend).
//! - A NOT NULL column *without* a default, added after our migrations, is
//!   refused before anything is written, in one line naming the column and
//!   the code that builds the table's rows; the same on every backend.

use migration::{MigrationTrait, SchemaManager};
use ota_seed_tests::sql::numbers;
use ota_seed_tests::{
    Backend, DEMO_COUNTS, TestDb, assert_clean_error, assert_verified, backend_tests, run_case,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

/// Applies the example migration after ours, unless the migrator already
/// has it (after following the README's guide, ours include it); says
/// whether this test applied it.
async fn apply_example(conn: &DatabaseConnection) -> anyhow::Result<bool> {
    let probe = Statement::from_string(
        conn.get_database_backend(),
        "SELECT rollout_window_minutes FROM ota_campaigns WHERE 1 = 0",
    );
    if conn.query_all_raw(probe).await.is_ok() {
        return Ok(false);
    }
    migration::example_add_column::Migration
        .up(&SchemaManager::new(conn))
        .await?;
    Ok(true)
}

async fn example_add_column_migration_applies_and_seeds(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    let applied_here = apply_example(&conn).await?;

    let summary = db.seeder_json(&[], 0);
    assert_eq!(summary["rows_inserted"], 68, "{summary:#}");
    assert_verified(&summary, DEMO_COUNTS);
    let windows = numbers(
        &conn,
        "SELECT rollout_window_minutes AS n FROM ota_campaigns ORDER BY id",
    )
    .await?;
    assert_eq!(windows, [60, 60], "the default fills the seeded campaigns");

    // A rerun finds everything in place.
    let rerun = db.seeder_json(&[], 0);
    assert_eq!(rerun["rows_inserted"], 0, "{rerun:#}");

    if !applied_here {
        conn.close().await?;
        return Ok(());
    }
    migration::example_add_column::Migration
        .down(&SchemaManager::new(&conn))
        .await?;
    let gone = numbers(
        &conn,
        "SELECT COUNT(rollout_window_minutes) AS n FROM ota_campaigns",
    )
    .await;
    assert!(gone.is_err(), "down drops the column: {gone:?}");
    let after = db.seeder_json(&["verify"], 0);
    assert_verified(&after, DEMO_COUNTS);
    conn.close().await?;
    Ok(())
}

backend_tests!(example_add_column_migration_applies_and_seeds);

/// Regenerating from a database with the example column: only
/// `ota_campaigns.rs` changes, gaining `rollout_window_minutes: i32`.
#[tokio::test]
async fn regenerating_after_the_example_migration_adds_exactly_its_column() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let conn = db.migrate().await?;
        let applied_here = apply_example(&conn).await?;
        conn.close().await?;

        let out = tempfile::tempdir()?;
        entity_codegen::generate(&db.url, out.path()).await?;
        let committed = entity_codegen::committed_dir();
        let differing = entity_codegen::differing_files(&committed, out.path())?;
        if !applied_here {
            // The guide was followed: the committed entities have it.
            assert_eq!(differing, Vec::<String>::new());
            return Ok(());
        }
        assert_eq!(differing, ["ota_campaigns.rs"]);
        let before = std::fs::read_to_string(committed.join("ota_campaigns.rs"))?;
        let after = std::fs::read_to_string(out.path().join("ota_campaigns.rs"))?;
        let added: Vec<&str> = after
            .lines()
            .filter(|line| !before.lines().any(|b| b == *line))
            .collect();
        assert_eq!(added, ["    pub rollout_window_minutes: i32,"]);
        assert!(
            before.lines().all(|b| after.lines().any(|a| a == b)),
            "no line of the committed file is lost"
        );
        Ok(())
    })
    .await;
}

/// A required column the seeder cannot fill, added after our migrations
/// (the issue's `INT NOT NULL` without a default).
async fn required_column_is_refused_before_writing(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    conn.execute_unprepared("ALTER TABLE ota_campaigns ADD COLUMN approval_ticket INT NOT NULL")
        .await?;
    for args in [&[][..], &["--dry-run"][..]] {
        let out = db.seeder(args);
        let line = assert_clean_error(&out);
        assert!(
            line.contains(
                "column ota_campaigns.approval_ticket is NOT NULL without a default, \
                 and the seeder has no value for it (give it a DEFAULT in its migration, \
                 or a value where the seeder builds ota_campaigns rows: \
                 seeder/src/steps/campaigns.rs from seeder/src/dataset/campaigns.rs, \
                 then add it to `written` in seeder/src/db/inspect.rs)"
            ),
            "{args:?}: {line}"
        );
        assert!(line.contains("Nothing was written."), "{line}");
    }
    for table in ["tenants", "device_registry", "ota_campaigns"] {
        let n = numbers(&conn, &format!("SELECT COUNT(*) AS n FROM {table}")).await?;
        assert_eq!(n, [0], "{table} stays empty");
    }
    conn.close().await?;
    Ok(())
}

backend_tests!(required_column_is_refused_before_writing);
