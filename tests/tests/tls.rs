//! TLS and authentication as users connect (issue 20): each case runs the
//! real seeder binary with a URL a user would write and checks its exit
//! code, what it wrote or the refusal's message, and that nothing it
//! printed (stdout and stderr) holds the password, token or key.
//!
//! PostgreSQL: a private PostgreSQL (Debian's) with `ssl=on` and only
//! `hostssl` lines for TCP in `pg_hba.conf`, SCRAM passwords, certificates
//! made by the test (`ota_seed_tests::certs`: the server's is for
//! `DNS:localhost` only, so `127.0.0.1` is a host mismatch under
//! verify-full). MariaDB: a private server started with
//! `--require-secure-transport=ON` and the same certificates. One server of
//! each kind is shared by the cases running at once; each case has a
//! database of its own.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use ota_seed_tests::certs::Certs;
use ota_seed_tests::mariadb_server::PrivateMariaDb;
use ota_seed_tests::private_postgres::{PostgresBuilder, PrivatePostgres};
use ota_seed_tests::shared::Shared;
use ota_seed_tests::{Backend, ServerUrl, TestDb, describe, run_case_on, run_seeder};
use sea_orm::{ConnectionTrait, Statement};

/// The SCRAM password of the role `app` on PostgreSQL, and of the user
/// `app` on MariaDB.
const PASSWORD: &str = "s3cr3t-Pa55w0rd-for-tls";

/// The client certificate's user (its common name), logging in by
/// certificate alone.
const CERT_USER: &str = "certuser";

/// A 1,475-character IAM-style authentication token (a presigned request,
/// as cloud databases take for a password): it holds `/`, `?`, `&`, `=`,
/// `%` and `:`, all of which must be percent-encoded in a URL.
fn iam_token(port: u16) -> String {
    let head = format!(
        "localhost:{port}/?Action=connect&DBUser=iam&X-Amz-Algorithm=AWS4-HMAC-SHA256\
         &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20250101%2Fus-east-1%2Frds-db%2Faws4_request\
         &X-Amz-Date=20250101T000000Z&X-Amz-Expires=900&X-Amz-Security-Token="
    );
    let signature =
        "&X-Amz-Signature=6b3f1c0e9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b";
    let filler = "IQoJb3JpZ2luX2VjEJr%2F%2F%2F%2F%2F%2F%2F%2F%2FwEaCXVzLWVhc3QtMSJHMEUCIQD%2B";
    let mut token = head;
    let body = 1475 - token.len() - signature.len();
    token.extend(filler.chars().cycle().take(body));
    token.push_str(signature);
    assert_eq!(token.len(), 1475);
    token
}

/// Every byte but the unreserved ones percent-encoded, for a URL's
/// user-info or query.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The seeder as a user runs it: `seeder --database-url URL` with `env`
/// added, in the test's scratch directory.
fn seeder(db: &TestDb, url: &str, env: &[(&str, &str)]) -> Output {
    run_seeder(&["--database-url", url], env, db.dir.path())
}

/// Neither stdout nor stderr holds any of `secrets`.
fn assert_no_secret(out: &Output, secrets: &[&str]) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in secrets {
        assert!(
            !all.contains(secret),
            "the output shows a secret ({secret:?}):\n{}",
            describe(out)
        );
    }
}

/// Exit 0, the demo's 30 status rows in the database, no secret shown.
async fn assert_seeded(db: &TestDb, out: &Output, secrets: &[&str], table: &str) {
    assert_eq!(out.status.code(), Some(0), "{}", describe(out));
    assert_no_secret(out, secrets);
    let conn = db.connect().await.expect("the test's admin connection");
    let n: i64 = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .expect("counting the status rows")
        .expect("a row")
        .try_get("", "n")
        .expect("n");
    assert_eq!(n, 30, "status rows in {table}");
}

/// Exit 2, one `error:` line holding each of `wanted`, no secret shown.
fn assert_refused(out: &Output, wanted: &[&str], secrets: &[&str]) {
    let line = ota_seed_tests::assert_clean_error(out);
    // Shown with --nocapture: what a user reads.
    println!("refused: {line}");
    for want in wanted {
        assert!(line.contains(want), "{want:?} in:\n{}", describe(out));
    }
    assert_no_secret(out, secrets);
}

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

struct PgTls {
    server: PrivatePostgres,
    certs: Certs,
    token: String,
}

/// A running shared server, known to be there.
struct Running<T>(Arc<Option<T>>);

impl<T> std::ops::Deref for Running<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().as_ref().expect("checked when it was made")
    }
}

/// Runs `case` in a database of its own on the binary's TLS PostgreSQL
/// (owned by `owner`), or skips it when PostgreSQL is not installed (a
/// failure under CI=true).
async fn pg_case<F, Fut>(owner: &str, case: F)
where
    F: FnOnce(TestDb, Running<PgTls>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    if !ota_seed_tests::private_postgres::available() {
        return;
    }
    static SERVER: Shared<Option<PgTls>> = Shared::new();
    let shared = SERVER
        .get(|| {
            let Some(builder) = PostgresBuilder::debian()? else {
                return Ok(None);
            };
            let certs = Certs::make(&["DNS:localhost"], CERT_USER)?;
            let server = builder
                .ssl(&certs.server_cert, &certs.server_key, Some(&certs.ca))
                .setting("password_encryption", "'scram-sha-256'")
                .hba("local all postgres trust")
                .hba("local all all scram-sha-256")
                .hba(&format!("hostssl all {CERT_USER} 127.0.0.1/32 cert"))
                .hba("hostssl all postgres 127.0.0.1/32 trust")
                .hba("hostssl all all 127.0.0.1/32 scram-sha-256")
                .start()?;
            let token = iam_token(server.port());
            server.psql(&format!(
                "CREATE ROLE app LOGIN PASSWORD '{PASSWORD}'; \
                 CREATE ROLE {CERT_USER} LOGIN; \
                 CREATE ROLE iam LOGIN PASSWORD '{token}';"
            ))?;
            Ok(Some(PgTls {
                server,
                certs,
                token,
            }))
        })
        .unwrap_or_else(|e| panic!("starting the TLS PostgreSQL: {e:#}"));
    if shared.is_none() {
        return;
    }
    // `shared` outlives the case: the server must stay up until the
    // harness has dropped the case's database.
    let pg = Running(Arc::clone(&shared));
    // The harness's own connections: the superuser, trusted over TLS.
    let admin = ServerUrl::parse(
        Backend::Postgres,
        &format!(
            "postgres://postgres@127.0.0.1:{}?sslmode=require",
            pg.server.port()
        ),
    )
    .expect("the TLS server's address");
    let owner = owner.to_owned();
    run_case_on(Backend::Postgres, &admin, move |db: TestDb| async move {
        db.connect()
            .await?
            .execute_unprepared(&format!("ALTER DATABASE {} OWNER TO {owner}", db.name()))
            .await?;
        case(db, pg).await
    })
    .await;
    drop(shared);
}

impl PgTls {
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DB?OPTIONS`.
    fn url(
        &self,
        db: &TestDb,
        user: &str,
        password: Option<&str>,
        host: &str,
        options: &str,
    ) -> String {
        let password = password
            .map(|p| format!(":{}", encode(p)))
            .unwrap_or_default();
        let query = if options.is_empty() {
            String::new()
        } else {
            format!("?{options}")
        };
        format!(
            "postgres://{user}{password}@{host}:{}/{}{query}",
            self.server.port(),
            db.name()
        )
    }

    fn ca(&self) -> String {
        path(&self.certs.ca)
    }
}

fn path(p: &Path) -> String {
    p.to_str().expect("a UTF-8 temporary path").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sslmode_require_connects() {
    pg_case("app", |db, pg| async move {
        let url = pg.url(&db, "app", Some(PASSWORD), "127.0.0.1", "sslmode=require");
        assert_seeded(
            &db,
            &seeder(&db, &url, &[]),
            &[PASSWORD],
            "ota_device_status",
        )
        .await;
        Ok(())
    })
    .await;
}

/// With `sslmode` and a root certificate, 127.0.0.1 (not a name of the
/// certificate: the chain is checked, not the name) is refused with the
/// wrong CA, saying each of `refusal`, and seeds with the right one.
async fn takes_the_right_ca_only(
    db: TestDb,
    pg: Running<PgTls>,
    sslmode: &str,
    refusal: &[&str],
) -> anyhow::Result<()> {
    let url = |ca: &str| {
        pg.url(
            &db,
            "app",
            Some(PASSWORD),
            "127.0.0.1",
            &format!("sslmode={sslmode}&sslrootcert={ca}"),
        )
    };
    let wrong = url(&path(&pg.certs.wrong_ca));
    assert_refused(&seeder(&db, &wrong, &[]), refusal, &[PASSWORD]);
    let right = url(&pg.ca());
    assert_seeded(
        &db,
        &seeder(&db, &right, &[]),
        &[PASSWORD],
        "ota_device_status",
    )
    .await;
    Ok(())
}

/// verify-ca checks the chain and not the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_verify_ca_takes_the_right_ca_only() {
    pg_case("app", |db, pg| async move {
        takes_the_right_ca_only(
            db,
            pg,
            "verify-ca",
            &["invalid peer certificate: UnknownIssuer"],
        )
        .await
    })
    .await;
}

/// verify-full checks the name too: `localhost` (the certificate's name)
/// connects, `127.0.0.1` is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_verify_full_checks_the_host_name() {
    pg_case("app", |db, pg| async move {
        let options = format!("sslmode=verify-full&sslrootcert={}", pg.ca());
        let mismatch = pg.url(&db, "app", Some(PASSWORD), "127.0.0.1", &options);
        assert_refused(
            &seeder(&db, &mismatch, &[]),
            &["certificate not valid for name \"127.0.0.1\""],
            &[PASSWORD],
        );
        let right = pg.url(&db, "app", Some(PASSWORD), "localhost", &options);
        assert_seeded(
            &db,
            &seeder(&db, &right, &[]),
            &[PASSWORD],
            "ota_device_status",
        )
        .await;
        Ok(())
    })
    .await;
}

/// Without TLS the server has no line for the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sslmode_disable_is_refused_by_the_server() {
    pg_case("app", |db, pg| async move {
        let url = pg.url(&db, "app", Some(PASSWORD), "127.0.0.1", "sslmode=disable");
        assert_refused(
            &seeder(&db, &url, &[]),
            &["no pg_hba.conf entry", "no encryption"],
            &[PASSWORD],
        );
        Ok(())
    })
    .await;
}

/// The role's password is a SCRAM verifier; the right password connects, a
/// wrong one is refused, and neither is shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_scram_password() {
    pg_case("app", |db, pg| async move {
        let verifier = pg
            .server
            .psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'")?;
        assert!(verifier.starts_with("SCRAM-SHA-256$"), "{verifier}");
        let wrong_password = "not-the-Pa55w0rd";
        let wrong = pg.url(
            &db,
            "app",
            Some(wrong_password),
            "localhost",
            "sslmode=require",
        );
        assert_refused(
            &seeder(&db, &wrong, &[]),
            &["password authentication failed"],
            &[wrong_password, PASSWORD],
        );
        let right = pg.url(&db, "app", Some(PASSWORD), "localhost", "sslmode=require");
        assert_seeded(
            &db,
            &seeder(&db, &right, &[]),
            &[PASSWORD],
            "ota_device_status",
        )
        .await;
        Ok(())
    })
    .await;
}

/// A 1,475-character IAM-style token as the password, percent-encoded in
/// the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_iam_token_as_the_password() {
    pg_case("iam", |db, pg| async move {
        let url = pg.url(&db, "iam", Some(&pg.token), "localhost", "sslmode=require");
        let encoded = encode(&pg.token);
        assert!(url.contains(&format!(":{encoded}@")), "percent-encoded");
        let signature = pg.token.rsplit('=').next().expect("a signature");
        assert_seeded(
            &db,
            &seeder(&db, &url, &[]),
            &[&pg.token, &encoded, signature, "X-Amz-Security-Token"],
            "ota_device_status",
        )
        .await;
        Ok(())
    })
    .await;
}

/// A `hostssl ... cert` line: the client certificate (signed by the server's
/// CA, its common name the user) is the only credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_client_certificate() {
    pg_case(CERT_USER, |db, pg| async move {
        let key = std::fs::read_to_string(&pg.certs.client_key)?;
        let key_body = key
            .lines()
            .find(|l| !l.starts_with("-----"))
            .expect("a PEM body")
            .to_owned();
        let base = format!("sslmode=verify-full&sslrootcert={}", pg.ca());
        let without = pg.url(&db, CERT_USER, None, "localhost", &base);
        assert_refused(
            &seeder(&db, &without, &[]),
            &["connection requires a valid client certificate"],
            &[&key_body],
        );
        let with = pg.url(
            &db,
            CERT_USER,
            None,
            "localhost",
            &format!(
                "{base}&sslcert={}&sslkey={}",
                path(&pg.certs.client_cert),
                path(&pg.certs.client_key)
            ),
        );
        assert_seeded(
            &db,
            &seeder(&db, &with, &[]),
            &[&key_body],
            "ota_device_status",
        )
        .await;
        Ok(())
    })
    .await;
}

/// The password from `PGPASSWORD`, none in the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pgpassword() {
    pg_case("app", |db, pg| async move {
        let url = pg.url(&db, "app", None, "localhost", "sslmode=require");
        let out = seeder(&db, &url, &[("PGPASSWORD", PASSWORD)]);
        assert_seeded(&db, &out, &[PASSWORD], "ota_device_status").await;
        Ok(())
    })
    .await;
}

/// The password from a `.pgpass` file (`PGPASSFILE`), none in the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pgpass_file() {
    pg_case("app", |db, pg| async move {
        use std::os::unix::fs::PermissionsExt as _;
        let file = db.dir.path().join("pgpass");
        std::fs::write(
            &file,
            format!(
                "localhost:{}:{}:app:{PASSWORD}\n",
                pg.server.port(),
                db.name()
            ),
        )?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        let url = pg.url(&db, "app", None, "localhost", "sslmode=require");
        let out = seeder(&db, &url, &[("PGPASSFILE", &path(&file))]);
        assert_seeded(&db, &out, &[PASSWORD], "ota_device_status").await;
        Ok(())
    })
    .await;
}

/// The host a socket directory, `%2F`-encoded (`local` lines, SCRAM).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_socket_directory_as_the_host() {
    pg_case("app", |db, pg| async move {
        let host = encode(&path(pg.server.socket_dir()));
        assert!(host.starts_with("%2F"), "{host}");
        let url = pg.url(&db, "app", Some(PASSWORD), &host, "");
        assert_seeded(
            &db,
            &seeder(&db, &url, &[]),
            &[PASSWORD],
            "ota_device_status",
        )
        .await;
        Ok(())
    })
    .await;
}

/// `options=-c search_path=ota`: the seeder creates and fills its tables in
/// that schema, none in `public`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_options_search_path() {
    pg_case("app", |db, pg| async move {
        let conn = db.connect().await?;
        conn.execute_unprepared("CREATE SCHEMA ota AUTHORIZATION app")
            .await?;
        let url = pg.url(
            &db,
            "app",
            Some(PASSWORD),
            "localhost",
            &format!("sslmode=require&options={}", encode("-c search_path=ota")),
        );
        assert_seeded(
            &db,
            &seeder(&db, &url, &[]),
            &[PASSWORD],
            "ota.ota_device_status",
        )
        .await;
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT string_agg(DISTINCT table_schema, ',') AS s FROM information_schema.tables \
                 WHERE table_name IN ('tenants', 'ota_device_status', 'seaql_migrations')",
            ))
            .await?
            .expect("a row");
        assert_eq!(row.try_get::<String>("", "s")?, "ota");
        Ok(())
    })
    .await;
}

// ---------------------------------------------------------------------------
// MariaDB
// ---------------------------------------------------------------------------

struct MyTls {
    server: PrivateMariaDb,
    certs: Certs,
}

/// Runs `case` in a database of its own on the binary's MariaDB that
/// requires secure transport, or skips it when MariaDB is not installed (a
/// failure under CI=true). The user `app` (password [`PASSWORD`]) may do
/// anything in it.
async fn mysql_case<F, Fut>(case: F)
where
    F: FnOnce(TestDb, Running<MyTls>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    if !ota_seed_tests::mariadb_server::available() {
        return;
    }
    static SERVER: Shared<Option<MyTls>> = Shared::new();
    let shared = SERVER
        .get(|| {
            // Started on a runtime of its own: the harness's start is async,
            // and the shared slot is taken synchronously.
            std::thread::spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(start_mysql_tls())
            })
            .join()
            .map_err(|_| anyhow::anyhow!("starting MariaDB panicked"))?
        })
        .unwrap_or_else(|e| panic!("starting the TLS MariaDB: {e:#}"));
    if shared.is_none() {
        return;
    }
    let my = Running(Arc::clone(&shared));
    // The harness's own connections: root over TLS (unverified).
    let admin = ServerUrl::parse(
        Backend::MySql,
        &format!("{}?ssl-mode=REQUIRED", my.server.url()),
    )
    .expect("the TLS server's address");
    run_case_on(Backend::MySql, &admin, move |db: TestDb| case(db, my)).await;
    drop(shared);
}

async fn start_mysql_tls() -> anyhow::Result<Option<MyTls>> {
    let certs = Certs::make(&["DNS:localhost"], CERT_USER)?;
    let Some(server) = PrivateMariaDb::start(&[
        &format!("--ssl-ca={}", path(&certs.ca)),
        &format!("--ssl-cert={}", path(&certs.server_cert)),
        &format!("--ssl-key={}", path(&certs.server_key)),
        "--require-secure-transport=ON",
    ])
    .await?
    else {
        return Ok(None);
    };
    server
        .admin()
        .await?
        .execute_unprepared(&format!(
            "CREATE USER app@'%' IDENTIFIED BY '{PASSWORD}'; \
             GRANT ALL ON *.* TO app@'%'"
        ))
        .await?;
    Ok(Some(MyTls { server, certs }))
}

impl MyTls {
    /// `mysql://app:PASSWORD@HOST:PORT/DB?OPTIONS`.
    fn url(&self, db: &TestDb, host: &str, options: &str) -> String {
        format!(
            "mysql://app:{}@{host}:{}/{}?{options}",
            encode(PASSWORD),
            self.server.port(),
            db.name()
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_ssl_mode_required_connects() {
    mysql_case(|db, my| async move {
        let url = my.url(&db, "127.0.0.1", "ssl-mode=REQUIRED");
        assert_seeded(
            &db,
            &seeder(&db, &url, &[]),
            &[PASSWORD],
            "ota_device_status",
        )
        .await;
        Ok(())
    })
    .await;
}

/// With `ssl-mode` and `ssl-ca=`, 127.0.0.1 (not a name of the
/// certificate: the chain is checked, not the name) is refused with the
/// wrong CA and seeds with the right one.
async fn mysql_takes_the_right_ca_only(
    db: TestDb,
    my: Running<MyTls>,
    ssl_mode: &str,
) -> anyhow::Result<()> {
    let url = |ca: &Path| {
        my.url(
            &db,
            "127.0.0.1",
            &format!("ssl-mode={ssl_mode}&ssl-ca={}", path(ca)),
        )
    };
    assert_refused(
        &seeder(&db, &url(&my.certs.wrong_ca), &[]),
        &["invalid peer certificate: UnknownIssuer"],
        &[PASSWORD],
    );
    assert_seeded(
        &db,
        &seeder(&db, &url(&my.certs.ca), &[]),
        &[PASSWORD],
        "ota_device_status",
    )
    .await;
    Ok(())
}

/// VERIFY_CA checks the chain and not the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_verify_ca_takes_the_right_ca_only() {
    mysql_case(|db, my| mysql_takes_the_right_ca_only(db, my, "VERIFY_CA")).await;
}

/// VERIFY_IDENTITY checks the name: `localhost` connects, `127.0.0.1` is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_verify_identity_checks_the_host_name() {
    mysql_case(|db, my| async move {
        let options = format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", path(&my.certs.ca));
        let mismatch = my.url(&db, "127.0.0.1", &options);
        assert_refused(
            &seeder(&db, &mismatch, &[]),
            &["certificate not valid for name \"127.0.0.1\""],
            &[PASSWORD],
        );
        let right = my.url(&db, "localhost", &options);
        assert_seeded(
            &db,
            &seeder(&db, &right, &[]),
            &[PASSWORD],
            "ota_device_status",
        )
        .await;
        Ok(())
    })
    .await;
}

/// A plain connection is refused by the server. MariaDB 10.11 says only
/// "Access denied" (its own client gets the same), so the same credentials
/// then connect over TLS: the transport was refused, not the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_plain_connection_is_refused() {
    mysql_case(|db, my| async move {
        let url = my.url(&db, "127.0.0.1", "ssl-mode=DISABLED");
        assert_refused(
            &seeder(&db, &url, &[]),
            &["Access denied for user 'app'@'127.0.0.1' (using password: YES)"],
            &[PASSWORD],
        );
        let url = my.url(&db, "127.0.0.1", "ssl-mode=REQUIRED");
        assert_seeded(
            &db,
            &seeder(&db, &url, &[]),
            &[PASSWORD],
            "ota_device_status",
        )
        .await;
        Ok(())
    })
    .await;
}

/// `socket=` (a Unix socket counts as secure transport).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_socket_parameter() {
    mysql_case(|db, my| async move {
        let url = format!(
            "mysql://app:{}@localhost/{}?socket={}",
            encode(PASSWORD),
            db.name(),
            encode(&path(&my.server.socket()))
        );
        assert_seeded(
            &db,
            &seeder(&db, &url, &[]),
            &[PASSWORD],
            "ota_device_status",
        )
        .await;
        Ok(())
    })
    .await;
}

/// Issue 20, case 8: as libpq, a root certificate given with
/// `sslmode=require` makes the seeder check the chain: the wrong CA is
/// refused (it connected before), the right one connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_require_with_a_root_certificate_checks_the_chain() {
    pg_case("app", |db, pg| async move {
        takes_the_right_ca_only(
            db,
            pg,
            "require",
            &[
                "invalid peer certificate: UnknownIssuer",
                "not signed by the root certificate given",
            ],
        )
        .await
    })
    .await;
}

/// The same kind on MariaDB, as the MySQL clients do: `ssl-ca` with
/// `ssl-mode=REQUIRED` checks the chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_required_with_a_ca_checks_the_chain() {
    mysql_case(|db, my| mysql_takes_the_right_ca_only(db, my, "REQUIRED")).await;
}
