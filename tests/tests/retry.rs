//! The retry path, exercised deterministically against a running seeder:
//! the test disrupts its tenant transaction, and the seeder starts it again
//! and finishes. No step waits for a fixed time: each waits (bounded) for
//! a state the server reports (a session waiting for a lock, a session
//! gone).
//!
//! Setup: the test inserts, uncommitted, devices of tenant-a, one of them a
//! planned one, so the seeder's insert of that device waits for the test's
//! transaction T. Then either:
//! - deadlock on PostgreSQL: a second test transaction U holds tenant-a's
//!   row before the seeder starts, so the seeder queues on it; T queues
//!   behind the seeder for the same row; U commits. The seeder now holds
//!   the row and T waits for it, so the seeder's insert of the device T
//!   holds closes the cycle. PostgreSQL checks for a deadlock in the
//!   session that has waited `deadlock_timeout`: 100 ms for the seeder
//!   (this test database's setting), 60 s for T (its own), so the seeder,
//!   and only the seeder, is the victim;
//! - deadlock on MariaDB: the test asks for `FOR UPDATE` on tenant-a's row,
//!   which the seeder holds while it waits for T: InnoDB detects the cycle
//!   at once and aborts the transaction that did less work, the seeder's
//!   (T has inserted 21 rows);
//! - dropped connection: the test kills the seeder's server session
//!   (`pg_terminate_backend`, `KILL CONNECTION`), as a failover would, and
//!   waits until the server has ended it before letting the seeder's
//!   retry through.
//!
//! SQLite has a single writer and no sessions to kill: server-only tests.

use std::time::Duration;

use entity::device_registry;
use entity::prelude::*;
use ota_seed_tests::{
    Backend, SEEDER_LIMIT, TestDb, assert_ok, describe, run_case, violations, wait_until,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, Set, Statement, TransactionTrait,
};

/// Bound of every wait for a state: failing it means the state never came.
const READY: Duration = Duration::from_secs(60);

/// The retry line of the human report (`--json` reports the same count as
/// its `retries` field).
const RETRIED_ONCE: &str = "retried 1 tenant transaction(s) after transient errors (deadlock, serialization failure, cluster write conflict, lost connection)";

/// The server's id of the session `conn` runs on.
async fn session_id(conn: &impl ConnectionTrait, backend: Backend) -> anyhow::Result<i64> {
    let sql = match backend {
        Backend::Postgres => "SELECT pg_backend_pid()::int8 AS n",
        _ => "SELECT CAST(CONNECTION_ID() AS SIGNED) AS n",
    };
    ota_seed_tests::sql::number(conn, sql).await
}

/// Ids of this database's sessions, other than `ours`, that wait for a
/// lock the test holds. Asked on a connection of its own: PostgreSQL
/// caches pg_stat_activity for the rest of a transaction.
///
/// MariaDB does not always list a transaction whose first write waits in
/// INNODB_TRX; its process list shows the statement. The seeder's insert
/// of tenant-a's devices runs only once it holds tenant-a's row, and it
/// cannot finish while T holds the first device: from then on both
/// disruptions work whether or not the wait has begun (InnoDB picks the
/// deadlock victim by weight, not by who closed the cycle; a killed
/// session ends its transaction either way).
async fn waiting_sessions(
    observer: &DatabaseConnection,
    backend: Backend,
    ours: &[i64],
) -> anyhow::Result<Vec<i64>> {
    let sql = match backend {
        Backend::Postgres => {
            "SELECT pid::int8 AS id FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock' ORDER BY pid"
        }
        _ => {
            "SELECT CAST(ID AS SIGNED) AS id FROM information_schema.PROCESSLIST \
             WHERE DB = DATABASE() AND INFO LIKE 'INSERT INTO `device_registry`%' ORDER BY 1"
        }
    };
    let mut ids = Vec::new();
    for row in observer
        .query_all_raw(Statement::from_string(observer.get_database_backend(), sql))
        .await?
    {
        let id: i64 = row.try_get("", "id")?;
        if !ours.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

async fn session_exists(
    observer: &DatabaseConnection,
    backend: Backend,
    id: i64,
) -> anyhow::Result<bool> {
    let sql = match backend {
        Backend::Postgres => format!("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE pid = {id}"),
        _ => format!("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = {id}"),
    };
    Ok(ota_seed_tests::sql::number(observer, &sql).await? > 0)
}

fn device(tenant: &str, device_id: &str) -> device_registry::ActiveModel {
    device_registry::ActiveModel {
        tenant_id: Set(tenant.to_owned()),
        device_id: Set(device_id.to_owned()),
        site_id: Set("held-by-the-test".to_owned()),
        status: Set("ACTIVE".to_owned()),
        metadata: Set(serde_json::json!({})),
        ..Default::default()
    }
}

const LOCK_TENANT_A: &str = "SELECT tenant_id FROM tenants WHERE tenant_id = 'tenant-a' FOR UPDATE";

/// What the test does to the seeder's tenant transaction once it waits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Disruption {
    /// Closes a lock cycle: the database aborts the seeder's transaction.
    Deadlock,
    /// Kills the seeder's server session, as a failover or a proxy would.
    DroppedConnection,
}

async fn a_disrupted_tenant_transaction_is_retried(
    db: TestDb,
    disruption: Disruption,
) -> anyhow::Result<()> {
    let backend = db.backend;
    assert_ok(&db.seeder(&["-q", "--only", "tenants"]));
    // tenant-a's devices in byte order (docs/dataset.md); the seeder
    // inserts the first one first.
    let planned: Vec<String> = ["cold-storage-1", "warehouse-east", "warehouse-west"]
        .iter()
        .flat_map(|site| (1..=5).map(move |n| format!("{site}-sensor-{n:02}")))
        .collect();
    let deadlock_on_postgres = disruption == Disruption::Deadlock && backend == Backend::Postgres;
    if deadlock_on_postgres {
        // The seeder's sessions check for a deadlock soon after they start
        // waiting; T (below) only after a minute.
        let conn = db.connect().await?;
        let name = db.name();
        conn.execute_unprepared(&format!(
            "ALTER DATABASE {name} SET deadlock_timeout = '100ms'"
        ))
        .await?;
        conn.close().await?;
    }

    let conn = db.connect().await?;
    let observer = db.connect().await?;
    // T: the devices, among them the seeder's first.
    let txn = conn.begin().await?;
    if backend == Backend::Postgres {
        txn.execute_unprepared("SET LOCAL deadlock_timeout = '60s'")
            .await?;
    }
    let t_id = session_id(&txn, backend).await?;
    // Weight for InnoDB's choice of victim, and the key the seeder will
    // wait on.
    for n in 0..20 {
        device("tenant-a", &format!("zz-held-by-the-test-{n:02}"))
            .insert(&txn)
            .await?;
    }
    device("tenant-a", &planned[0]).insert(&txn).await?;
    // U (PostgreSQL deadlock only): tenant-a's row, before the seeder.
    let holder = db.connect().await?;
    let u = if deadlock_on_postgres {
        let u = holder.begin().await?;
        u.execute_unprepared(LOCK_TENANT_A).await?;
        Some(u)
    } else {
        None
    };
    let u_id = match &u {
        Some(u) => session_id(u, backend).await?,
        None => -1,
    };
    let ours = [t_id, u_id];

    let mut seeder = db.start_seeder(&["--tenant", "tenant-a"])?;
    // Readiness: exactly one session besides ours waits for a lock.
    let deadline = std::time::Instant::now() + READY;
    let seeder_session = loop {
        if let [id] = waiting_sessions(&observer, backend, &ours).await?[..] {
            break id;
        }
        anyhow::ensure!(
            seeder.running(),
            "the seeder ended without waiting:\n{}",
            seeder.stderr_so_far()
        );
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the seeder never waited for the test's locks within {READY:?}:\n{}",
            seeder.stderr_so_far()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let txn: DatabaseTransaction = match disruption {
        Disruption::Deadlock if backend == Backend::Postgres => {
            // T queues behind the seeder for tenant-a's row ...
            let t_wants_the_row = tokio::spawn(async move {
                let result = txn.execute_unprepared(LOCK_TENANT_A).await;
                (txn, result)
            });
            wait_until("T waits for tenant-a's row", READY, || async {
                Ok(
                    waiting_sessions(&observer, backend, &[u_id, seeder_session])
                        .await?
                        .contains(&t_id),
                )
            })
            .await?;
            // ... U lets the seeder have it, the seeder's insert closes the
            // cycle, and the seeder is aborted: T then gets the row.
            u.expect("U").commit().await?;
            let (txn, result) = tokio::time::timeout(READY, t_wants_the_row)
                .await
                .map_err(|_| anyhow::anyhow!("T never got tenant-a's row"))??;
            result.map_err(|e| anyhow::anyhow!("T was the deadlock victim: {e}"))?;
            txn
        }
        Disruption::Deadlock => {
            // Close the cycle; InnoDB aborts the seeder at once, and this
            // returns once the seeder has released the tenant row.
            tokio::time::timeout(READY, txn.execute_unprepared(LOCK_TENANT_A))
                .await
                .map_err(|_| anyhow::anyhow!("no deadlock was detected"))?
                .map_err(|e| anyhow::anyhow!("T was the deadlock victim: {e}"))?;
            txn
        }
        Disruption::DroppedConnection => {
            let kill = match backend {
                Backend::Postgres => format!("SELECT pg_terminate_backend({seeder_session})"),
                _ => format!("KILL CONNECTION {seeder_session}"),
            };
            observer.execute_unprepared(&kill).await?;
            // The seeder's transaction is over once its session is.
            wait_until("the server ends the seeder's session", READY, || async {
                Ok(!session_exists(&observer, backend, seeder_session).await?)
            })
            .await?;
            txn
        }
    };
    txn.rollback().await?;
    observer.close().await?;

    let out = seeder.wait(SEEDER_LIMIT);
    let text = assert_ok(&out);
    assert!(
        text.lines().any(|l| l == RETRIED_ONCE),
        "exactly one retry:\n{}",
        describe(&out)
    );
    // stderr (progress lines, not a terminal) says the rolled-back try's
    // lines did not count, and why.
    let why = match disruption {
        Disruption::Deadlock => "a deadlock, serialization failure or cluster write conflict",
        Disruption::DroppedConnection => "the connection failed",
    };
    let retry_line = format!("tenant-a: rolled back ({why}), nothing of it kept; try 2");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .any(|l| l == retry_line),
        "{retry_line:?} on stderr:\n{}",
        describe(&out)
    );
    // The retry started the tenant from scratch: the planned devices, and
    // none of T's rolled-back ones.
    let devices: Vec<String> = DeviceRegistry::find()
        .filter(device_registry::Column::TenantId.eq("tenant-a"))
        .order_by_asc(device_registry::Column::DeviceId)
        .all(&conn)
        .await?
        .into_iter()
        .map(|d| d.device_id)
        .collect();
    assert_eq!(devices, planned);
    let campaign = OtaCampaigns::find().one(&conn).await?.expect("a campaign");
    assert_eq!(
        (campaign.total_devices, campaign.succeeded, campaign.failed),
        (15, 14, 1)
    );
    let summary = db.seeder_json(&["verify", "--tenant", "tenant-a"], 0);
    assert_eq!(violations(&summary), Vec::<String>::new(), "{summary:#}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deadlock_is_retried() {
    run_case(Backend::Postgres, |db| {
        a_disrupted_tenant_transaction_is_retried(db, Disruption::Deadlock)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_deadlock_is_retried() {
    run_case(Backend::MySql, |db| {
        a_disrupted_tenant_transaction_is_retried(db, Disruption::Deadlock)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dropped_connection_is_retried() {
    run_case(Backend::Postgres, |db| {
        a_disrupted_tenant_transaction_is_retried(db, Disruption::DroppedConnection)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_dropped_connection_is_retried() {
    run_case(Backend::MySql, |db| {
        a_disrupted_tenant_transaction_is_retried(db, Disruption::DroppedConnection)
    })
    .await;
}
