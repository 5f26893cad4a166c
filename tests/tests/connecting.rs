//! Issue 20: connection strings as users write them. Each numbered case
//! of the issue is here with its exit status, and every output (stdout and
//! stderr, plain and `--json`) is checked for the secret. Cases that need
//! no server run everywhere; the others on the PostgreSQL and MariaDB test
//! servers (skipped without them, a failure under CI=true).

use std::net::SocketAddr;
use std::process::Output;
use std::time::{Duration, Instant};

use ota_seed_tests::cleanup::{MySqlUser, PgRole};
use ota_seed_tests::relay::Relay;
use ota_seed_tests::{
    Backend, SilentServer, TestDb, assert_clean_error, assert_ok, describe, run_case, run_seeder,
};
use sea_orm::ConnectionTrait as _;

/// Fails if any piece of `secret` (4 characters or more, or the whole of a
/// shorter one) appears anywhere in the process's output.
fn assert_no_secret(out: &Output, secret: &str) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let width = secret.len().min(4);
    for piece in secret.as_bytes().windows(width) {
        let piece = String::from_utf8_lossy(piece);
        assert!(
            !all.contains(piece.as_ref()),
            "{piece:?} of the secret is printed:\n{}",
            describe(out)
        );
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    ota_seed_tests::free_port().expect("a free loopback port")
}

/// Case 1: a password with an unencoded `/`, `#`, `?` (or `@`, `:`, `%`)
/// is refused before any connection, with the fix, never printed; with
/// `verify`, `--json`, `--dry-run`, and for mysql:// alike.
#[test]
fn unencoded_passwords_are_refused_before_connecting_and_never_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = SilentServer::start();
    let port = server.port();
    for (scheme, password) in [
        ("postgres", "/Zk9+abc="),
        ("postgres", "#Zk9+abc="),
        ("postgres", "?Zk9+abc="),
        ("postgres", "p@ss:w/rd%"),
        ("mysql", "/Zk9+abc="),
        ("mariadb", "p@ss:w/rd%"),
    ] {
        let url = format!("{scheme}://app:{password}@127.0.0.1:{port}/db");
        for args in [
            &["--database-url", &url][..],
            &["verify", "--database-url", &url],
            &["--json", "--database-url", &url],
            &["--dry-run", "--database-url", &url],
        ] {
            let out = run_seeder(args, &[], dir.path());
            let line = assert_clean_error(&out);
            assert!(line.contains("percent-encode"), "{args:?}: {line}");
            assert!(line.contains("%2F"), "{args:?}: {line}");
            assert_no_secret(&out, password);
        }
    }
    assert_eq!(server.connections(), 0, "refused before connecting");
}

/// Case 1, the same from DATABASE_URL: the environment variable's value
/// is never shown either.
#[test]
fn an_unencoded_password_in_the_environment_is_not_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_seeder(
        &["verify"],
        &[("DATABASE_URL", "postgres://app:pa/ss#Qx7z@localhost/db")],
        dir.path(),
    );
    assert_clean_error(&out);
    assert_no_secret(&out, "pa/ss#Qx7z");
}

/// Case 2: sslpassword is a credential: masked in the `database:` line,
/// in errors and in `--json`.
#[test]
fn sslpassword_is_never_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = closed_port();
    let url = format!("postgres://app@127.0.0.1:{port}/db?sslmode=disable&sslpassword=Kpw-4471");
    for args in [
        &["--database-url", &url][..],
        &["verify", "--database-url", &url],
        &["--json", "--database-url", &url],
    ] {
        let out = run_seeder(args, &[], dir.path());
        let line = assert_clean_error(&out);
        assert!(line.contains("sslpassword=***"), "{line}");
        assert_no_secret(&out, "Kpw-4471");
    }
}

/// Case 2: an encrypted client key cannot be read by the driver: refused
/// with the way out, before connecting, the key's password not shown.
#[test]
fn an_encrypted_client_key_is_refused_with_the_way_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("client.key");
    let cert = dir.path().join("client.crt");
    let made = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-aes256", "-pass", "pass:Kpw-4471", "-out"])
        .arg(&key)
        .status()
        .expect("openssl");
    assert!(made.success());
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").expect("write");
    let mut server = SilentServer::start();
    let url = format!(
        "postgres://app@127.0.0.1:{}/db?sslmode=require&sslcert={}&sslkey={}&sslpassword=Kpw-4471",
        server.port(),
        cert.display(),
        key.display()
    );
    let out = run_seeder(&["verify", "--database-url", &url], &[], dir.path());
    let line = assert_clean_error(&out);
    assert!(line.contains("is encrypted"), "{line}");
    assert!(line.contains("openssl pkey"), "{line}");
    assert_no_secret(&out, "Kpw-4471");
    assert_eq!(server.connections(), 0);
}

/// Case 3: masking works on the parsed URL, not on substrings: a one-letter
/// password leaves every word of the message whole. Case 9: a closed port
/// says "connection refused", at once.
#[test]
fn a_one_letter_password_leaves_messages_whole_and_refusal_is_immediate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = closed_port();
    let url = format!("postgres://app:e@127.0.0.1:{port}/pulse");
    let started = Instant::now();
    let out = run_seeder(
        &["verify", "--connect-timeout", "60", "--database-url", &url],
        &[],
        dir.path(),
    );
    let waited = started.elapsed();
    let line = assert_clean_error(&out);
    assert_eq!(
        line,
        format!(
            "error: cannot open database postgres://app:***@127.0.0.1:{port}/pulse: connection \
             refused by 127.0.0.1:{port}: no server listens there (is it running, and on this \
             port?)"
        )
    );
    // The connect timeout is 60 s: a refusal must not wait for it.
    assert!(waited < Duration::from_secs(30), "waited {waited:?}");
}

/// Case 8: channel_binding=require cannot be honoured by the driver: it
/// is refused before connecting, saying so, not ignored.
#[test]
fn channel_binding_require_is_refused_before_connecting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = SilentServer::start();
    let url = format!(
        "postgres://app:Cb-secret-9@127.0.0.1:{}/db?sslmode=require&channel_binding=require",
        server.port()
    );
    let out = run_seeder(&["verify", "--database-url", &url], &[], dir.path());
    let line = assert_clean_error(&out);
    assert!(line.contains("channel_binding=require"), "{line}");
    assert!(line.contains("SCRAM-SHA-256-PLUS"), "{line}");
    assert_no_secret(&out, "Cb-secret-9");
    assert_eq!(server.connections(), 0);
}

/// Case 6: SQLite file names are never re-encoded: a name with `%3F`
/// decodes to `?` once, and every command finds the same file.
#[test]
fn a_sqlite_file_name_with_escapes_works_in_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}/x%3Fy.sqlite?mode=rwc", dir.path().display());
    assert_ok(&run_seeder(
        &["-q", "--database-url", &url],
        &[],
        dir.path(),
    ));
    assert!(dir.path().join("x?y.sqlite").is_file());
    assert_ok(&run_seeder(
        &["verify", "-q", "--database-url", &url],
        &[],
        dir.path(),
    ));
    let out = run_seeder(&["--dry-run", "--database-url", &url], &[], dir.path());
    let text = assert_ok(&out);
    assert!(
        text.contains("would insert 0, already present 30"),
        "{text}"
    );
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sqlite"))
        .collect();
    assert_eq!(entries, ["x?y.sqlite"], "one file, the one named");
}

/// Case 6: the default file in a directory whose name holds `%41` is
/// written there, not in its sibling `pctAdir`.
#[test]
fn the_default_file_is_written_where_it_is_shown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let odd = dir.path().join("pct%41dir");
    let sibling = dir.path().join("pctAdir");
    std::fs::create_dir(&odd).expect("mkdir");
    std::fs::create_dir(&sibling).expect("mkdir");
    let text = assert_ok(&run_seeder(&[], &[], &odd));
    let expected = odd.join("ota-seed.sqlite");
    assert!(
        text.contains(&format!("database: {}", expected.display())),
        "{text}"
    );
    assert!(expected.is_file(), "written where shown");
    assert!(
        !sibling.join("ota-seed.sqlite").exists(),
        "not in the sibling"
    );
    assert_ok(&run_seeder(&["verify", "-q"], &[], &odd));
}

/// Case 9: a SQLite migration that fails is reported at once, not after a
/// fixed 10 s wait for another migrator.
#[tokio::test]
async fn a_failing_sqlite_migration_is_not_delayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("ota-seed.sqlite");
    // Our history says the first migration is applied, but its tables are
    // not there: the next migration fails on a missing table.
    let db = ota_seed_tests::connect(format!("sqlite://{}?mode=rwc", file.display()))
        .await
        .expect("open");
    db.execute_unprepared(
        "CREATE TABLE seaql_migrations (version varchar PRIMARY KEY, applied_at bigint NOT NULL); \
         CREATE TABLE device_registry (id integer PRIMARY KEY)",
    )
    .await
    .expect("create");
    let first = migration_names()[0].clone();
    db.execute_unprepared(&format!(
        "INSERT INTO seaql_migrations VALUES ('{first}', 0)"
    ))
    .await
    .expect("insert");
    db.close().await.expect("close");
    let started = Instant::now();
    let out = run_seeder(&["--connect-timeout", "20"], &[], dir.path());
    let waited = started.elapsed();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        waited < Duration::from_secs(9),
        "waited {waited:?}:\n{}",
        describe(&out)
    );
}

fn migration_names() -> Vec<String> {
    migration::known_migration_names()
}

/// Case 5: an IPv6 literal is an address. The test servers listen on
/// 127.0.0.1, so a relay on [::1] carries the real protocol to them.
async fn ipv6_literals_connect(db: TestDb) -> anyhow::Result<()> {
    let server = db.server_url();
    let target: SocketAddr = format!("127.0.0.1:{}", server.port()).parse()?;
    let relay = Relay::start(target)?;
    let (scheme, user) = match db.backend {
        Backend::Postgres => ("postgres", server.user()),
        _ => ("mysql", server.user()),
    };
    let url = format!("{scheme}://{user}@[::1]:{}/{}", relay.port, db.name());
    let out = run_seeder(&["--database-url", &url], &[], db.dir.path());
    let text = assert_ok(&out);
    assert!(text.contains(&format!("database: {url}")), "{text}");
    assert!(text.contains("invariants: all"), "{text}");
    Ok(())
}

mod ipv6_literals_connect {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::run_case(super::Backend::Postgres, super::ipv6_literals_connect).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        super::run_case(super::Backend::MySql, super::ipv6_literals_connect).await
    }
}

/// Case 4: no user in the URL means PGUSER, else the OS user (libpq's
/// rule), over the server's socket.
async fn a_url_without_user_follows_libpq(db: TestDb) -> anyhow::Result<()> {
    let socket_dir = "/var/run/postgresql";
    let socket = format!("{socket_dir}/.s.PGSQL.{}", db.server_url().port());
    if !std::path::Path::new(&socket).exists() {
        ota_seed_tests::skips::skip_or_fail(
            "PostgreSQL socket",
            &format!("no PostgreSQL socket at {socket}"),
        );
        return Ok(());
    }
    assert_ok(&db.seeder(&["-q"]));
    let url = format!("postgres:///{}?host={socket_dir}", db.name());
    let user = db.server_url().user().to_owned();
    let out = run_seeder(
        &["verify", "--database-url", &url],
        &[("PGUSER", user.as_str())],
        db.dir.path(),
    );
    assert!(
        assert_ok(&out).contains("invariants: all"),
        "{}",
        describe(&out)
    );
    // As the OS user `postgres`, without PGUSER: libpq connects as
    // postgres. (Root runs the tests here; runuser switches user.)
    if user == "postgres" && ota_seed_tests::running_as_root() {
        // A copy of the binary postgres may run: the checkout (and the
        // target directory in it) may sit where only root can enter.
        use std::os::unix::fs::PermissionsExt as _;
        let shared = tempfile::tempdir()?;
        std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755))?;
        let bin = shared.path().join("seeder");
        std::fs::copy(ota_seed_tests::seeder_bin(), &bin)?;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))?;
        let out = ota_seed_tests::process::output_within(
            std::process::Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&bin)
                .args(["verify", "--database-url", &url])
                .env_remove("PGUSER")
                .env_remove("DATABASE_URL")
                .current_dir("/"),
            "seeder verify as the OS user postgres",
            Duration::from_secs(120),
        );
        assert!(
            assert_ok(&out).contains("invariants: all"),
            "{}",
            describe(&out)
        );
    }
    Ok(())
}

ota_seed_tests::backend_tests!(postgres_only: a_url_without_user_follows_libpq);

/// Case 7: a role with CONNECTION LIMIT 1 can verify, dry-run and seed
/// with one job; more jobs run with what the limit leaves, saying so; a
/// role at its limit is told so at once, not after the pool's timeout.
async fn a_role_connection_limit_is_respected(db: TestDb) -> anyhow::Result<()> {
    let role = PgRole::guard(&db, "lim");
    let admin = db.connect().await?;
    admin
        .execute_unprepared(&format!(
            "CREATE ROLE {r} LOGIN CONNECTION LIMIT 1; GRANT ALL ON SCHEMA public TO {r}",
            r = role.name
        ))
        .await?;
    let url = role.url(&db);
    let seed = |args: &[&str]| {
        run_seeder(
            &[args, &["--database-url", &url]].concat(),
            &[],
            db.dir.path(),
        )
    };
    // Migrations take a connection of their own besides the run's: with
    // one allowed, an empty database is refused at once, saying why.
    let started = Instant::now();
    let line = assert_clean_error(&seed(&["-q", "--connect-timeout", "60"]));
    assert!(
        line.contains(&format!("too many connections for role \"{}\"", role.name)),
        "{line}"
    );
    assert!(
        line.contains("applying migrations takes one connection besides the run's"),
        "{line}"
    );
    assert!(!line.contains(" at line "), "{line}");
    assert!(started.elapsed() < Duration::from_secs(30));
    admin
        .execute_unprepared(&format!("ALTER ROLE {} CONNECTION LIMIT 2", role.name))
        .await?;
    assert_ok(&seed(&["-q"]));
    admin
        .execute_unprepared(&format!("ALTER ROLE {} CONNECTION LIMIT 1", role.name))
        .await?;
    assert!(assert_ok(&seed(&["verify"])).contains("invariants: all"));
    assert_ok(&seed(&["--dry-run"]));
    assert_ok(&seed(&["-q", "--jobs", "1"]));
    let out = seed(&["-q", "--jobs", "3"]);
    assert_ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "note: role {} may open 1 connection (CONNECTION LIMIT): running 1 tenant \
             transaction at once instead of 3",
            role.name
        )),
        "{}",
        describe(&out)
    );
    // At its limit: another session of the role holds the one connection.
    let holder = ota_seed_tests::connect(&url).await?;
    holder.execute_unprepared("SELECT 1").await?;
    let started = Instant::now();
    let out = seed(&["verify", "--connect-timeout", "60"]);
    let waited = started.elapsed();
    let line = assert_clean_error(&out);
    assert!(line.contains("too many connections for role"), "{line}");
    assert!(line.contains("connection limit is reached"), "{line}");
    assert!(!line.contains("pool timed out"), "{line}");
    assert!(waited < Duration::from_secs(30), "waited {waited:?}");
    holder.close().await?;
    Ok(())
}

ota_seed_tests::backend_tests!(postgres_only: a_role_connection_limit_is_respected);

/// Case 7 on MariaDB: an account with MAX_USER_CONNECTIONS.
async fn an_account_connection_limit_is_respected(db: TestDb) -> anyhow::Result<()> {
    let user = MySqlUser::guard(&db, "lim");
    let admin = db.connect().await?;
    admin
        .execute_unprepared(&format!(
            "CREATE USER '{u}'@'%' IDENTIFIED BY 'Lim-pw-3391' WITH MAX_USER_CONNECTIONS 2; \
             GRANT ALL ON {d}.* TO '{u}'@'%'",
            u = user.name,
            d = db.name()
        ))
        .await?;
    let url = db.url_as(&user.name, Some("Lim-pw-3391"));
    let seed = |args: &[&str]| {
        let out = run_seeder(
            &[args, &["--database-url", &url]].concat(),
            &[],
            db.dir.path(),
        );
        assert_no_secret(&out, "Lim-pw-3391");
        out
    };
    assert_ok(&seed(&["-q"]));
    admin
        .execute_unprepared(&format!(
            "ALTER USER '{}'@'%' WITH MAX_USER_CONNECTIONS 1",
            user.name
        ))
        .await?;
    assert!(assert_ok(&seed(&["verify"])).contains("invariants: all"));
    assert_ok(&seed(&["--dry-run"]));
    let out = seed(&["-q", "--jobs", "3"]);
    assert_ok(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("may open 1 connection (max_user_connections): running 1 tenant transaction at once instead of 3"),
        "{}",
        describe(&out)
    );
    let holder = ota_seed_tests::connect(&url).await?;
    holder.execute_unprepared("SELECT 1").await?;
    let started = Instant::now();
    let out = seed(&["verify", "--connect-timeout", "60"]);
    let line = assert_clean_error(&out);
    assert!(line.contains("max_user_connections"), "{line}");
    assert!(line.contains("connection limit is reached"), "{line}");
    assert!(started.elapsed() < Duration::from_secs(30));
    holder.close().await?;
    Ok(())
}

mod an_account_connection_limit_is_respected {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        super::run_case(
            super::Backend::MySql,
            super::an_account_connection_limit_is_respected,
        )
        .await
    }
}

/// Case 9: PostgreSQL errors carry no "at line NNN" (the server's C
/// source line), and keep their hint.
async fn server_errors_carry_no_source_lines(db: TestDb) -> anyhow::Result<()> {
    let url = db.database_url("ota_seed_no_such_database");
    let out = run_seeder(&["verify", "--database-url", &url], &[], db.dir.path());
    let line = assert_clean_error(&out);
    assert!(
        line.contains("database \"ota_seed_no_such_database\" does not exist"),
        "{line}"
    );
    assert!(line.contains("create the database first"), "{line}");
    assert!(!line.contains(" at line "), "{line}");
    Ok(())
}

ota_seed_tests::backend_tests!(postgres_only: server_errors_carry_no_source_lines);

/// Case 9: an ed25519 MariaDB account gets the plugins that work and the
/// way out, without sqlx's source location.
async fn an_ed25519_account_is_told_the_way_out(db: TestDb) -> anyhow::Result<()> {
    let user = MySqlUser::guard(&db, "ed");
    let admin = db.connect().await?;
    let plugin = admin
        .execute_unprepared("INSTALL SONAME 'auth_ed25519'")
        .await;
    if let Err(e) = plugin
        && !e.to_string().contains("already")
    {
        anyhow::bail!("cannot install auth_ed25519: {e}");
    }
    admin
        .execute_unprepared(&format!(
            "CREATE USER '{u}'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('Ed-pw-5120'); \
             GRANT ALL ON {d}.* TO '{u}'@'%'",
            u = user.name,
            d = db.name()
        ))
        .await?;
    let url = db.url_as(&user.name, Some("Ed-pw-5120"));
    let out = run_seeder(&["verify", "--database-url", &url], &[], db.dir.path());
    let line = assert_clean_error(&out);
    assert!(line.contains("client_ed25519"), "{line}");
    assert!(
        line.contains("IDENTIFIED VIA mysql_native_password"),
        "{line}"
    );
    assert!(!line.contains("sqlx_mysql::"), "{line}");
    assert_no_secret(&out, "Ed-pw-5120");
    Ok(())
}

mod an_ed25519_account_is_told_the_way_out {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        super::run_case(
            super::Backend::MySql,
            super::an_ed25519_account_is_told_the_way_out,
        )
        .await
    }
}

/// Case 10: the user's application_name (URL or PGAPPNAME) is kept;
/// ota-seed is only the default. A trigger records what each insert's
/// session called itself.
async fn the_users_application_name_is_kept(db: TestDb) -> anyhow::Result<()> {
    let conn = db.migrate().await?;
    conn.execute_unprepared(
        "CREATE TABLE app_seen (name text); \
         CREATE FUNCTION note_app() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           INSERT INTO app_seen VALUES (current_setting('application_name')); RETURN NEW; END $$; \
         CREATE TRIGGER note_app AFTER INSERT ON tenants FOR EACH STATEMENT EXECUTE FUNCTION note_app()",
    )
    .await?;
    let seen = || async {
        let rows = conn
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT name FROM app_seen",
            ))
            .await?;
        conn.execute_unprepared("DELETE FROM app_seen").await?;
        rows.iter()
            .map(|r| r.try_get::<String>("", "name"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(anyhow::Error::from)
    };
    let url = db.url_with_options("application_name=mine-app");
    for (env, url, expected) in [
        (vec![], url.as_str(), "mine-app"),
        (vec![("PGAPPNAME", "from-env")], db.url.as_str(), "from-env"),
        (vec![], db.url.as_str(), "ota-seed"),
    ] {
        assert_ok(&run_seeder(
            &["-q", "--database-url", url],
            &env,
            db.dir.path(),
        ));
        let names = seen().await?;
        assert!(
            !names.is_empty() && names.iter().all(|n| n == expected),
            "{expected}: {names:?}"
        );
        assert_ok(&run_seeder(
            &["reset", "--yes", "-q", "--database-url", url],
            &env,
            db.dir.path(),
        ));
        seen().await?;
    }
    conn.close().await?;
    Ok(())
}

ota_seed_tests::backend_tests!(postgres_only: the_users_application_name_is_kept);

/// Found while building case 1: a real run with a password (the test
/// servers trust any) prints it nowhere, plain or `--json`, and a `+` in
/// a password parameter is a plus (libpq's reading), not a space.
async fn a_full_run_prints_no_password(db: TestDb) -> anyhow::Result<()> {
    let server = db.server_url();
    let url = server
        .as_user(server.user(), Some("Sup3r+Secret"))
        .database_url(db.name());
    for args in [
        &["--database-url", &url][..],
        &["--json", "--database-url", &url],
    ] {
        let out = run_seeder(args, &[], db.dir.path());
        assert_ok(&out);
        assert_no_secret(&out, "Sup3r+Secret");
    }
    Ok(())
}

ota_seed_tests::backend_tests!(postgres_only: a_full_run_prints_no_password);

/// Found while building case 4: libpq's `key=value` form, as psql users
/// write it, connects.
async fn a_libpq_keyword_string_connects(db: TestDb) -> anyhow::Result<()> {
    let server = db.server_url();
    let conninfo = format!(
        "host={} port={} user={} dbname='{}' application_name='ota seed test'",
        server.host(),
        server.port(),
        server.user(),
        db.name()
    );
    let text = assert_ok(&run_seeder(
        &["--database-url", &conninfo],
        &[],
        db.dir.path(),
    ));
    assert!(text.contains("invariants: all"), "{text}");
    Ok(())
}

ota_seed_tests::backend_tests!(postgres_only: a_libpq_keyword_string_connects);
