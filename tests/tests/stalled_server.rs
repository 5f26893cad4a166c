//! A server that stops answering while the seeder writes: its process is
//! paused (SIGSTOP), so its connections stay open and nothing comes back,
//! as from a hung host or a network that drops packets. The seeder must
//! end within `--statement-timeout` plus its grace (10 s), with one line
//! naming the server and what is known of the tenant, and a rerun once the
//! server answers again completes the dataset.
//!
//! Before, it waited without end: in CI a Galera cluster that had stopped
//! replicating held the seeder's COMMIT until the test's 600 s limit (see
//! `galera.rs`, `another_node_killed_under_the_seeder_is_ridden_out`).

use std::time::{Duration, Instant};

use ota_seed_tests::mariadb_server::PrivateMariaDb;
use ota_seed_tests::pgbouncer::{self, Options, PgBouncer, PoolMode};
use ota_seed_tests::{
    Backend, SEEDER_LIMIT, Spawned, TestDb, assert_clean_error, assert_verified, dataset_counts,
    describe, json_summary, run_case, run_seeder, start_seeder, wait_until,
};
use sea_orm::DatabaseConnection;

/// Paused after the first of its five tenants committed.
const FLEET: &[&str] = ota_seed_tests::FLEET_100K;

/// The statement timeout the stalled runs get, in seconds, and the bound
/// on waiting for an answer that follows from it (plus the seeder's 10 s
/// of grace).
const STATEMENT_TIMEOUT: &str = "5";
const ANSWER_BOUND: Duration = Duration::from_secs(15);
/// The pool's acquire timeout (`--connect-timeout`, 10 s by default): a
/// stall met while opening a tenant's transaction is waited for on top of
/// the answer bound.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits until the seeder has committed a tenant, pauses the process with
/// `pause`, and returns the seeder's output and how long after the pause
/// it ended. The process is resumed (`resume`) before returning.
async fn stall_mid_run(
    seeder: Spawned,
    watch: &DatabaseConnection,
    pause: impl Fn() -> anyhow::Result<()>,
    resume: impl Fn() -> anyhow::Result<()>,
) -> anyhow::Result<(std::process::Output, Duration)> {
    wait_until("the seeder committed a tenant", SEEDER_LIMIT, || async {
        Ok(ota_seed_tests::sql::table_rows(watch, "tenants")
            .await
            .unwrap_or(0)
            >= 1)
    })
    .await?;
    pause()?;
    let paused = Instant::now();
    // Bounded well above what the seeder may take, so that a slow end
    // fails the assertion below (with the time it took) rather than this
    // wait.
    let out = seeder.wait(4 * (ANSWER_BOUND + CONNECT_TIMEOUT));
    let took = paused.elapsed();
    resume()?;
    Ok((out, took))
}

/// The seeder's one line after a stall: it names `address`, says the
/// server did not answer (or, when the stall met it while taking a pooled
/// connection, that none could be had), and came within the bound.
fn assert_ended_within_the_bound(out: &std::process::Output, took: Duration, address: &str) {
    let line = assert_clean_error(out);
    assert!(
        line.contains(&format!(
            "the database server at {address} sent no answer for "
        )) || line.contains(&format!("lost the database server at {address} while")),
        "{line}"
    );
    assert!(
        !line.contains("for 0 s"),
        "the bound is the statement timeout plus the grace: {line}"
    );
    assert!(
        took < ANSWER_BOUND + CONNECT_TIMEOUT + Duration::from_secs(15),
        "the seeder took {took:?} to end after the server stopped answering:\n{}",
        describe(out)
    );
    if line.contains("sent no answer") {
        assert!(
            took >= ANSWER_BOUND - Duration::from_secs(1),
            "it gave up after {took:?}, before the statement timeout and the grace had passed: \
             {line}"
        );
        // BEGIN's bound also allows for taking a pooled connection.
        let begin = format!(
            "sent no answer for {} s while starting the tenant's transaction for tenant tenant-",
            (ANSWER_BOUND + CONNECT_TIMEOUT).as_secs()
        );
        assert!(
            line.contains(&begin)
                || (line.contains("sent no answer for 15 s while ")
                    && line.contains("for tenant tenant-")),
            "{line}"
        );
    }
}

/// `seeder verify` against the paused server: one line within the connect
/// timeout (the server never completes the handshake) plus the bound.
fn assert_verify_ends(env: &[(&str, &str)], cwd: &std::path::Path) {
    let started = Instant::now();
    let out = run_seeder(
        &[
            &["verify"],
            FLEET,
            &["--statement-timeout", STATEMENT_TIMEOUT],
        ]
        .concat(),
        env,
        cwd,
    );
    let took = started.elapsed();
    let line = assert_clean_error(&out);
    assert!(
        took < ANSWER_BOUND + CONNECT_TIMEOUT + Duration::from_secs(15),
        "verify took {took:?} against a server that stopped answering: {line}"
    );
}

/// The case, whatever is paused: a seeder of [`FLEET`] through `env`'s
/// URL is paused mid-run with `signal("STOP")` and must end within the
/// bound, naming `address`; `verify` against the still-paused process must
/// end too; after `signal("CONT")` a rerun completes and verifies the
/// dataset. `watch` reads the database without going through what is
/// paused; `log` is what the paused process wrote, for failure messages.
async fn stalled_then_resumed(
    env: &[(&str, &str)],
    cwd: &std::path::Path,
    watch: &DatabaseConnection,
    signal: impl Fn(&str) -> anyhow::Result<()>,
    address: &str,
    log: impl Fn() -> String,
) -> anyhow::Result<()> {
    let counts = dataset_counts(FLEET)?;
    let stalled = [
        FLEET,
        &[
            "-q",
            "--no-verify",
            "--statement-timeout",
            STATEMENT_TIMEOUT,
        ],
    ]
    .concat();
    let seeder = start_seeder(&stalled, env, cwd)?;
    let (out, took) = stall_mid_run(seeder, watch, || signal("STOP"), || signal("CONT")).await?;
    assert_ended_within_the_bound(&out, took, address);

    // Still paused: verify ends too.
    signal("STOP")?;
    assert_verify_ends(env, cwd);
    signal("CONT")?;

    // Answering again: the rerun adds what is missing, and verifies.
    let rerun = run_seeder(&[FLEET, &["--json"]].concat(), env, cwd);
    assert_eq!(
        rerun.status.code(),
        Some(0),
        "{}\n{}",
        describe(&rerun),
        log()
    );
    assert_verified(&json_summary(&rerun, 0), counts);
    Ok(())
}

#[tokio::test]
async fn a_mariadb_server_that_stops_answering_ends_the_run_and_a_rerun_completes()
-> anyhow::Result<()> {
    let Some(server) = PrivateMariaDb::start(&[]).await? else {
        return Ok(());
    };
    let url = server.database_url();
    let watch = server.connect().await?;
    stalled_then_resumed(
        &[("DATABASE_URL", url.as_str())],
        &server.dir(),
        &watch,
        |name| server.signal(name),
        &format!("127.0.0.1:{}", server.port()),
        || server.log(),
    )
    .await
}

#[tokio::test]
async fn a_pgbouncer_that_stops_answering_ends_the_run_and_a_rerun_completes() {
    if !pgbouncer::available() {
        return;
    }
    run_case(Backend::Postgres, |db: TestDb| async move {
        let bouncer = PgBouncer::start(PoolMode::Transaction, Options::default())?;
        let url = bouncer.url_for(&db);
        // Straight to PostgreSQL, not through the paused PgBouncer.
        let watch = db.connect().await?;
        stalled_then_resumed(
            &[("DATABASE_URL", url.as_str())],
            db.dir.path(),
            &watch,
            |name| bouncer.signal(name),
            &format!("127.0.0.1:{}", bouncer.port()),
            || bouncer.log(),
        )
        .await
    })
    .await;
}
