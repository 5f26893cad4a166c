//! A tenant the test holds: its row inserted in the test's own open
//! transaction, so that the seeder's insert of that tenant waits on its
//! key until the test lets go, however long. Other tenants' rows do not
//! wait on it. Tests use it to make an overlap or a wait certain instead
//! of hoping for the machine's timing.

use sea_orm::DatabaseConnection;

use crate::Backend;

/// The row that holds tenant-a (run it in the test's open transaction).
pub const HOLD_TENANT_A: &str = "INSERT INTO tenants (tenant_id, name, status, created_at) \
     VALUES ('tenant-a', 'held by the test', 'ACTIVE', CURRENT_TIMESTAMP)";

/// Whether the seeder's insert of tenant-a waits on the test's row.
/// PostgreSQL says so (a session waiting on a lock: the test's own never
/// do); MariaDB lists no such wait in INNODB_TRX, so there it is the
/// insert of tenant-a's row running (it is over in a moment otherwise).
pub async fn tenant_a_waits(conn: &DatabaseConnection, backend: Backend) -> anyhow::Result<bool> {
    let sql = match backend {
        Backend::Postgres => {
            "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'"
        }
        _ => {
            "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST \
             WHERE DB = DATABASE() AND ID <> CONNECTION_ID() \
             AND INFO LIKE 'INSERT INTO `tenants`%''tenant-a''%'"
        }
    };
    Ok(crate::sql::number(conn, sql).await? > 0)
}
