//! PostgreSQL id sequences that lag behind their table's ids.
//!
//! Rows inserted with explicit ids (a restore, a hand-written script) leave
//! a `SERIAL`'s sequence behind: the next insert that takes an id from it
//! fails on the primary key, and every failed try burns a value, so a later
//! run "works" for no visible reason. The seeder looks before it inserts
//! and refuses with the fix. Moving the sequence itself (`setval`) is left
//! to the table's owner: the application role may not, and `setval` is not
//! transactional, so a concurrent writer could be handed an id twice.
//!
//! Under row level security the application role sees only the tenant's
//! own rows, so a lag caused by another tenant's rows shows here only when
//! the seeder runs as the owner; otherwise the insert fails on the key,
//! with nothing of the tenant written.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::{StepError, TenantScope};
use crate::error::SeedError;
use crate::selection::{Selection, Table};

/// The seeded tables whose `id` comes from a sequence.
const SERIAL_TABLES: [Table; 3] = [Table::Firmware, Table::Campaigns, Table::DeviceStatus];

pub async fn refuse_lagging(
    scope: &TenantScope<'_>,
    selection: &Selection,
) -> Result<(), StepError> {
    // MySQL's AUTO_INCREMENT and SQLite's rowid follow explicit ids: the
    // caller asks on PostgreSQL only.
    let found = scope.found;
    let plan = scope.plan;
    // Only tables the tenant still lacks rows in are inserted into; a
    // complete tenant is left alone whatever its sequences say.
    let lacking = |table: Table| match table {
        Table::Firmware => found.firmware < plan.firmware.len() as u64,
        Table::Campaigns => found.campaigns < plan.campaigns.len() as u64,
        _ => found.statuses < found.devices.max(plan.fleet.len() as u64),
    };
    for table in SERIAL_TABLES
        .into_iter()
        .filter(|t| selection.includes(*t) && lacking(*t))
    {
        let name = table.table_name();
        let reading = |source| StepError::Database {
            doing: format!("reading the id sequence of {name}"),
            source,
        };
        // pg_sequences shows last_value to a role with USAGE (all the
        // application role has); NULL there means not called yet.
        let sql = format!(
            "SELECT q.seq, (SELECT max(id) FROM {name})::int8 AS max_id, \
                    CASE WHEN ps.last_value IS NULL THEN ps.start_value \
                         ELSE ps.last_value + ps.increment_by END::int8 AS next, \
                    ps.increment_by::int8 AS increment, \
                    format('%I.%I', n.nspname, c.relname) AS qualified_table \
             FROM (SELECT pg_get_serial_sequence('{name}', 'id') AS seq) q \
             JOIN pg_class c ON c.oid = '{name}'::regclass \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_sequences ps \
               ON q.seq IS NOT NULL AND has_sequence_privilege(q.seq, 'USAGE, SELECT') \
              AND format('%I.%I', ps.schemaname, ps.sequencename)::regclass = q.seq::regclass"
        );
        let Some(row) = scope
            .txn
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .map_err(reading)?
        else {
            continue;
        };
        let sequence: Option<String> = row.try_get("", "seq").map_err(reading)?;
        let max_id: Option<i64> = row.try_get("", "max_id").map_err(reading)?;
        let next: Option<i64> = row.try_get("", "next").map_err(reading)?;
        let increment: Option<i64> = row.try_get("", "increment").map_err(reading)?;
        let qualified_table: String = row.try_get("", "qualified_table").map_err(reading)?;
        if let (Some(sequence), Some(max_id), Some(next), Some(1..)) =
            (sequence, max_id, next, increment)
            && max_id >= next
        {
            return Err(StepError::Refused(SeedError::SequenceBehind {
                tenant: scope.tenant_id().to_owned(),
                table: name.to_owned(),
                qualified_table,
                sequence,
                next,
                max_id,
            }));
        }
    }
    Ok(())
}
