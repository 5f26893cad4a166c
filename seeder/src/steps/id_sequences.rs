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
//! Each selected table is checked for every batch that is applied, whether
//! or not rows will be inserted into that table: a cheap look (the largest
//! id through the primary key, and the sequence's position). A batch whose
//! plan writes nothing (a rerun) is not applied and not checked: it takes
//! no id, so a lag cannot fail it.
//!
//! Under row level security the application role sees only the tenant's
//! own rows, so a lag caused by another tenant's rows shows here only when
//! the seeder runs as the owner; otherwise the insert fails on the key,
//! with nothing of the tenant written.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use super::error::StepError;
use super::scoped;
use super::sink::{Batch, Sink};
use crate::error::SeedError;
use crate::selection::Selection;
use crate::table::Table;

/// The seeded tables whose `id` comes from a sequence.
const SERIAL_TABLES: [Table; 3] = [Table::Firmware, Table::Campaigns, Table::DeviceStatus];

pub async fn refuse_lagging(
    sink: &Sink<'_>,
    batch: &Batch<'_>,
    selection: &Selection,
    were_there: &[String],
) -> Result<(), StepError> {
    for table in SERIAL_TABLES.into_iter().filter(|t| selection.includes(*t)) {
        let name = table.table_name();
        let reading = |source| StepError::Database {
            doing: format!("reading the id sequence of {name}"),
            table: Some(table),
            source,
        };
        let Some(state) = sequence_state(sink, were_there, table)
            .await
            .map_err(reading)?
        else {
            continue;
        };
        if state.max_id >= state.next {
            return Err(StepError::Refused(SeedError::SequenceBehind {
                tenant: batch.label(),
                table: name.to_owned(),
                qualified_table: state.qualified_table,
                sequence: state.sequence,
                next: state.next,
                max_id: state.max_id,
            }));
        }
    }
    Ok(())
}

struct SequenceState {
    sequence: String,
    qualified_table: String,
    /// The id the sequence hands out next.
    next: i64,
    /// The largest id the transaction sees in the table.
    max_id: i64,
}

/// `None` when the table's id has no ascending sequence, the table is
/// empty (to this role), or the sequence's position cannot be known.
async fn sequence_state(
    sink: &Sink<'_>,
    were_there: &[String],
    table: Table,
) -> Result<Option<SequenceState>, DbErr> {
    let name = table.table_name();
    let pg = |sql: String| Statement::from_string(DbBackend::Postgres, sql);
    // The largest id the batch's tenants' rows hold as the role sees them
    // (under row level security, each tenant's in its own scope).
    // Without row level security, the table's largest id (the primary
    // key's last entry); under it, each tenant's own, found through its
    // tenant_id index (an unfiltered max would walk the key past every
    // row the policy hides), for the tenants that were there: the others'
    // rows are hidden from the role, or there are none.
    let guarded = sink.guards.applies(table);
    let rows = if guarded {
        scoped::rows(
            sink.txn,
            true,
            were_there,
            "t",
            &format!("SELECT max(t.id)::int8 AS max_id FROM {name} t WHERE {{tenants:t}}"),
        )
        .await?
    } else {
        sink.txn
            .query_all_raw(pg(format!(
                "SELECT max(t.id)::int8 AS max_id FROM {name} t"
            )))
            .await?
    };
    let mut max_id: Option<i64> = None;
    for row in rows {
        if let Some(n) = row.try_get::<Option<i64>>("", "max_id")? {
            max_id = Some(max_id.map_or(n, |m| m.max(n)));
        }
    }
    let table = name;
    // `table` is one of our own table names.
    let Some(row) = sink
        .txn
        .query_one_raw(pg(format!(
            "SELECT q.seq, \
                    format('%I.%I', n.nspname, c.relname) AS qualified_table, \
                    has_sequence_privilege(q.seq, 'SELECT') AS readable, \
                    ps.last_value::int8 AS last_value, ps.increment_by::int8 AS increment \
             FROM (SELECT pg_get_serial_sequence('{table}', 'id') AS seq) q \
             JOIN pg_class c ON c.oid = '{table}'::regclass \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_sequences ps \
               ON format('%I.%I', ps.schemaname, ps.sequencename)::regclass = q.seq::regclass"
        )))
        .await?
    else {
        return Ok(None);
    };
    let sequence: String = row.try_get("", "seq")?;
    let increment: i64 = row.try_get("", "increment")?;
    let (Some(max_id), 1..) = (max_id, increment) else {
        return Ok(None);
    };
    // The sequence's own row says whether its last value was handed out;
    // pg_sequences shows NULL both for "not yet" (after a RESTART, or a
    // setval(.., false)) and for a role that may not read it.
    let next = if row.try_get::<bool>("", "readable")? {
        let state = sink
            .txn
            .query_one_raw(pg(format!("SELECT last_value, is_called FROM {sequence}")))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(sequence.clone()))?;
        let last: i64 = state.try_get("", "last_value")?;
        if state.try_get::<bool>("", "is_called")? {
            last.saturating_add(increment)
        } else {
            last
        }
    } else {
        // USAGE alone: a value shows only once handed out.
        match row.try_get::<Option<i64>>("", "last_value")? {
            Some(last) => last.saturating_add(increment),
            None => return Ok(None),
        }
    };
    Ok(Some(SequenceState {
        sequence,
        qualified_table: row.try_get("", "qualified_table")?,
        next,
        max_id,
    }))
}
