//! Hostile and mistaken input: each is answered with one line of error,
//! exit status 2, no panic, and nothing written.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Output};

use entity::prelude::*;
use ota_seed_tests::{
    Backend, SEEDER_LIMIT, TestDb, assert_clean_error, assert_ok, backend_tests, json_summary,
    output_within, run_case, run_seeder, seeder_bin, table_counts, violations,
};
use sea_orm::{ConnectOptions, ConnectionTrait, EntityTrait, PaginatorTrait};

#[test]
fn sizes_that_are_zero_negative_non_numeric_or_absurd_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&[&str], &str); 8] = [
        (
            &["--tenants", "0"],
            "error: invalid value '0' for '--tenants <N>': 0 is not in 1..=100000 (see --help)",
        ),
        (
            &["--devices-per-site", "-1"],
            "error: invalid value '-1' for '--devices-per-site <N>': -1 is not in 1..=1000000 (see --help)",
        ),
        (
            &["--sites-per-tenant", "many"],
            "error: invalid value 'many' for '--sites-per-tenant <N>': invalid digit found in string (see --help)",
        ),
        (
            &["--campaigns-per-tenant", "1001"],
            "error: invalid value '1001' for '--campaigns-per-tenant <N>': 1001 is not in 1..=1000 (see --help)",
        ),
        (
            &["--tenants", "99999999999999999999999"],
            "error: invalid value '99999999999999999999999' for '--tenants <N>': number too large to fit in target type (see --help)",
        ),
        (
            &[
                "--sites-per-tenant",
                "1000000",
                "--devices-per-site",
                "1000",
            ],
            "error: --sites-per-tenant 1000000 × --devices-per-site 1000 = 1000000000 devices per tenant, more than the 50000000 this seeder accepts",
        ),
        (
            &[
                "--tenants",
                "100000",
                "--sites-per-tenant",
                "1000",
                "--devices-per-site",
                "100",
            ],
            "error: --tenants 100000 × --sites-per-tenant 1000 = 100000000 sites in all, more than the 1000000 this seeder accepts (site ids are held in memory)",
        ),
        (
            &[
                "--tenants",
                "1000",
                "--sites-per-tenant",
                "1000",
                "--devices-per-site",
                "10000",
            ],
            "error: --tenants 1000 × 10000000 devices = 10000000000 devices in all, more than the 1000000000 this seeder accepts",
        ),
    ];
    for (args, expected) in cases {
        let out = run_seeder(args, &[], dir.path());
        assert_eq!(assert_clean_error(&out), expected, "{args:?}");
        assert!(
            !dir.path().join("ota-seed.sqlite").exists(),
            "{args:?}: nothing may be written"
        );
    }
}

/// Tenant ids that a careless script or an attacker might pass. They are
/// compared with the dataset's ids and refused; they never reach SQL text.
const HOSTILE_TENANTS: [&str; 6] = [
    "tenant-a'; DROP TABLE tenants; --",
    "tenant-a\" OR \"1\"=\"1",
    "テナント-ä 🚀",
    "tenant-a\n",
    "%",
    "",
];

async fn hostile_tenant_values_are_refused_as_unknown(db: TestDb) -> anyhow::Result<()> {
    assert_ok(&db.seeder(&["-q"]));
    let long = "x".repeat(300);
    for id in HOSTILE_TENANTS.iter().copied().chain([long.as_str()]) {
        let out = db.seeder(&["--tenant", id]);
        let line = assert_clean_error(&out);
        assert!(line.starts_with("error: unknown tenant \""), "{line}");
        assert!(
            line.ends_with("the dataset's tenants are: tenant-a, tenant-b"),
            "{line}"
        );
        // At most the first 100 characters are echoed.
        assert!(line.len() < 250, "{line}");
    }
    let conn = db.connect().await?;
    assert_eq!(Tenants::find().count(&conn).await?, 2);
    assert_eq!(OtaDeviceStatus::find().count(&conn).await?, 30);
    Ok(())
}

backend_tests!(hostile_tenant_values_are_refused_as_unknown);

async fn a_database_that_does_not_exist_is_reported(db: TestDb) -> anyhow::Result<()> {
    let missing = format!("{}_missing", db.name());
    let url = db.database_url(&missing);
    let out = run_seeder(&["--database-url", &url], &[], db.dir.path());
    let line = assert_clean_error(&out);
    assert!(
        line.contains(&format!("cannot open database {url}")),
        "{line}"
    );
    assert!(
        line.contains("create the database first, or name an existing one in the URL"),
        "{line}"
    );
    // Not created behind the user's back.
    let conn = ota_seed_tests::connect(&db.admin_url()).await?;
    let sql = match db.backend {
        Backend::Postgres => format!("SELECT 1 FROM pg_database WHERE datname = '{missing}'"),
        _ => format!("SELECT 1 FROM information_schema.schemata WHERE schema_name = '{missing}'"),
    };
    let found = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            sql,
        ))
        .await?;
    assert!(found.is_none(), "the database must not be created");
    Ok(())
}

#[tokio::test]
async fn postgres_database_that_does_not_exist() {
    run_case(
        Backend::Postgres,
        a_database_that_does_not_exist_is_reported,
    )
    .await;
}

#[tokio::test]
async fn mysql_database_that_does_not_exist() {
    run_case(Backend::MySql, a_database_that_does_not_exist_is_reported).await;
}

fn sha256(path: &Path) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(
        std::fs::read(path).expect("read file"),
    ))
}

#[test]
fn a_file_that_is_not_a_database_is_reported_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("notes.sqlite");
    std::fs::write(
        &file,
        "Meeting notes: remember to seed the demo database.\n".repeat(20),
    )
    .expect("write");
    let before = sha256(&file);
    let url = format!("sqlite://{}", file.display());
    for args in [&[][..], &["verify"][..], &["--dry-run"][..]] {
        let out = run_seeder(args, &[("DATABASE_URL", &url)], dir.path());
        let line = assert_clean_error(&out);
        assert!(line.contains("file is not a database"), "{args:?}: {line}");
        assert!(line.contains("name another file"), "{line}");
    }
    assert_eq!(sha256(&file), before, "the file must not change");
}

#[test]
fn verify_and_dry_run_never_create_a_sqlite_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_seeder(&["verify"], &[], dir.path());
    let line = assert_clean_error(&out);
    assert!(line.contains("there is nothing to verify yet"), "{line}");
    let summary = json_summary(&run_seeder(&["--dry-run", "--json"], &[], dir.path()), 0);
    assert_eq!(
        summary["migrations_pending"],
        ota_seed_tests::migration_count(),
        "{summary:#}"
    );
    assert_eq!(table_counts(&summary, "ota_device_status"), (30, 0, 0));
    assert!(!dir.path().join("ota-seed.sqlite").exists());
}

/// Runs the seeder as an unprivileged user when the tests run as root
/// (root ignores file permissions), so that read-only really is.
/// `cwd` must be readable by everyone. The unprivileged user runs a copy of
/// the binary placed there: the checkout itself may sit in a directory only
/// root can enter (a `mktemp -d` clone, for one).
fn seeder_without_privileges(args: &[&str], url: &str, cwd: &Path) -> Output {
    let mut binary = seeder_bin();
    let root = ota_seed_tests::running_as_root();
    if root {
        let copy = cwd.join("ota-seeder-copy");
        if !copy.exists() {
            std::fs::copy(&binary, &copy).expect("copy the seeder binary");
            set_mode(&copy, 0o755);
        }
        binary = copy;
    }
    let mut cmd = Command::new(binary);
    cmd.args(args)
        .current_dir(cwd)
        .env("DATABASE_URL", url)
        .env("NO_COLOR", "1");
    if root {
        cmd.uid(65534).gid(65534);
    }
    output_within(
        &mut cmd,
        &format!("unprivileged seeder {args:?}"),
        SEEDER_LIMIT,
    )
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A file or directory made read-only for the test, made writable again
/// when the guard goes, also when an assertion fails (a read-only
/// directory left behind cannot be removed with its temporary parent).
struct ReadOnly(std::path::PathBuf);

impl ReadOnly {
    fn set(path: &Path, mode: u32) -> ReadOnly {
        set_mode(path, mode);
        ReadOnly(path.to_owned())
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt as _;
        let writable = if self.0.is_dir() { 0o755 } else { 0o644 };
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(writable));
    }
}

#[test]
fn a_read_only_directory_or_file_is_reported_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    set_mode(dir.path(), 0o755);
    let locked_dir = dir.path().join("read-only");
    std::fs::create_dir(&locked_dir).expect("mkdir");

    // A new file in a directory nobody may write to.
    let read_only_dir = ReadOnly::set(&locked_dir, 0o555);
    let url = format!("sqlite://{}/x.sqlite?mode=rwc", locked_dir.display());
    let out = seeder_without_privileges(&[], &url, dir.path());
    let line = assert_clean_error(&out);
    assert!(line.contains("unable to open database file"), "{line}");
    assert!(line.contains("is it writable?"), "{line}");
    assert!(!locked_dir.join("x.sqlite").exists());

    // An existing database that is read-only for this user.
    drop(read_only_dir);
    let file = locked_dir.join("seeded.sqlite");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    assert_ok(&run_seeder(
        &["-q", "--tenant", "tenant-a"],
        &[("DATABASE_URL", &url)],
        dir.path(),
    ));
    let _read_only_file = ReadOnly::set(&file, 0o444);
    let _read_only_dir = ReadOnly::set(&locked_dir, 0o555);
    let before = sha256(&file);
    // -q: only the error (tenant-a, complete, needs no write and passes).
    let out = seeder_without_privileges(&["-q"], &url, dir.path());
    let line = assert_clean_error(&out);
    assert!(line.contains("readonly database"), "{line}");
    assert!(line.contains("read-only for this user"), "{line}");
    assert_eq!(sha256(&file), before, "the file must not change");
    // Reading still works.
    let out = seeder_without_privileges(
        &["verify", "--tenant", "tenant-a", "--json"],
        &url,
        dir.path(),
    );
    let summary = json_summary(&out, 0);
    assert_eq!(violations(&summary), Vec::<String>::new(), "{summary:#}");
    assert_eq!(
        summary["verification"]["campaigns"][0]["rows"], 15,
        "{summary:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_locked_by_another_process_is_reported_after_the_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("ota-seed.sqlite");
    assert_ok(&run_seeder(&["-q"], &[], dir.path()));
    // Another process's exclusive lock: a connection of ours in the middle
    // of an EXCLUSIVE transaction.
    // One connection, so BEGIN and ROLLBACK run on the same one.
    let mut options = ConnectOptions::new(format!("sqlite://{}", file.display()));
    options.max_connections(1);
    let holder = ota_seed_tests::connect(options).await.expect("open");
    holder
        .execute_unprepared("BEGIN EXCLUSIVE")
        .await
        .expect("lock");
    let started = std::time::Instant::now();
    let out = run_seeder(&["--connect-timeout", "1"], &[], dir.path());
    let waited = started.elapsed();
    let line = assert_clean_error(&out);
    assert!(line.contains("database is locked"), "{line}");
    assert!(line.contains("try again when it has finished"), "{line}");
    // A lower bound only (the busy timeout, less rounding): it fails if the
    // seeder does not wait for the lock, never because a machine is slow.
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "it waits for the lock first ({waited:?})"
    );
    holder.execute_unprepared("ROLLBACK").await.expect("unlock");
    holder.close().await.expect("close");
    // Once the lock is gone, it works.
    assert_ok(&run_seeder(&["-q"], &[], dir.path()));
}
