//! Inserting many rows: bind-limited batches, with an on-conflict clause on
//! the table's natural key where the backend has one.

use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, Iterable, TryInsertResult,
};

/// Most bind parameters one statement may carry.
pub fn max_binds(backend: DbBackend) -> usize {
    match backend {
        DbBackend::Sqlite => 32_766,
        _ => 65_535,
    }
}

/// Inserts `rows` in batches and returns how many were inserted.
///
/// PostgreSQL and SQLite get `ON CONFLICT (key) DO NOTHING`, so a row that
/// appeared since we read is skipped, and the affected-row count is exactly
/// the rows inserted. MySQL has no such clause: its `ON DUPLICATE KEY UPDATE`
/// no-op is counted as affected, and `INSERT IGNORE` would also swallow
/// NOT NULL and foreign-key errors. There a plain INSERT is used, which is
/// safe because callers only send rows they found missing while holding the
/// tenant lock, and whose count is exact. An empty `key` (a table with no
/// natural key) gets a plain INSERT everywhere.
pub async fn insert_rows<A, C>(
    conn: &C,
    rows: Vec<A>,
    key: &[<A::Entity as EntityTrait>::Column],
) -> Result<u64, DbErr>
where
    A: ActiveModelTrait + Send,
    C: ConnectionTrait,
{
    let backend = conn.get_database_backend();
    let columns = <A::Entity as EntityTrait>::Column::iter().count().max(1);
    let per_batch = (max_binds(backend) / columns).max(1);
    let mut inserted = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<A> = rows.by_ref().take(per_batch).collect();
        let insert = <A::Entity as EntityTrait>::insert_many(batch);
        inserted += if backend == DbBackend::MySql || key.is_empty() {
            insert.exec_without_returning(conn).await?
        } else {
            match insert
                .on_conflict_do_nothing_on(key.iter().copied())
                .exec_without_returning(conn)
                .await?
            {
                TryInsertResult::Inserted(n) => n,
                TryInsertResult::Empty | TryInsertResult::Conflicted => 0,
            }
        };
    }
    Ok(inserted)
}
