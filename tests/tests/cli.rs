//! The command line's manners, black-box over the real binary: the default
//! SQLite run, exit statuses (0, 1 for broken invariants, 2 for bad
//! input), the `--json` document, `--quiet`, progress on stderr, and bad
//! input answered with one clear line, no panic, nothing written, and no
//! password echoed.
//!
//! The human report's layout (column padding, the invariants line) is
//! asserted here, deliberately and line by line, and nowhere else. What
//! seeding and verification do is tested through the library (seeding.rs,
//! verify.rs, fleet.rs, library_api.rs); the other binary-driven suites
//! test processes, signals and the command's guards.

use ota_seed_tests::{
    Backend, DEMO_COUNTS, TestDb, assert_clean_error, assert_ok, assert_verified, backend_tests,
    describe, run_seeder, violations,
};
use sea_orm::ConnectionTrait;

#[test]
fn default_run_uses_a_sqlite_file_in_the_working_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = run_seeder(&[], &[], dir.path());
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    let file = dir.path().join("ota-seed.sqlite");
    assert!(
        file.exists(),
        "the SQLite file is created in the working directory"
    );
    let out = String::from_utf8_lossy(&first.stdout);
    // The README's example report, line by line.
    let database = format!("database: {}", file.display());
    let applied = format!("migrations: applied {}", ota_seed_tests::migration_count());
    for line in [
        database.as_str(),
        applied.as_str(),
        "seeded tenants: tenant-a, tenant-b",
        "  tenants            inserted 2, already present 0",
        "  device_registry    inserted 30, already present 0",
        "  firmware_versions  inserted 4, already present 0",
        "  ota_campaigns      inserted 2, already present 0, counters recomputed 2",
        "  ota_device_status  inserted 30, already present 0",
        "invariants: all 11 hold",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "no line {line:?} in:\n{out}"
        );
    }

    let second = run_seeder(&[], &[], dir.path());
    assert_eq!(second.status.code(), Some(0), "{}", describe(&second));
    let out = String::from_utf8_lossy(&second.stdout);
    for line in [
        "  tenants            inserted 0, already present 2",
        "  device_registry    inserted 0, already present 30",
        "  firmware_versions  inserted 0, already present 4",
        "  ota_campaigns      inserted 0, already present 2",
        "  ota_device_status  inserted 0, already present 30",
        "invariants: all 11 hold",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "no line {line:?} in:\n{out}"
        );
    }
    assert!(!out.contains("migrations: applied"), "{out}");

    let verify = run_seeder(&["verify"], &[], dir.path());
    assert_eq!(verify.status.code(), Some(0), "{}", describe(&verify));
}

/// A failed verification, as a person reads it: the count of violations
/// on a line of its own, then each violation indented, exit status 1.
#[test]
fn a_failed_verification_lists_each_violation_under_a_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_ok(&run_seeder(&["-q"], &[], dir.path()));
    let sqlite = format!("sqlite://{}", dir.path().join("ota-seed.sqlite").display());
    let fix = |sql: &str| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async {
                let conn = ota_seed_tests::connect(&sqlite).await?;
                conn.execute_unprepared(sql).await?;
                conn.close().await
            })
            .expect("corrupt the database");
    };
    fix("UPDATE ota_campaigns SET succeeded = 13 WHERE tenant_id = 'tenant-a'");
    let out = run_seeder(&["verify"], &[], dir.path());
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let tail: Vec<&str> = text.lines().rev().take(2).collect();
    assert_eq!(
        tail,
        [
            "  invariant 1: ota_campaigns id=1 (tenant-a, \"Fleet Update to v1.1.0\"): counters say 15 total / 13 succeeded / 1 failed, its status rows say 15 / 14 / 1",
            "invariants: 1 violation(s):",
        ],
        "{text}"
    );
}

#[test]
fn unknown_table_lists_the_valid_ones_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_seeder(&["--only", "tenants,firmwares"], &[], dir.path());
    let line = assert_clean_error(&out);
    assert_eq!(
        line,
        "error: unknown table \"firmwares\" in --only; valid names: tenants, devices, firmware, campaigns, device-status, ota"
    );
    assert!(
        !dir.path().join("ota-seed.sqlite").exists(),
        "nothing may be written"
    );
}

#[test]
fn unknown_tenant_lists_the_valid_ones_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_seeder(
        &["--tenant", "tenant-a", "--tenant", "tenant-c"],
        &[],
        dir.path(),
    );
    let line = assert_clean_error(&out);
    assert_eq!(
        line,
        "error: unknown tenant \"tenant-c\"; the dataset's tenants are: tenant-a, tenant-b"
    );
    assert!(
        !dir.path().join("ota-seed.sqlite").exists(),
        "nothing may be written"
    );
}

#[test]
fn malformed_or_unknown_urls_are_refused_without_the_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_seeder(
        &[],
        &[("DATABASE_URL", "oracle://scott:hunter2@localhost/orcl")],
        dir.path(),
    );
    let line = assert_clean_error(&out);
    assert!(line.contains("unsupported scheme \"oracle\""), "{line}");
    assert!(!describe(&out).contains("hunter2"), "{}", describe(&out));

    let out = run_seeder(
        &["--database-url", "postgres://u:hunter2@[bad"],
        &[],
        dir.path(),
    );
    let line = assert_clean_error(&out);
    assert!(line.contains("invalid database URL"), "{line}");
    assert!(!describe(&out).contains("hunter2"), "{}", describe(&out));
}

#[test]
fn an_unreachable_server_is_reported_without_the_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 1 on loopback: nothing listens, the connection is refused.
    let out = run_seeder(
        &["--connect-timeout", "3"],
        &[("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:1/pulse")],
        dir.path(),
    );
    let line = assert_clean_error(&out);
    assert!(
        line.starts_with("error: cannot open database postgres://app:***@127.0.0.1:1/pulse: "),
        "{line}"
    );
    assert!(!describe(&out).contains("hunter2"), "{}", describe(&out));
}

#[test]
fn a_sqlite_file_in_a_missing_directory_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}/no/such/dir/x.sqlite?mode=rwc",
        dir.path().display()
    );
    let out = run_seeder(&["--database-url", &url], &[], dir.path());
    let line = assert_clean_error(&out);
    assert!(line.contains("cannot open database"), "{line}");
    assert!(line.contains("does the directory exist"), "{line}");
}

async fn no_migrate_on_an_empty_database_says_what_to_do(db: TestDb) -> anyhow::Result<()> {
    let out = db.seeder(&["--no-migrate"]);
    let line = assert_clean_error(&out);
    assert!(
        line.contains(&format!(
            "has no ota-seed schema ({n} of {n} migrations not applied)",
            n = ota_seed_tests::migration_count()
        )),
        "{line}"
    );
    assert!(
        line.contains("run the seeder without --no-migrate (it applies them), or apply them with `cargo run -p migration -- -u \"$DATABASE_URL\" up`"),
        "{line}"
    );
    // And nothing was created.
    let conn = db.connect().await?;
    let manager = migration::SchemaManager::new(&conn);
    assert!(!manager.has_table("tenants").await?);
    Ok(())
}

async fn a_schema_newer_than_ours_is_refused(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    conn.execute_unprepared(
        "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m20991231_000001_future', 0)",
    )
    .await?;
    for args in [&[][..], &["verify"][..]] {
        let out = db.seeder(args);
        let line = assert_clean_error(&out);
        assert!(
            line.contains("has migrations this seeder does not know (m20991231_000001_future)"),
            "{line}"
        );
    }
    let manager = migration::SchemaManager::new(&conn);
    assert!(manager.has_table("tenants").await?);
    let rows = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM tenants",
        ))
        .await?
        .expect("a count");
    assert_eq!(
        rows.try_get::<i64>("", "n")?,
        0,
        "nothing seeded into a schema we do not know"
    );
    Ok(())
}

/// `seeder verify --json`: exit status 0 over a clean database, 1 when an
/// invariant is broken, with each violation in `verification.violations`
/// as `{invariant, row, problem}`; `--tenant` scopes it. (Which rows each
/// invariant names is verify.rs's, through the library.)
async fn verify_exit_status_and_json_violations(db: TestDb) -> anyhow::Result<()> {
    assert_ok(&db.seeder(&["-q"]));
    assert_verified(&db.seeder_json(&["verify"], 0), DEMO_COUNTS);
    let conn = db.connect().await?;
    conn.execute_unprepared("UPDATE ota_campaigns SET succeeded = 13 WHERE tenant_id = 'tenant-a'")
        .await?;
    conn.close().await?;
    let summary = db.seeder_json(&["verify"], 1);
    assert_eq!(summary["command"], "verify", "{summary:#}");
    let found = &summary["verification"]["violations"];
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{summary:#}");
    assert_eq!(found[0]["invariant"], 1, "{summary:#}");
    assert!(
        found[0]["row"]
            .as_str()
            .is_some_and(|r| r.starts_with("ota_campaigns id=")),
        "{summary:#}"
    );
    assert!(
        found[0]["problem"]
            .as_str()
            .is_some_and(|p| p.contains("13 succeeded")),
        "{summary:#}"
    );
    let summary = db.seeder_json(&["verify", "--tenant", "tenant-b"], 0);
    assert_eq!(violations(&summary), Vec::<String>::new(), "{summary:#}");
    Ok(())
}

/// `--json` is one document with the run's figures; `--quiet` prints
/// nothing at all; without a terminal, progress is plain lines on stderr.
async fn json_and_quiet_outputs(db: TestDb) -> anyhow::Result<()> {
    let out = db.seeder(&["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(summary["command"], "seed");
    assert_eq!(
        summary["rows_inserted"], 68,
        "2 + 30 + 4 + 2 + 30 rows: {summary}"
    );
    assert_eq!(summary["tables"]["device_registry"]["inserted"], 30);
    assert!(summary["seconds"].as_f64().is_some_and(|s| s > 0.0));
    assert!(summary["rows_per_second"].as_f64().is_some_and(|r| r > 0.0));
    assert_eq!(
        summary["verification"]["violations"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    let out = db.seeder(&["--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        describe(&out)
    );

    // Not a terminal: progress is plain lines on stderr, one per step of
    // each batch (the demo's two tenants are one batch).
    let out = db.seeder(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "tenant-a … tenant-b (2 tenants) ota_device_status: inserted 0, already present 30"
        ),
        "{stderr}"
    );
    Ok(())
}

backend_tests!(
    no_migrate_on_an_empty_database_says_what_to_do,
    a_schema_newer_than_ours_is_refused,
    verify_exit_status_and_json_violations,
    json_and_quiet_outputs,
);

#[tokio::test]
async fn a_wrong_password_is_reported_without_the_password() {
    ota_seed_tests::run_case(Backend::MySql, |db: TestDb| async move {
        let user = db.server_url().user().to_owned();
        let url = db.url_as(&user, Some("hunter2"));
        let out = run_seeder(&["--database-url", &url], &[], db.dir.path());
        let line = assert_clean_error(&out);
        assert!(
            line.contains(&format!("cannot open database mysql://{user}:***@")),
            "{line}"
        );
        assert!(line.contains("Access denied"), "{line}");
        assert!(!describe(&out).contains("hunter2"), "{}", describe(&out));
        Ok(())
    })
    .await;
}

/// Completions and the manual page come from the clap definition: they
/// name the commands and options the parser accepts.
#[test]
fn completions_and_man_page_describe_the_commands() {
    let dir = tempfile::tempdir().expect("tempdir");
    for shell in ["bash", "zsh", "fish"] {
        let out = run_seeder(&["completions", shell], &[], dir.path());
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        for word in [
            "reset",
            "dry-run",
            "statement-timeout",
            "scenarios",
            "summary",
        ] {
            assert!(script.contains(word), "{shell}: no {word}");
        }
    }
    let out = run_seeder(&["man"], &[], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.contains(".TH seeder 1"), "{page}");
    assert!(page.contains("reset"), "{page}");
    let out = run_seeder(&["completions", "tcsh"], &[], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        !dir.path().join("ota-seed.sqlite").exists(),
        "no database opened"
    );
}
