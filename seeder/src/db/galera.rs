//! MariaDB Galera: a multi-primary cluster where every node accepts writes
//! and a transaction's rows are certified against the other nodes' at
//! COMMIT. What that changes for the seeder (docs/clusters.md has the
//! whole picture):
//!
//! - Row locks (`SELECT ... FOR UPDATE`) hold on one node only. Two seeders
//!   of one tenant on two nodes both get "the" lock, and `ota_campaigns`
//!   has no unique key to conflict on, so both would insert the campaigns.
//!   The tenant lock therefore also writes the tenant row (and puts it back,
//!   see [`certified_lock_sql`]): the write is in the transaction's write
//!   set, so of two such transactions the cluster commits one and aborts
//!   the other with a deadlock error (1213), which the run retries whole.
//! - A node applies other nodes' commits a little later: each transaction
//!   sets `wsrep_sync_wait = 1`, so its reads wait until the node has
//!   applied everything committed cluster-wide before them (a rerun through
//!   another node sees the rows, and `verify` reads what was committed).
//! - Named locks (`GET_LOCK`) are per node too: migrations take a lock of
//!   the cluster's instead ([`take_migration_lock`]).
//! - Some settings make writes unsafe; [`refuse_unsafe_node`] and
//!   [`refuse_unreplicated_tables`] refuse them before anything is written.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use super::connect::Db;
use super::txn::{Access, Txn};
use crate::error::SeedError;
use crate::retry::mysql_error_number;

/// The two statements that put the tenant row into the transaction's write
/// set without changing it: its `created_at` one second back, then forward
/// again. An `UPDATE` that sets a column to its own value changes no row,
/// so it would not be certified. The session's time zone is UTC (sqlx sets
/// it on connect), so the second statement restores the exact value.
/// `placeholders`: the tenant ids' `?, ?, ...`.
pub(crate) fn certified_lock_sql(placeholders: &str) -> [String; 2] {
    [
        format!(
            "UPDATE tenants SET created_at = created_at - INTERVAL 1 SECOND \
             WHERE tenant_id IN ({placeholders})"
        ),
        format!(
            "UPDATE tenants SET created_at = created_at + INTERVAL 1 SECOND \
             WHERE tenant_id IN ({placeholders})"
        ),
    ]
}

/// Refuses to write through a Galera node where writes would not reach the
/// rest of the cluster, or could not be made at all:
/// - `wsrep_on` OFF for this session (set globally on the node, or for the
///   session by `init_connect`): writes stay on this node and the nodes
///   diverge;
/// - the node is not part of the cluster's primary component
///   (`wsrep_ready` OFF): it refuses every statement;
/// - `wsrep_OSU_method` other than TOI for the session (RSU, for rolling
///   schema upgrades): DDL stays on this node, and the other nodes fail to
///   apply rows of tables they lack, and evict themselves or this node;
/// - `binlog_format` other than ROW for the session: Galera replicates row
///   events only.
///
/// Does nothing on any other server.
pub async fn refuse_unsafe_node(db: &Db, target: &str) -> Result<(), SeedError> {
    if !db.session.galera {
        return Ok(());
    }
    let reading = |e| SeedError::database("checking the Galera node's settings", e);
    let not_ready = |status: &str| SeedError::UnsafeCluster {
        target: target.to_owned(),
        reason: format!(
            "it is a Galera node that is not part of the cluster's primary component \
             ({status}): it refuses reads and writes until it rejoins; seed through a node that \
             is (`SHOW STATUS LIKE 'wsrep_ready'` says ON there)"
        ),
    };
    // SHOW, outside a transaction: a node outside the primary component
    // still answers SHOW and SET, and refuses even BEGIN (error 1047).
    let mut rows = Vec::new();
    for sql in [
        "SHOW SESSION VARIABLES WHERE Variable_name IN ('wsrep_on', 'binlog_format', \
         'wsrep_OSU_method')",
        "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_cluster_status')",
    ] {
        match db
            .conn
            .query_all_raw(Statement::from_string(DbBackend::MySql, sql))
            .await
        {
            Ok(found) => rows.extend(found),
            Err(e) if mysql_error_number(&e) == Some(1047) => {
                return Err(not_ready("error 1047: WSREP has not yet prepared node"));
            }
            Err(e) => return Err(reading(e)),
        }
    }
    let mut settings = std::collections::HashMap::new();
    for row in &rows {
        let name: String = row.try_get_by_index(0).map_err(reading)?;
        let value: String = row.try_get_by_index(1).map_err(reading)?;
        settings.insert(name.to_ascii_lowercase(), value);
    }
    let get = |name: &str| settings.get(name).map(String::as_str).unwrap_or("");
    let reason = if !get("wsrep_on").eq_ignore_ascii_case("ON") {
        Some(
            "it is a Galera node with wsrep_on = OFF for this session: writes made here would \
             not replicate and the nodes would hold different data; turn it back on \
             (SET GLOBAL wsrep_on = ON) or seed through another node"
                .to_owned(),
        )
    } else if !get("wsrep_ready").eq_ignore_ascii_case("ON") {
        return Err(not_ready(&format!(
            "wsrep_ready = {}, cluster status {}",
            or_unknown(get("wsrep_ready")),
            or_unknown(get("wsrep_cluster_status"))
        )));
    } else if !get("wsrep_osu_method").eq_ignore_ascii_case("TOI") {
        Some(format!(
            "it is a Galera node and this session's wsrep_OSU_method is {}: schema changes (the \
             seeder's migrations) would stay on this node, and the other nodes would then fail \
             to apply its rows and leave the cluster; set it back to TOI \
             (SET GLOBAL wsrep_OSU_method = 'TOI') or seed through another node",
            or_unknown(get("wsrep_osu_method"))
        ))
    } else if !get("binlog_format").eq_ignore_ascii_case("ROW") {
        Some(format!(
            "it is a Galera node and this session's binlog_format is {}: Galera replicates \
             row events only; set binlog_format = ROW",
            or_unknown(get("binlog_format"))
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => Err(SeedError::UnsafeCluster {
            target: target.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Reads of the tables' metadata tried in all (see
/// `refuse_unreplicated_tables`).
const METADATA_READ_TRIES: u32 = 5;

/// Refuses a Galera node whose OTA tables would not replicate safely: a
/// table in another engine than InnoDB (Galera replicates InnoDB only), or
/// one without a primary key (its rows cannot be told apart when certified
/// and applied on the other nodes). The platform creates its own tables,
/// so this is checked on the tables as they are. Does nothing elsewhere.
pub async fn refuse_unreplicated_tables(
    db: &Db,
    target: &str,
    tables: &[&str],
) -> Result<(), SeedError> {
    if !db.session.galera || tables.is_empty() {
        return Ok(());
    }
    let reading = |e| SeedError::database("checking the tables on the Galera node", e);
    let names = tables
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT t.TABLE_NAME, COALESCE(t.ENGINE, ''), \
                EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c \
                        WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME \
                          AND c.CONSTRAINT_TYPE = 'PRIMARY KEY') \
         FROM information_schema.TABLES t \
         WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_NAME IN ({names}) \
         ORDER BY t.TABLE_NAME"
    );
    // Another node's migrations (DDL, applied everywhere at once) abort a
    // read of the tables' metadata with 1213 (seen once in 60 seeders
    // started three at a time): read again, a few times.
    let mut attempt = 0;
    let rows = loop {
        attempt += 1;
        let read = async {
            let txn = db.begin(Access::Read, None).await?;
            let rows = txn
                .query_all_raw(Statement::from_string(DbBackend::MySql, sql.clone()))
                .await?;
            txn.rollback().await?;
            Ok::<_, DbErr>(rows)
        };
        match read.await {
            Ok(rows) => break rows,
            Err(e) if attempt < METADATA_READ_TRIES && crate::retry::is_transient(&e) => {
                tokio::time::sleep(crate::retry::backoff(attempt)).await;
            }
            Err(e) => return Err(reading(e)),
        }
    };
    let mut problems = Vec::new();
    for row in &rows {
        let table: String = row.try_get_by_index(0).map_err(reading)?;
        let engine: String = row.try_get_by_index(1).map_err(reading)?;
        let has_primary_key: i64 = row.try_get_by_index(2).map_err(reading)?;
        if !engine.eq_ignore_ascii_case("InnoDB") {
            problems.push(format!(
                "{table} uses the {engine} engine, which Galera does not replicate (ALTER TABLE {table} ENGINE = InnoDB)"
            ));
        }
        if has_primary_key == 0 {
            problems.push(format!(
                "{table} has no primary key, which Galera needs to certify and apply its rows on every node"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(SeedError::UnsafeCluster {
            target: target.to_owned(),
            reason: format!("it is a Galera node and {}", problems.join("; ")),
        })
    }
}

/// The table whose existence is the cluster-wide migration lock (see
/// [`take_migration_lock`]). It holds no rows and is dropped on release.
pub(super) const MIGRATION_LOCK_TABLE: &str = "ota_seed_migration_lock";

/// Takes the migration lock of the database across the cluster, waiting up
/// to `wait` for another seeder to release it. `GET_LOCK` holds on one node
/// only; DDL, however, runs in one total order on every node (Galera's
/// TOI), so of several nodes creating the same table exactly one succeeds:
/// the lock is that table. Held by the caller until
/// [`release_migration_lock`]; a seeder that died holding it leaves the
/// table behind, and the error after `wait` says to drop it.
pub(super) async fn take_migration_lock<C: ConnectionTrait>(
    conn: &C,
    wait: std::time::Duration,
) -> Result<(), DbErr> {
    let started = std::time::Instant::now();
    loop {
        let created = conn
            .execute_unprepared(&format!(
                "CREATE TABLE {MIGRATION_LOCK_TABLE} (id INT NOT NULL PRIMARY KEY) ENGINE = InnoDB"
            ))
            .await;
        match created {
            Ok(_) => return Ok(()),
            // 1050: the table exists, the lock is held. 1213: a write-set
            // conflict with another node's DDL; try again.
            Err(e) if matches!(mysql_error_number(&e), Some(1050 | 1213)) => {
                if started.elapsed() > wait {
                    return Err(DbErr::Custom(format!(
                        "the migration lock (table {MIGRATION_LOCK_TABLE}) was not released within \
                         {} s: another seeder may be migrating through another node; if none is, \
                         one died while migrating: check the schema, then DROP TABLE \
                         {MIGRATION_LOCK_TABLE}",
                        wait.as_secs()
                    )));
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Releases the lock [`take_migration_lock`] took.
pub(super) async fn release_migration_lock<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    conn.execute_unprepared(&format!("DROP TABLE IF EXISTS {MIGRATION_LOCK_TABLE}"))
        .await
        .map(|_| ())
}

fn or_unknown(value: &str) -> &str {
    if value.is_empty() { "unknown" } else { value }
}

/// Whether the transaction `txn` has been rolled back under the seeder:
/// MariaDB's `@@in_transaction` is 0. Galera rolls back ("brute-force
/// aborts") a node's local transaction when it applies another node's
/// conflicting commit; the client gets error 1213 on its next statement
/// only, and the statements after that run outside any transaction, each
/// committed on its own (checked by hand on MariaDB 10.11 with galera
/// 26.4). When that one error is a duplicate key the tenant step takes
/// for "already there", or is otherwise not seen, the seeder would go on
/// outside its transaction: in this project's three-seeder tests that
/// showed as a status row failing its foreign key to a campaign the abort
/// had removed, "Failed to find updated item", a duplicate key in
/// `ota_device_status`, or rows reported twice. Checked after each step and
/// before COMMIT; about 3 tenant transactions per race of three seeders
/// were found rolled back this way, and retried. A failed check (the query
/// itself failing) counts as not rolled back: the caller's own error
/// stands.
pub(crate) async fn rolled_back_by_cluster(txn: &Txn) -> bool {
    let row = txn
        .query_one_raw(Statement::from_string(
            DbBackend::MySql,
            "SELECT CAST(@@in_transaction AS SIGNED) AS open",
        ))
        .await;
    matches!(row, Ok(Some(row)) if row.try_get::<i64>("", "open").is_ok_and(|open| open == 0))
}
