//! Databases that do not want writes are refused before anything is
//! written, with the reason; `verify` and `--dry-run` still work there.
//! (`default_transaction_read_only` on a database is in real_databases.rs.)

use ota_seed_tests::private_postgres::{PrimaryWithStandby, eventually};
use ota_seed_tests::sql::number_at;
use ota_seed_tests::{assert_clean_error, assert_ok, run_seeder};
use sea_orm::{ConnectionTrait, Statement};

async fn status_rows(url: &str) -> anyhow::Result<i64> {
    number_at(url, "SELECT COUNT(*) AS n FROM ota_device_status").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_standby_is_refused_and_still_verified() -> anyhow::Result<()> {
    let Some(pair) = PrimaryWithStandby::start()? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let admin = ota_seed_tests::connect(pair.primary_url("postgres")).await?;
    admin.execute_unprepared("CREATE DATABASE pulse").await?;
    admin.execute_unprepared("CREATE DATABASE empty").await?;
    admin.close().await?;
    let primary = pair.primary_url("pulse");
    let standby = pair.standby_url("pulse");
    assert_ok(&run_seeder(
        &["-q"],
        &[("DATABASE_URL", &primary)],
        dir.path(),
    ));
    eventually("the standby replays the seeded rows", || async {
        Ok(status_rows(&standby).await? == 30)
    })
    .await?;

    let refused = run_seeder(&[], &[("DATABASE_URL", &standby)], dir.path());
    let line = assert_clean_error(&refused);
    assert!(
        line.starts_with(&format!(
            "error: refusing to write to {standby}: it is a hot standby"
        )),
        "{line}"
    );
    assert!(
        line.ends_with("--dry-run and verify only read and work there"),
        "{line}"
    );
    // Migrations would be writes too: an empty database is refused the
    // same way, before any migration.
    let empty = pair.standby_url("empty");
    eventually("the standby has the empty database", || async {
        Ok(ota_seed_tests::connect(&empty).await.is_ok())
    })
    .await?;
    let line = assert_clean_error(&run_seeder(&[], &[("DATABASE_URL", &empty)], dir.path()));
    assert!(line.contains("it is a hot standby"), "{line}");

    let out = run_seeder(
        &["verify", "--json"],
        &[("DATABASE_URL", &standby)],
        dir.path(),
    );
    let summary: serde_json::Value = serde_json::from_str(&assert_ok(&out))?;
    assert_eq!(
        summary["verification"]["counts"][4],
        serde_json::json!(["ota_device_status", 30])
    );
    assert_eq!(summary["verification"]["violations"], serde_json::json!([]));
    let out = run_seeder(
        &["--dry-run", "--json"],
        &[("DATABASE_URL", &standby)],
        dir.path(),
    );
    let summary: serde_json::Value = serde_json::from_str(&assert_ok(&out))?;
    assert_eq!(summary["rows_inserted"], 0, "{summary}");
    assert_eq!(status_rows(&primary).await?, 30);
    Ok(())
}

/// A MariaDB server in read-only mode (a replica, or writes frozen by its
/// operator) is refused, even for root, whom `read_only` would not stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_mariadb_server_is_refused() -> anyhow::Result<()> {
    use ota_seed_tests::mariadb_server::PrivateMariaDb;
    let Some(server) = PrivateMariaDb::start(&[]).await? else {
        return Ok(());
    };
    let url = server.database_url();
    let dir = server.dir();
    assert_ok(&run_seeder(&["-q"], &[("DATABASE_URL", &url)], &dir));
    server
        .admin()
        .await?
        .execute_unprepared("SET GLOBAL read_only = ON")
        .await?;

    let line = assert_clean_error(&run_seeder(
        &["--tenants", "3"],
        &[("DATABASE_URL", &url)],
        &dir,
    ));
    assert!(
        line.starts_with(&format!(
            "error: refusing to write to {url}: the server does not accept writes (read_only = ON)"
        )),
        "{line}"
    );
    let out = assert_ok(&run_seeder(
        &["verify", "-q"],
        &[("DATABASE_URL", &url)],
        &dir,
    ));
    assert_eq!(out, "");
    let out = run_seeder(
        &["--dry-run", "--json", "--tenants", "3"],
        &[("DATABASE_URL", &url)],
        &dir,
    );
    let summary: serde_json::Value = serde_json::from_str(&assert_ok(&out))?;
    assert_eq!(
        summary["tables"]["device_registry"]["inserted"], 15,
        "{summary}"
    );
    let conn = server.connect().await?;
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM tenants",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    assert_eq!(
        row.try_get::<i64>("", "n")?,
        2,
        "tenant-0003 was not written"
    );
    Ok(())
}
