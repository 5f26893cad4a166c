//! What a dead test process left on the shared servers (a database, a
//! role or MySQL user named after its pid) is removed before the next test
//! process creates its first test database; what a live process owns
//! stays (`ota_seed_tests::sweep`).

use ota_seed_tests::sweep::{NAME_PREFIX, dead_pid};
use ota_seed_tests::{Backend, TestDb, run_case};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

/// A database and an account named as `pid`'s test process names them.
fn names(pid: u32, tag: &str) -> (String, String) {
    (
        format!("{NAME_PREFIX}{pid}_0_{tag}"),
        format!("{NAME_PREFIX}{pid}_{tag}"),
    )
}

async fn exists(admin: &DatabaseConnection, sql: String) -> anyhow::Result<bool> {
    let row = admin
        .query_one_raw(Statement::from_string(admin.get_database_backend(), sql))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get::<i64>("", "n")? == 1)
}

/// Whether database `db` and account `account` exist on the server.
async fn present(
    backend: Backend,
    admin: &DatabaseConnection,
    db: &str,
    account: &str,
) -> anyhow::Result<(bool, bool)> {
    let (db_sql, account_sql) = match backend {
        Backend::Postgres => (
            format!("SELECT COUNT(*) AS n FROM pg_database WHERE datname = '{db}'"),
            format!("SELECT COUNT(*) AS n FROM pg_roles WHERE rolname = '{account}'"),
        ),
        _ => (
            format!(
                "SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{db}'"
            ),
            format!("SELECT COUNT(*) AS n FROM mysql.user WHERE User = '{account}'"),
        ),
    };
    Ok((
        exists(admin, db_sql).await?,
        exists(admin, account_sql).await?,
    ))
}

async fn create(backend: Backend, admin: &DatabaseConnection, db: &str, account: &str) {
    let sql = match backend {
        Backend::Postgres => vec![
            format!("CREATE DATABASE {db}"),
            format!("CREATE ROLE {account} LOGIN"),
        ],
        _ => vec![
            format!("CREATE DATABASE {db}"),
            format!("CREATE USER '{account}'@'%' IDENTIFIED BY ''"),
        ],
    };
    for statement in sql {
        admin
            .execute_unprepared(&statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

async fn remove(backend: Backend, admin: &DatabaseConnection, db: &str, account: &str) {
    let account = match backend {
        Backend::Postgres => format!("DROP ROLE IF EXISTS {account}"),
        _ => format!("DROP USER IF EXISTS '{account}'@'%'"),
    };
    for statement in [format!("DROP DATABASE IF EXISTS {db}"), account] {
        if let Err(e) = admin.execute_unprepared(&statement).await {
            eprintln!("warning: {statement}: {e}");
        }
    }
}

/// Leaves a dead process's database and account, and a live process's
/// (this one's), on the shared server; then the case's first test database
/// of this process is created, and in it only the dead one's are gone.
async fn leftovers_of_a_dead_test_process_are_swept(backend: Backend) {
    let Some(server) = backend.server() else {
        return;
    };
    let admin_url = match backend {
        Backend::Postgres => server.database_url("postgres"),
        _ => server.server_url(),
    };
    // Without a server the case is skipped (or fails under CI=true).
    if !server.answers(std::time::Duration::from_secs(2)) {
        run_case(backend, |_| async { Ok(()) }).await;
        return;
    }
    let admin = ota_seed_tests::connect(&admin_url)
        .await
        .expect("connect to the server as the harness does");
    let (dead_db, dead_account) = names(dead_pid(), "swept");
    let (live_db, live_account) = names(std::process::id(), "kept");
    create(backend, &admin, &dead_db, &dead_account).await;
    create(backend, &admin, &live_db, &live_account).await;
    let check = {
        let (dead_db, dead_account) = (dead_db.clone(), dead_account.clone());
        let (live_db, live_account) = (live_db.clone(), live_account.clone());
        let admin_url = admin_url.clone();
        move |_db: TestDb| async move {
            let admin = ota_seed_tests::connect(&admin_url).await?;
            let dead = present(backend, &admin, &dead_db, &dead_account).await?;
            let live = present(backend, &admin, &live_db, &live_account).await?;
            admin.close().await?;
            assert_eq!(
                dead,
                (false, false),
                "the dead process's database {dead_db} and account {dead_account} \
                 (database, account: present?)"
            );
            assert_eq!(
                live,
                (true, true),
                "a live process's database {live_db} and account {live_account} \
                 (database, account: present?)"
            );
            Ok(())
        }
    };
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run_case(
        backend, check,
    )))
    .await;
    remove(backend, &admin, &dead_db, &dead_account).await;
    remove(backend, &admin, &live_db, &live_account).await;
    admin.close().await.expect("close");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

mod leftovers_of_a_dead_test_process_are_swept {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        leftovers_of_a_dead_test_process_are_swept(Backend::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mysql() {
        leftovers_of_a_dead_test_process_are_swept(Backend::MySql).await
    }
}
