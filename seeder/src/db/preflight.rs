//! Checks made before a seeding run writes anything.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use super::connect::Db;
use super::txn::Access;
use crate::error::SeedError;

/// Refuses a database that does not want writes: one whose transactions
/// are read-only by default (a role or database setting), a PostgreSQL hot
/// standby, or a MySQL/MariaDB server in read-only mode. The seeder's write
/// transactions take the database's default access mode, so a setting that
/// changes after this check still stops them.
pub async fn refuse_read_only(db: &Db, target: &str) -> Result<(), SeedError> {
    let reading = |e| SeedError::database("checking that the database accepts writes", e);
    let txn = db.begin(Access::Write, None).await.map_err(reading)?;
    let reason = match db.backend {
        DbBackend::Postgres => {
            let row = txn
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT current_setting('transaction_read_only') AS read_only, \
                            pg_is_in_recovery() AS standby",
                ))
                .await
                .map_err(reading)?
                .ok_or_else(|| {
                    reading(DbErr::RecordNotFound("transaction_read_only".to_owned()))
                })?;
            let standby: bool = row.try_get("", "standby").map_err(reading)?;
            let read_only: String = row.try_get("", "read_only").map_err(reading)?;
            if standby {
                Some("it is a hot standby (a read-only replica); seed its primary".to_owned())
            } else if read_only == "on" {
                Some(
                    "its transactions are read-only by default (default_transaction_read_only = on, \
                     set for this role or database)"
                        .to_owned(),
                )
            } else {
                None
            }
        }
        DbBackend::MySql => {
            // SHOW VARIABLES reads the session's values where a variable has
            // one and the global value otherwise, on MySQL and MariaDB alike.
            let rows = txn
                .query_all_raw(Statement::from_string(
                    DbBackend::MySql,
                    "SHOW VARIABLES WHERE Variable_name IN ('read_only', 'super_read_only', \
                     'innodb_read_only', 'tx_read_only', 'transaction_read_only')",
                ))
                .await
                .map_err(reading)?;
            let mut on = Vec::new();
            for row in &rows {
                let name: String = row.try_get_by_index(0).map_err(reading)?;
                let value: String = row.try_get_by_index(1).map_err(reading)?;
                if value.eq_ignore_ascii_case("ON") || value == "1" {
                    on.push(format!("{name} = ON"));
                }
            }
            (!on.is_empty()).then(|| {
                format!(
                    "the server does not accept writes ({}): a replica, or writes frozen by its operator",
                    on.join(", ")
                )
            })
        }
        _ => None,
    };
    txn.rollback().await.map_err(reading)?;
    match reason {
        Some(reason) => Err(SeedError::ReadOnly {
            target: target.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}
