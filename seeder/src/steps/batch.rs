//! Inserting many rows: bind-limited batches, with an on-conflict clause on
//! the table's natural key where the backend has one and a conflict is
//! possible.

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, Iterable, TryInsertResult,
};

use super::json_rows;
use crate::interrupt::Interrupt;
use crate::progress::StepProgress;

/// Most bind parameters one statement may carry.
pub fn max_binds(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Sqlite => 32_766,
        _ => 65_535,
    }
}

/// Whether rows may already exist when they are inserted.
pub enum Conflicts<'a, C> {
    /// The tenant had no rows of this table when its lock was taken: nothing
    /// can conflict, so no conflict check is sent.
    Impossible,
    /// Rows were found missing by natural key, but a writer outside the
    /// tenant lock could still add them: skip those on this key.
    SkipOn(&'a [C]),
}

/// Inserts `rows` (consumed lazily, one batch in memory at a time) and
/// returns how many were inserted. Before each batch it checks `interrupt`,
/// so a stop request ends the step at a batch boundary.
///
/// On PostgreSQL each batch travels as one JSON document (see
/// `json_rows`); elsewhere as a multi-row INSERT of ActiveModels.
///
/// PostgreSQL and SQLite get `ON CONFLICT (key) DO NOTHING` under
/// `SkipOn`, and their affected-row count is exactly the rows inserted.
/// MySQL has no such clause: its `ON DUPLICATE KEY UPDATE` no-op is counted
/// as affected, and `INSERT IGNORE` would also swallow NOT NULL and foreign
/// key errors. There a plain INSERT is used, which is safe because callers
/// only send rows they found missing while holding the tenant lock, and
/// whose count is exact.
pub async fn insert_rows<A, C, I>(
    conn: &C,
    rows: I,
    conflicts: Conflicts<'_, <A::Entity as EntityTrait>::Column>,
    progress: &StepProgress,
    interrupt: &Interrupt,
) -> Result<u64, DbErr>
where
    A: ActiveModelTrait + Send,
    C: ConnectionTrait,
    I: IntoIterator<Item = A>,
{
    let backend = conn.get_database_backend();
    let columns = <A::Entity as EntityTrait>::Column::iter().count().max(1);
    let per_batch = if backend == DbBackend::Postgres {
        json_rows::ROWS_PER_STATEMENT
    } else {
        (max_binds(backend) / columns).max(1)
    };
    let mut inserted = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        interrupt.check()?;
        let batch: Vec<A> = rows.by_ref().take(per_batch).collect();
        let sent = batch.len() as u64;
        if backend == DbBackend::Postgres {
            let key = match conflicts {
                Conflicts::SkipOn(key) if !key.is_empty() => Some(key),
                _ => None,
            };
            if let Some(statement) = json_rows::insert_statement(&batch, key) {
                inserted += conn.execute_raw(statement).await?.rows_affected();
                progress.advance(sent);
                continue;
            }
        }
        let insert = <A::Entity as EntityTrait>::insert_many(batch);
        inserted += match conflicts {
            Conflicts::SkipOn(key) if backend != DbBackend::MySql && !key.is_empty() => {
                match insert
                    .on_conflict_do_nothing_on(key.iter().copied())
                    .exec_without_returning(conn)
                    .await?
                {
                    TryInsertResult::Inserted(n) => n,
                    TryInsertResult::Empty | TryInsertResult::Conflicted => 0,
                }
            }
            _ => insert.exec_without_returning(conn).await?,
        };
        progress.advance(sent);
    }
    Ok(inserted)
}
