//! MariaDB server limits that need a server of their own (issue 9, case 6):
//! `max_allowed_packet`, `max_statement_time` and `innodb_lock_wait_timeout`
//! are global settings, so each case starts a private MariaDB
//! (`ota_seed_tests::mariadb_server`) instead of touching the shared one.
//!
//! On a server with `max_allowed_packet = 1M`, batches sized by bind count
//! alone (65,535 values, over 1 MB for devices) were rejected with error
//! 1153, which was retried 50 times as a lost connection before exiting 2.

use std::time::Instant;

use ota_seed_tests::held::HOLD_TENANT_A;
use ota_seed_tests::mariadb_server::PrivateMariaDb;
use ota_seed_tests::{
    assert_clean_error, assert_ok, assert_verified, describe, json_summary, run_seeder,
};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, RuntimeErr, Statement, Value, sqlx,
};

/// The hint the seeder adds to a packet error (seeder/src/error.rs).
const HINT: &str = "(the server's max_allowed_packet is smaller than one statement; raise it";

async fn max_allowed_packet(conn: &DatabaseConnection) -> anyhow::Result<u64> {
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::MySql,
            "SELECT @@max_allowed_packet AS m",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get::<u64>("", "m")?)
}

/// Seeds `fleet` on a server started with `server_args`, then verifies,
/// and checks that no try was repeated and every row is there.
async fn seeds_within_the_packet(
    server_args: &[&str],
    packet: u64,
    fleet: &[&str],
    devices: i64,
) -> anyhow::Result<()> {
    let Some(server) = PrivateMariaDb::start(server_args).await? else {
        return Ok(());
    };
    let conn = server.connect().await?;
    assert_eq!(max_allowed_packet(&conn).await?, packet);
    let url = server.database_url();
    let env = [("DATABASE_URL", url.as_str())];

    let started = Instant::now();
    let out = run_seeder(&[fleet, &["--json"]].concat(), &env, &server.dir());
    let seconds = started.elapsed().as_secs_f64();
    let summary = json_summary(&out, 0);
    assert_eq!(
        summary["retries"],
        0,
        "no try was repeated:\n{}",
        describe(&out)
    );
    // One status row per device (one campaign per tenant), two firmware
    // versions and one campaign per tenant.
    assert_eq!(
        ota_seed_tests::sql::counts(&conn, "").await?,
        [2, devices, 4, 2, devices]
    );

    let verify = run_seeder(
        &[&["verify", "--json"], fleet].concat(),
        &env,
        &server.dir(),
    );
    let n = devices;
    assert_verified(&json_summary(&verify, 0), [2, n, 4, 2, n]);
    eprintln!("seeded {devices} devices under max_allowed_packet = {packet} in {seconds:.1} s");
    Ok(())
}

/// Issue 9, case 6: 10,000 devices per tenant under a 1 MiB packet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_fit_a_1m_max_allowed_packet() -> anyhow::Result<()> {
    seeds_within_the_packet(
        &["--max-allowed-packet=1M"],
        1 << 20,
        &[
            "--tenants",
            "2",
            "--sites-per-tenant",
            "10",
            "--devices-per-site",
            "1000",
        ],
        20_000,
    )
    .await
}

/// A quarter of that: bind-sized batches would be about four times too big.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_fit_a_256k_max_allowed_packet() -> anyhow::Result<()> {
    seeds_within_the_packet(
        &["--max-allowed-packet=256K"],
        256 << 10,
        &[
            "--tenants",
            "2",
            "--sites-per-tenant",
            "4",
            "--devices-per-site",
            "500",
        ],
        4_000,
    )
    .await
}

/// A statement the server refuses for its size fails at once, with the
/// hint, instead of being retried as a lost connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_over_the_packet_is_not_retried() -> anyhow::Result<()> {
    let Some(server) = PrivateMariaDb::start(&[]).await? else {
        return Ok(());
    };
    let url = server.database_url();
    let env = [("DATABASE_URL", url.as_str())];
    // Schema and tenants under the default packet.
    assert_ok(&run_seeder(
        &["-q", "--only", "tenants"],
        &env,
        &server.dir(),
    ));
    // The smallest packet MariaDB allows. It enforces the larger of
    // max_allowed_packet and net_buffer_length, so both go down. Global
    // settings of our own server: they apply to connections opened from
    // now on.
    let admin = server.admin().await?;
    admin
        .execute_unprepared("SET GLOBAL max_allowed_packet = 1024, net_buffer_length = 1024")
        .await?;
    let conn = server.connect().await?;
    assert_eq!(max_allowed_packet(&conn).await?, 1024);

    // What the driver really returns: a statement a few KiB over the limit
    // gets error 1153, SQLSTATE 08S01 (and the server closes the
    // connection).
    let err = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            "SELECT LENGTH(?)",
            [Value::String(Some("x".repeat(4096)))],
        ))
        .await
        .expect_err("a statement over max_allowed_packet");
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx_err))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx_err))) = &err
    else {
        panic!("not a driver error: {err:?}");
    };
    let sqlx::Error::Database(db_err) = sqlx_err.as_ref() else {
        panic!("not a database error: {err:?}");
    };
    let mysql = db_err
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .unwrap_or_else(|| panic!("not a MySQL error: {err:?}"));
    assert_eq!((mysql.number(), mysql.code()), (1153, Some("08S01")));
    // (seeder's unit tests classify this very error: not transient, hinted.)

    // The seeder's batches fit the packet (their statements are sized by
    // it); verify's checks do not: exit 2 with the hint, not retried.
    let out = run_seeder(&["-q", "--no-migrate"], &env, &server.dir());
    let line = assert_clean_error(&out);
    assert!(
        line.contains("Got a packet bigger than 'max_allowed_packet' bytes") && line.contains(HINT),
        "{}",
        describe(&out)
    );
    assert!(line.contains("while verifying"), "{}", describe(&out));
    // The batch's rows, in statements within the packet, were committed.
    let conn = server.connect().await?;
    assert_eq!(
        ota_seed_tests::sql::counts(&conn, "").await?,
        [2, 30, 4, 2, 30]
    );
    Ok(())
}

/// Issue 11: rows travel as inline literals on MySQL/MariaDB, which must
/// read the same under any `sql_mode`. On a server whose mode is ANSI
/// (double quotes quote identifiers) with NO_BACKSLASH_ESCAPES and strict
/// tables, the demo's rows (quotes in names, JSON metadata full of double
/// quotes) are exactly those seeded into SQLite through the library.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn literals_read_the_same_under_an_ansi_sql_mode() -> anyhow::Result<()> {
    let mode = "ANSI,NO_BACKSLASH_ESCAPES,STRICT_ALL_TABLES";
    let Some(server) = PrivateMariaDb::start(&[&format!("--sql-mode={mode}")]).await? else {
        return Ok(());
    };
    let conn = server.connect().await?;
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::MySql,
            "SELECT @@GLOBAL.sql_mode AS m",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    let live: String = row.try_get("", "m")?;
    assert!(
        live.contains("ANSI_QUOTES") && live.contains("NO_BACKSLASH_ESCAPES"),
        "{live}"
    );
    let url = server.database_url();
    let summary = json_summary(
        &run_seeder(
            &["--json", "--tenants", "3"],
            &[("DATABASE_URL", url.as_str())],
            &server.dir(),
        ),
        0,
    );
    assert_eq!(ota_seed_tests::violations(&summary), Vec::<String>::new());

    let reference = ota_seed_tests::connect("sqlite::memory:").await?;
    let spec = seeder::DatasetSpec {
        tenants: 3,
        ..seeder::DatasetSpec::default()
    };
    seeder::migrate(&reference).await?;
    seeder::Seeder::new(&seeder::Dataset::fleet(&spec))
        .run(&reference)
        .await?;
    use ota_seed_tests::snapshot::{DigestScope, dataset_digest};
    assert_eq!(
        dataset_digest(&conn, DigestScope::Everything).await?,
        dataset_digest(&reference, DigestScope::Everything).await?,
    );
    Ok(())
}

/// A statement blocked by the test's lock, in a transaction of a fresh
/// session that first runs `setup`: it must fail with error `number`. The
/// server's limits really apply outside the seeder.
async fn cancelled_by_the_server(
    server: &PrivateMariaDb,
    setup: &str,
    number: u16,
) -> anyhow::Result<()> {
    use sea_orm::TransactionTrait as _;
    let conn = server.connect().await?;
    let txn = conn.begin().await?;
    txn.execute_unprepared(setup).await?;
    let outcome = txn.execute_unprepared(HOLD_TENANT_A).await;
    txn.rollback().await?;
    conn.close().await?;
    let err = outcome
        .err()
        .unwrap_or_else(|| panic!("{HOLD_TENANT_A} after {setup} was not cancelled"));
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx_err))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx_err))) = &err
    else {
        panic!("not a driver error: {err:?}");
    };
    let sqlx::Error::Database(db_err) = sqlx_err.as_ref() else {
        panic!("not a database error: {err:?}");
    };
    let mysql = db_err
        .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .unwrap_or_else(|| panic!("not a MySQL error: {err:?}"));
    assert_eq!(mysql.number(), number, "after {setup}: {err}");
    Ok(())
}

/// Waits until a seeder statement has waited on the test's lock for 2 s
/// (10 x `max_statement_time`, 2 x `innodb_lock_wait_timeout`); fails if
/// `seeder` ends first.
async fn seeder_waits_past_the_limits(
    conn: &DatabaseConnection,
    seeder: &mut ota_seed_tests::Spawned,
) -> anyhow::Result<()> {
    // A statement of another session running for 2 s: only the seeder's
    // can (the test's lock holder sleeps), and only one waiting on that
    // lock. (INNODB_TRX does not list a transaction waiting to insert a
    // duplicate key, and its wait start is in the server's time zone.)
    let sql = "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
               WHERE ID <> CONNECTION_ID() AND COMMAND IN ('Query', 'Execute') \
               AND TIME_MS >= 2000";
    let deadline = Instant::now() + READY;
    loop {
        let row = conn
            .query_one_raw(Statement::from_string(DbBackend::MySql, sql))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no row"))?;
        if row.try_get_by_index::<i64>(0)? > 0 {
            return Ok(());
        }
        anyhow::ensure!(
            seeder.running(),
            "the seeder ended while the test held its lock, before waiting 2 s (the server's \
             limits cut it short?):\n{}",
            seeder.stderr_so_far()
        );
        if Instant::now() >= deadline {
            let sessions = conn
                .query_all_raw(Statement::from_string(
                    DbBackend::MySql,
                    "SELECT CONCAT_WS(' | ', ID, USER, DB, COMMAND, TIME, STATE, INFO) AS s \
                     FROM information_schema.PROCESSLIST",
                ))
                .await?
                .iter()
                .map(|row| row.try_get::<String>("", "s").unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n");
            anyhow::bail!(
                "no transaction waited 2 s on the test's lock within {READY:?}; the server's \
                 sessions:\n{sessions}\nthe seeder's stderr:\n{}",
                seeder.stderr_so_far()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Bound of every wait for a state of the server.
const READY: std::time::Duration = std::time::Duration::from_secs(20);

/// The server's `max_statement_time` (0.2 s) and `innodb_lock_wait_timeout`
/// (1 s), and a row the test holds for far longer: a session outside the
/// seeder is cancelled by each (the other switched off), while the
/// seeder's transactions wait (`--statement-timeout`, 30 min by default,
/// and 0, none) and complete once the row is released, with no retry.
/// With `--statement-timeout 1`, its own limit ends the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_timeouts_do_not_cancel_the_seeder() -> anyhow::Result<()> {
    use sea_orm::TransactionTrait as _;
    let Some(server) = PrivateMariaDb::start(&[]).await? else {
        return Ok(());
    };
    let url = server.database_url();
    let env = [("DATABASE_URL", url.as_str())];
    let conn = server.connect().await?;
    {
        use migration::MigratorTrait as _;
        migration::Migrator::up(&conn, None).await?;
    }
    // Global settings of our own server: for connections opened from now on.
    server
        .admin()
        .await?
        .execute_unprepared("SET GLOBAL max_statement_time = 0.2, innodb_lock_wait_timeout = 1")
        .await?;
    // The test's lock is held on a pool of its own; `conn` watches.
    let conn = server.connect().await?;
    let holding = server.connect().await?;
    let holder = holding.begin().await?;
    holder.execute_unprepared(HOLD_TENANT_A).await?;

    // 1969: max_statement_time exceeded; 1205: lock wait timeout exceeded.
    cancelled_by_the_server(&server, "SET SESSION innodb_lock_wait_timeout = 1000", 1969).await?;
    cancelled_by_the_server(&server, "SET SESSION max_statement_time = 0", 1205).await?;

    let mut seeder = ota_seed_tests::start_seeder(&["--json"], &env, &server.dir())?;
    // Released whatever came of the wait: a failure must not leave
    // the lock to the cleanup (which would wait on it).
    let waited = seeder_waits_past_the_limits(&conn, &mut seeder).await;
    holder.rollback().await?;
    waited?;
    let summary = json_summary(&seeder.wait(ota_seed_tests::SEEDER_LIMIT), 0);
    assert_eq!(summary["retries"], 0, "{summary:#}");
    assert_verified(&summary, ota_seed_tests::DEMO_COUNTS);

    // A rerun with a row to restore locks tenant-a's row: with no limit
    // at all too. (A rerun with nothing to write opens no write
    // transaction, and takes no lock.)
    let lock_tenant_a = "SELECT tenant_id FROM tenants WHERE tenant_id = 'tenant-a' FOR UPDATE";
    let drop_a_status_row =
        "DELETE FROM ota_device_status WHERE tenant_id = 'tenant-a' ORDER BY id LIMIT 1";
    for args in [&["--json"][..], &["--json", "--statement-timeout", "0"][..]] {
        conn.execute_unprepared(drop_a_status_row).await?;
        let holder = holding.begin().await?;
        holder.execute_unprepared(lock_tenant_a).await?;
        let mut seeder = ota_seed_tests::start_seeder(args, &env, &server.dir())?;
        // Released whatever came of the wait: a failure must not leave
        // the lock to the cleanup (which would wait on it).
        let waited = seeder_waits_past_the_limits(&conn, &mut seeder).await;
        holder.rollback().await?;
        waited?;
        let summary = json_summary(&seeder.wait(ota_seed_tests::SEEDER_LIMIT), 0);
        assert_eq!(summary["rows_inserted"], 1, "{args:?}: {summary:#}");
        assert_eq!(summary["retries"], 0, "{args:?}: {summary:#}");
    }

    // The seeder's own limit, 1 s, ends the wait: the row is held until
    // the seeder has ended.
    conn.execute_unprepared(drop_a_status_row).await?;
    let holder = holding.begin().await?;
    holder.execute_unprepared(lock_tenant_a).await?;
    let started = Instant::now();
    let out = run_seeder(&["--statement-timeout", "1"], &env, &server.dir());
    let took = started.elapsed();
    holder.rollback().await?;
    let line = assert_clean_error(&out);
    assert!(
        line.contains("max_statement_time exceeded") || line.contains("Lock wait timeout"),
        "{line}"
    );
    // The demo's two tenants are one batch, named by its first and last.
    assert!(
        line.contains("for tenants tenant-a … tenant-b (2 tenants)"),
        "{line}"
    );
    assert!(
        took >= std::time::Duration::from_secs(1),
        "ended after {took:?}, before its own limit of 1 s: {line}"
    );
    assert_eq!(
        ota_seed_tests::sql::counts(&conn, "").await?,
        [2, 30, 4, 2, 29],
        "nothing written: the dropped row is still missing"
    );
    Ok(())
}
