//! The wrong-database guard, `--dry-run`, existing rows that disagree with
//! the dataset, secrets, and TLS.

use std::time::Duration;

use entity::firmware_versions;
use entity::prelude::*;
use ota_seed_tests::seeded::json;
use ota_seed_tests::snapshot::table_contents;
use ota_seed_tests::{
    Backend, DEMO_COUNTS, SilentServer, TestDb, assert_clean_error, assert_ok, assert_verified,
    backend_tests, backends_required, describe, output_within, run_case, run_seeder,
    seeder_command, skips, this_machine_by_name,
};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};
use serde_json::Value;

/// How long a seeder given `--connect-timeout 1` may take to give up: far
/// more than it needs, so only a seeder that ignores the option fails.
const GIVES_UP: Duration = Duration::from_secs(60);

/// This machine's own name and the address it resolves to (see
/// [`this_machine_by_name`]), or `None` when it does not resolve: then the
/// test is skipped, recorded for the end-of-run summary, except under
/// `CI=true` (or `OTA_SEED_REQUIRE_BACKENDS=1`), where that fails it.
fn this_machine_or_skip() -> Option<(String, std::net::IpAddr)> {
    if let Some(found) = this_machine_by_name() {
        return Some(found);
    }
    let why = "this machine's name (/proc/sys/kernel/hostname) does not resolve to an address";
    assert!(
        !backends_required(),
        "{why}: the remote guard cannot be tested, and CI=true requires it"
    );
    skips::record(&skips::Skip::of_this_test("a resolvable host name", why));
    eprintln!(
        "SKIPPED {}: {why} (set CI=true to make this a failure)",
        std::thread::current().name().unwrap_or("a test")
    );
    None
}

/// A URL on this machine's own name: the guard counts it as remote (only
/// loopback names and addresses, sockets and files are local), yet a
/// connection to it reaches the test's port, which accepts and never
/// answers. So the test sees whether the seeder tried to connect, and a
/// connection attempt behaves the same on every machine. Returns the
/// server, the URL and the URL as the seeder shows it.
fn remote_silent_server() -> Option<(SilentServer, String, String)> {
    let (host, ip) = this_machine_or_skip()?;
    let server = SilentServer::bind(ip);
    let url = format!("postgres://app:hunter2@{host}:{}/pulse", server.port());
    let shown = format!("postgres://app:***@{host}:{}/pulse", server.port());
    Some((server, url, shown))
}

/// Runs the seeder with `args` against `url` (a server that never
/// answers), expects it to connect and give up after `--connect-timeout`.
fn connects_and_gives_up(
    server: &mut SilentServer,
    url: &str,
    shown: &str,
    dir: &std::path::Path,
    args: &[&str],
) {
    let before = server.connections();
    let out = output_within(
        &mut seeder_command(args, &[("DATABASE_URL", url)], dir),
        &format!("seeder {args:?} against a server that never answers"),
        GIVES_UP,
    );
    let line = assert_clean_error(&out);
    assert!(
        line.starts_with(&format!("error: cannot open database {shown}")),
        "{args:?}: {line}"
    );
    assert!(
        server.connections() > before,
        "{args:?}: it did not connect"
    );
    assert!(!describe(&out).contains("hunter2"));
}

/// The guard's refusal of `url` (shown as `shown`).
fn refusal(shown: &str) -> String {
    format!(
        "error: refusing to write to {shown}: it is not on this \
         machine, and seeding is meant for development and staging databases; pass --allow-remote \
         if this is the database you mean (--dry-run and `verify` only read, and need no flag)"
    )
}

#[test]
fn a_remote_database_is_not_written_without_allow_remote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((mut server, url, shown)) = remote_silent_server() else {
        return;
    };
    let out = run_seeder(&[], &[("DATABASE_URL", &url)], dir.path());
    assert_eq!(assert_clean_error(&out), refusal(&shown));
    assert_eq!(
        server.connections(),
        0,
        "refused before any connection attempt"
    );
    // With the flag, or when only reading, it goes on to connect, and gives
    // up after --connect-timeout (the server never answers).
    for args in [
        &["--allow-remote", "--connect-timeout", "1"][..],
        &["verify", "--connect-timeout", "1"][..],
        &["--dry-run", "--connect-timeout", "1"][..],
    ] {
        connects_and_gives_up(&mut server, &url, &shown, dir.path(), args);
    }
}

/// `reset` deletes: on a remote database it is refused before any
/// connection, with `--yes` or without; `reset --dry-run` (it only reads)
/// and `reset --allow-remote` go on to connect.
#[test]
fn a_remote_database_is_not_reset_without_allow_remote() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some((mut server, url, shown)) = remote_silent_server() else {
        return;
    };
    for args in [&["reset"][..], &["reset", "--yes"][..]] {
        let out = run_seeder(
            &[args, &["--connect-timeout", "1"]].concat(),
            &[("DATABASE_URL", &url)],
            dir.path(),
        );
        assert_eq!(assert_clean_error(&out), refusal(&shown), "{args:?}");
        assert_eq!(
            server.connections(),
            0,
            "{args:?}: refused before any connection attempt"
        );
    }
    for args in [
        &["reset", "--dry-run", "--connect-timeout", "1"][..],
        &["reset", "--allow-remote", "--yes", "--connect-timeout", "1"][..],
    ] {
        connects_and_gives_up(&mut server, &url, &shown, dir.path(), args);
    }
}

/// Only refusals here: the guard sends nothing to 192.0.2.10. Should it
/// regress, `--connect-timeout 1` keeps the failure quick.
#[test]
fn the_guard_judges_the_host_the_driver_will_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    // No host in the URL: libpq's PGHOST decides, and here it is remote,
    // whether it comes from the environment or from a .env file.
    let url = "postgres:///pulse";
    let out = run_seeder(
        &["--connect-timeout", "1"],
        &[("DATABASE_URL", url), ("PGHOST", "192.0.2.10")],
        dir.path(),
    );
    assert!(
        assert_clean_error(&out).starts_with("error: refusing to write to postgres:///pulse"),
        "{}",
        describe(&out)
    );
    std::fs::write(
        dir.path().join(".env"),
        format!("DATABASE_URL={url}\nPGHOSTADDR=192.0.2.10\n"),
    )
    .expect("write .env");
    let out = run_seeder(&["--connect-timeout", "1"], &[], dir.path());
    assert!(
        assert_clean_error(&out).starts_with("error: refusing to write to postgres:///pulse"),
        "{}",
        describe(&out)
    );
    // A parameter the driver would ignore does not make a remote host
    // local: it is refused before anything else (issue 20).
    let out = run_seeder(
        &["--connect-timeout", "1"],
        &[(
            "DATABASE_URL",
            "mysql://root@192.0.2.10/pulse?host=localhost",
        )],
        dir.path(),
    );
    let line = assert_clean_error(&out);
    assert!(
        line.contains("unknown parameter \"host\"; MySQL/MariaDB URLs take"),
        "{line}"
    );
}

/// The per-table `inserted` counts of a `--json` summary.
fn inserted(summary: &Value) -> Vec<(String, u64)> {
    summary["tables"]
        .as_object()
        .expect("tables")
        .iter()
        .map(|(t, c)| (t.clone(), c["inserted"].as_u64().expect("count")))
        .collect()
}

async fn dry_run_writes_nothing_and_predicts_the_run(db: TestDb) -> anyhow::Result<()> {
    // An empty database: not even the schema is created.
    let preview = json(&db.seeder(&["--dry-run", "--json"]));
    assert_eq!(preview["dry_run"], true);
    assert_eq!(
        preview["migrations_pending"],
        ota_seed_tests::migration_count()
    );
    assert_eq!(
        inserted(&preview),
        [
            ("device_registry".to_owned(), 30),
            ("firmware_versions".to_owned(), 4),
            ("ota_campaigns".to_owned(), 2),
            ("ota_device_status".to_owned(), 30),
            ("tenants".to_owned(), 2),
        ]
    );
    // With --no-migrate it says what the run would say.
    let line = assert_clean_error(&db.seeder(&["--dry-run", "--no-migrate"]));
    assert!(line.contains("has no ota-seed schema"), "{line}");
    let conn = db.connect().await?;
    let manager = migration::SchemaManager::new(&conn);
    assert!(!manager.has_table("seaql_migrations").await?);
    assert!(!manager.has_table("tenants").await?);

    // A partly seeded database: a device and two status rows removed.
    assert_ok(&db.seeder(&["-q"]));
    conn.execute_unprepared(
        "DELETE FROM ota_device_status WHERE tenant_id = 'tenant-a' AND device_id IN \
         ('cold-storage-1-sensor-02', 'warehouse-west-sensor-05')",
    )
    .await?;
    conn.execute_unprepared(
        "DELETE FROM device_registry WHERE tenant_id = 'tenant-b' AND device_id = 'factory-floor-sensor-03'",
    )
    .await?;
    // Other sizes that would cut the campaigns' slices otherwise and give
    // the devices other models: refused by the dry run as by the run,
    // with the same message, nothing written.
    let other = [
        "--tenants",
        "3",
        "--devices-per-site",
        "6",
        "--campaigns-per-tenant",
        "2",
    ];
    let before = table_contents(&conn).await?;
    let refused_preview = assert_clean_error(&db.seeder(&[&other[..], &["--dry-run"]].concat()));
    let refused_run = assert_clean_error(&db.seeder(&other));
    assert_eq!(refused_preview, refused_run);
    assert!(
        refused_run.starts_with(
            "error: refusing to seed tenant tenant-a: it holds another dataset than this one \
             (scenario demo, --seed 42): campaign \"Fleet Update to v1.1.0\" has rows for 15 \
             devices there, the scenario targets 9"
        ),
        "{refused_run}"
    );
    assert_eq!(table_contents(&conn).await?, before, "nothing written");

    // What only adds: a third tenant.
    let grow = ["--tenants", "3"];
    let preview = json(&db.seeder(&[&grow[..], &["--dry-run", "--json"]].concat()));
    assert_eq!(
        table_contents(&conn).await?,
        before,
        "a dry run changes no row"
    );
    assert_eq!(preview["migrations_pending"], 0);
    let run = json(&db.seeder(&[&grow[..], &["--json"]].concat()));
    assert_eq!(
        inserted(&preview),
        inserted(&run),
        "the dry run predicts the run exactly"
    );
    // Worked out by hand. Devices: tenant-b's removed one, and 15 for
    // tenant-0003. Firmware and campaign: tenant-0003's. Status rows:
    // tenant-a's two removed ones (tenant-b's removed device kept its
    // row), and 15 for tenant-0003.
    assert_eq!(
        inserted(&run),
        [
            ("device_registry".to_owned(), 1 + 15),
            ("firmware_versions".to_owned(), 2),
            ("ota_campaigns".to_owned(), 1),
            ("ota_device_status".to_owned(), 2 + 15),
            ("tenants".to_owned(), 1),
        ],
        "{run:#}"
    );
    Ok(())
}

async fn existing_rows_that_disagree_are_left_untouched_and_reported(
    db: TestDb,
) -> anyhow::Result<()> {
    assert_ok(&db.seeder(&["-q"]));
    let conn = db.connect().await?;
    let foreign = "c".repeat(64);
    FirmwareVersions::update_many()
        .col_expr(
            firmware_versions::Column::ChecksumSha256,
            Expr::value(foreign.clone()),
        )
        .filter(firmware_versions::Column::TenantId.eq("tenant-a"))
        .filter(firmware_versions::Column::Version.eq("1.1.0"))
        .exec(&conn)
        .await?;
    conn.execute_unprepared(
        "UPDATE tenants SET name = 'Renamed by hand' WHERE tenant_id = 'tenant-b'",
    )
    .await?;
    let before = table_contents(&conn).await?;

    let expected = [
        "left as found: tenants \"tenant-b\" of tenant-b: name differs from the dataset",
        "left as found: firmware_versions 1.1.0 (sensor) of tenant-a: checksum_sha256 differs from the dataset",
    ];
    let out = assert_ok(&db.seeder(&[]));
    for line in expected {
        assert!(out.contains(line), "{line}\n{out}");
    }
    let preview = assert_ok(&db.seeder(&["--dry-run"]));
    for line in expected {
        assert!(preview.contains(line), "{line}\n{preview}");
    }
    let summary = json(&db.seeder(&["--json"]));
    let differing = summary["differing_rows"].as_array().expect("array");
    assert_eq!(differing.len(), 2, "{summary:#}");
    // In seeding order: tenant-a's firmware, then tenant-b's row.
    assert_eq!(differing[0]["table"], "firmware_versions");
    assert_eq!(differing[0]["tenant_id"], "tenant-a");
    assert_eq!(
        differing[0]["columns"],
        serde_json::json!(["checksum_sha256"])
    );
    assert_eq!(differing[1]["table"], "tenants");
    assert_eq!(differing[1]["columns"], serde_json::json!(["name"]));
    assert_eq!(
        table_contents(&conn).await?,
        before,
        "nothing was overwritten"
    );
    Ok(())
}

backend_tests!(
    dry_run_writes_nothing_and_predicts_the_run,
    existing_rows_that_disagree_are_left_untouched_and_reported
);

#[tokio::test]
async fn passwords_never_appear_in_output_or_json() {
    // PostgreSQL here trusts local connections, so any password is accepted
    // and the whole run, --json included, sees it in the URL.
    run_case(Backend::Postgres, |db: TestDb| async move {
        let user = db.server_url().user().to_owned();
        let url = db.url_as(&user, Some("hunter2"));
        for args in [
            &["--json"][..],
            &[][..],
            &["verify"][..],
            &["--dry-run", "--json"][..],
        ] {
            let out = run_seeder(args, &[("DATABASE_URL", &url)], db.dir.path());
            assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
            let all = describe(&out);
            assert!(!all.contains("hunter2"), "{args:?}:\n{all}");
            assert!(
                all.contains(&format!("postgres://{user}:***@")),
                "{args:?}:\n{all}"
            );
        }
        // A password given as a URL parameter, which the driver accepts.
        let param = db.url_with_options("password=hunter2");
        for args in [&["--json"][..], &["--dry-run"][..]] {
            let out = run_seeder(args, &[("DATABASE_URL", &param)], db.dir.path());
            assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
            let all = describe(&out);
            assert!(!all.contains("hunter2"), "{args:?}:\n{all}");
            assert!(all.contains("password=***"), "{args:?}:\n{all}");
        }
        // An error that quotes the server's message.
        let bad = url.replacen("/ota_seed_", "/missing_ota_seed_", 1);
        let out = run_seeder(&["--json"], &[("DATABASE_URL", &bad)], db.dir.path());
        assert_clean_error(&out);
        assert!(!describe(&out).contains("hunter2"), "{}", describe(&out));
        Ok(())
    })
    .await;
}

#[tokio::test]
async fn postgres_tls_modes_work_through_rustls() {
    run_case(Backend::Postgres, |db: TestDb| async move {
        let with = |params: &str| db.url_with_options(params);
        // sslmode=require: encrypted, certificate not checked.
        let require = with("sslmode=require");
        assert_ok(&run_seeder(
            &["-q"],
            &[("DATABASE_URL", &require)],
            db.dir.path(),
        ));
        let conn = ota_seed_tests::connect(&require).await?;
        let ssl = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            ))
            .await?
            .expect("a row");
        assert!(
            ssl.try_get::<bool>("", "ssl")?,
            "the connection is encrypted"
        );
        conn.close().await?;

        // verify-full checks the chain and the name. The server's
        // certificate is Debian's self-signed snakeoil one, for "localhost".
        let ca = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
        let wrong_name = with(&format!("sslmode=verify-full&sslrootcert={ca}"));
        let out = run_seeder(&["verify"], &[("DATABASE_URL", &wrong_name)], db.dir.path());
        let line = assert_clean_error(&out);
        assert!(line.contains("cannot open database"), "{line}");
        let unknown_ca = with("sslmode=verify-full");
        let out = run_seeder(&["verify"], &[("DATABASE_URL", &unknown_ca)], db.dir.path());
        assert_clean_error(&out);
        let right_name = with(&format!("sslmode=verify-full&sslrootcert={ca}")).replacen(
            "@127.0.0.1:",
            "@localhost:",
            1,
        );
        let out = run_seeder(
            &["verify", "--json"],
            &[("DATABASE_URL", &right_name)],
            db.dir.path(),
        );
        assert_verified(&json(&out), DEMO_COUNTS);
        Ok(())
    })
    .await;
}
