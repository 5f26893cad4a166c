//! Inserting many rows: batches under the backend's bind limit (and on
//! MySQL/MariaDB under the server's `max_allowed_packet`), with an
//! on-conflict clause on the table's natural key where the backend has one
//! and a conflict is possible.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, Iterable,
    QueryTrait, Statement, Value,
};

use super::copy_rows::copy_rows;
use super::json_rows;
use super::mysql_rows::LiteralInsert;
use crate::ahead::send_while_building;
use crate::cancel::Cancel;
use crate::db::Txn;
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

/// Inserts `rows` (consumed lazily, two batches in memory at a time: the
/// one being sent and the next, see `ahead`) and
/// returns how many were inserted. Before each batch it checks `interrupt`,
/// so a stop request ends the step at a batch boundary.
///
/// On PostgreSQL rows that cannot conflict are loaded with `COPY` (see
/// `copy_rows`), others travel as one JSON document per batch (see
/// `json_rows`); on MySQL/MariaDB as multi-row INSERTs with inline values
/// (see `mysql_rows`); elsewhere, and for values without such a form, as a
/// multi-row INSERT of ActiveModels with bound values. On MySQL/MariaDB
/// every statement stays within half the session's `max_allowed_packet`
/// (read once per call with rows), measured exactly for literals and
/// estimated for binds; a row too large to fit alone is an error naming
/// the table and the limit.
///
/// PostgreSQL and SQLite get `ON CONFLICT (key) DO NOTHING` under
/// `SkipOn`, and their affected-row count is exactly the rows inserted.
/// MySQL has no such clause: its `ON DUPLICATE KEY UPDATE` no-op is counted
/// as affected, and `INSERT IGNORE` would also swallow NOT NULL and foreign
/// key errors. There a plain INSERT is used, which is safe because callers
/// only send rows they found missing while holding the tenant lock, and
/// whose count is exact.
pub async fn insert_rows<A, I>(
    conn: &Txn,
    rows: I,
    conflicts: Conflicts<'_, <A::Entity as EntityTrait>::Column>,
    progress: &StepProgress,
    interrupt: &Cancel,
) -> Result<u64, DbErr>
where
    A: ActiveModelTrait + Send,
    I: IntoIterator<Item = A>,
    I::IntoIter: Send,
{
    let backend = conn.get_database_backend();
    let mut rows = rows.into_iter().peekable();
    if let Conflicts::Impossible = conflicts
        && let Some(copied) = copy_rows(conn, &mut rows, progress, interrupt).await?
    {
        return Ok(copied);
    }
    if backend == DbBackend::Postgres && rows.peek().is_some() {
        let table = sea_orm::EntityName::table_name(&<A::Entity as Default>::default()).to_owned();
        if super::scoped::row_security_active(conn, &table).await? {
            return insert_per_tenant(conn, rows, conflicts, progress, interrupt).await;
        }
    }
    insert_plain(conn, rows, conflicts, progress, interrupt).await
}

/// [`insert_rows`] without COPY, through the current scope as it is.
async fn insert_plain<A, I>(
    conn: &Txn,
    mut rows: std::iter::Peekable<I>,
    conflicts: Conflicts<'_, <A::Entity as EntityTrait>::Column>,
    progress: &StepProgress,
    interrupt: &Cancel,
) -> Result<u64, DbErr>
where
    A: ActiveModelTrait + Send,
    I: Iterator<Item = A> + Send,
{
    let backend = conn.get_database_backend();
    if backend == DbBackend::MySql
        && let Some(inserted) = insert_literals(conn, &mut rows, progress, interrupt).await?
    {
        return Ok(inserted);
    }
    let columns = <A::Entity as EntityTrait>::Column::iter().count().max(1);
    let per_batch = if backend == DbBackend::Postgres {
        json_rows::ROWS_PER_STATEMENT
    } else {
        (max_binds(backend) / columns).max(1)
    };
    // Asked only when there is something to insert.
    let packet = if backend == DbBackend::MySql && rows.peek().is_some() {
        Some(PacketLimit::read::<A::Entity, _>(conn).await?)
    } else {
        None
    };
    let key = match conflicts {
        // MySQL has no ON CONFLICT DO NOTHING (see above).
        Conflicts::SkipOn(key) if backend != DbBackend::MySql && !key.is_empty() => Some(key),
        _ => None,
    };
    // The next batch's statement, with its row count.
    let mut build = || -> Result<Option<(Statement, u64)>, DbErr> {
        let batch = next_batch(&mut rows, per_batch, packet.as_ref())?;
        if batch.is_empty() {
            return Ok(None);
        }
        let sent = batch.len() as u64;
        if backend == DbBackend::Postgres
            && let Some(statement) = json_rows::insert_statement(&batch, key)
        {
            return Ok(Some((statement, sent)));
        }
        let mut insert = <A::Entity as EntityTrait>::insert_many(batch);
        if let Some(key) = key {
            insert = insert.on_conflict(
                OnConflict::columns(key.iter().copied())
                    .do_nothing()
                    .to_owned(),
            );
        }
        Ok(Some((QueryTrait::build(&insert, backend), sent)))
    };
    let mut inserted = 0;
    let mut next = build()?;
    while let Some((statement, sent)) = next {
        interrupt.check()?;
        // The next statement is built while this one executes (see `ahead`).
        let (done, built) = send_while_building(conn.execute_raw(statement), &mut build).await;
        inserted += done?.rows_affected();
        progress.advance(sent);
        next = built?;
    }
    Ok(inserted)
}

/// Under row level security: the rows of each tenant (they come tenant
/// by tenant) inserted with that tenant's `app.tenant_id` in force, which
/// the policy's check asks of every row.
async fn insert_per_tenant<A, I>(
    conn: &Txn,
    rows: std::iter::Peekable<I>,
    conflicts: Conflicts<'_, <A::Entity as EntityTrait>::Column>,
    progress: &StepProgress,
    interrupt: &Cancel,
) -> Result<u64, DbErr>
where
    A: ActiveModelTrait + Send,
    I: Iterator<Item = A> + Send,
{
    let tenant_of = |row: &A| -> Option<String> {
        let column =
            <A::Entity as EntityTrait>::Column::iter().find(|c| c.as_str() == "tenant_id")?;
        match row.get(column).into_value()? {
            Value::String(Some(s)) => Some(s.to_string()),
            _ => None,
        }
    };
    let key: Vec<<A::Entity as EntityTrait>::Column> = match &conflicts {
        Conflicts::SkipOn(key) => key.to_vec(),
        Conflicts::Impossible => Vec::new(),
    };
    let mut rows = rows;
    let mut inserted = 0;
    while let Some(first) = rows.next() {
        let tenant = tenant_of(&first);
        let mut group = vec![first];
        while let Some(row) = rows.next_if(|r| tenant_of(r) == tenant) {
            group.push(row);
        }
        if let Some(tenant) = &tenant {
            entity::tenant_scope::scope_to_tenant(conn, tenant).await?;
        }
        let conflicts = if key.is_empty() {
            Conflicts::SkipOn(&[])
        } else {
            Conflicts::SkipOn(&key)
        };
        inserted += insert_plain(
            conn,
            group.into_iter().peekable(),
            conflicts,
            progress,
            interrupt,
        )
        .await?;
    }
    Ok(inserted)
}

/// Largest statement the literal path sends, whatever the server allows:
/// bigger ones gain nothing and hold more memory.
const MAX_LITERAL_STATEMENT: u64 = 16 << 20;

/// MySQL/MariaDB: `rows` as multi-row INSERTs with inline values (see
/// `mysql_rows`), each statement within half the session's
/// `max_allowed_packet`; `None` (with `rows` untouched) when a value of
/// the first row has no literal form, so the caller binds instead. A plain
/// INSERT, counted exactly (see [`insert_rows`]).
async fn insert_literals<A, I>(
    conn: &Txn,
    rows: &mut std::iter::Peekable<I>,
    progress: &StepProgress,
    interrupt: &Cancel,
) -> Result<Option<u64>, DbErr>
where
    A: ActiveModelTrait,
    I: Iterator<Item = A>,
{
    let Some(first) = rows.peek() else {
        return Ok(Some(0));
    };
    let Some((mut insert, columns)) = LiteralInsert::start(first) else {
        return Ok(None);
    };
    let packet = PacketLimit::read::<A::Entity, _>(conn).await?;
    let budget = packet.budget.min(MAX_LITERAL_STATEMENT) as usize;
    let mut carried: Option<String> = None;
    // The next statement's text, with its row count.
    let mut build = || -> Result<(String, u64), DbErr> {
        loop {
            let tuple = match carried.take() {
                Some(tuple) => tuple,
                None => match rows.next() {
                    Some(row) => LiteralInsert::tuple(&row, &columns)?,
                    None => break,
                },
            };
            let size = insert.len_with(&tuple);
            if insert.rows() > 0 && size > budget {
                carried = Some(tuple);
                break;
            }
            if insert.rows() == 0 && size as u64 > packet.max_allowed_packet {
                return Err(DbErr::Custom(format!(
                    "a row of {} takes {size} bytes in an INSERT, more than the server's \
                     max_allowed_packet of {} bytes",
                    packet.table, packet.max_allowed_packet
                )));
            }
            insert.push(&tuple);
        }
        let rows = insert.rows();
        Ok((insert.take(), rows))
    };
    let mut inserted = 0;
    let mut next = build()?;
    while next.1 > 0 {
        interrupt.check()?;
        let (sql, sent) = next;
        // The next statement is built while this one executes (see `ahead`).
        let (done, built) = send_while_building(conn.execute_unprepared(&sql), &mut build).await;
        inserted += done?.rows_affected();
        progress.advance(sent);
        next = built?;
    }
    Ok(Some(inserted))
}

/// Takes the next batch: at most `per_batch` rows and, under a packet
/// limit, rows whose statement stays within the limit's budget. A row that
/// does not fit the server's packet even alone is an error.
fn next_batch<A, I>(
    rows: &mut std::iter::Peekable<I>,
    per_batch: usize,
    packet: Option<&PacketLimit>,
) -> Result<Vec<A>, DbErr>
where
    A: ActiveModelTrait,
    I: Iterator<Item = A>,
{
    let Some(packet) = packet else {
        return Ok(rows.by_ref().take(per_batch).collect());
    };
    let mut batch = Vec::new();
    let mut bytes = packet.statement_bytes;
    while batch.len() < per_batch {
        let mut size = 0;
        let Some(row) = rows.next_if(|row| {
            size = row_bytes(row);
            batch.is_empty() || bytes + size <= packet.budget
        }) else {
            break;
        };
        if packet.statement_bytes + size > packet.max_allowed_packet {
            return Err(DbErr::Custom(format!(
                "a row of {} takes about {} bytes in an INSERT, more than the server's \
                 max_allowed_packet of {} bytes",
                packet.table,
                packet.statement_bytes + size,
                packet.max_allowed_packet
            )));
        }
        bytes += size;
        batch.push(row);
    }
    Ok(batch)
}

/// The largest statement a MySQL/MariaDB session accepts: the server
/// rejects a bigger packet (error 1153) and closes the connection, so a
/// batch sized by binds alone (up to 65,535 values) fails on a server with
/// a small `max_allowed_packet`.
struct PacketLimit {
    table: &'static str,
    /// The session's `@@max_allowed_packet`.
    max_allowed_packet: u64,
    /// What a batch's estimate may reach: half the limit, a margin for
    /// what the estimate does not see (a proxy's own framing, a server
    /// that expands the statement with its values for its logs).
    budget: u64,
    /// The estimate of a statement without rows: the packet header and the
    /// `INSERT INTO t (columns) VALUES` text.
    statement_bytes: u64,
}

impl PacketLimit {
    async fn read<E: EntityTrait, C: ConnectionTrait>(conn: &C) -> Result<Self, DbErr> {
        let row = conn
            .query_one_raw(Statement::from_string(
                DbBackend::MySql,
                "SELECT @@max_allowed_packet AS max_allowed_packet",
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("SELECT @@max_allowed_packet returned no row".into()))?;
        // BIGINT UNSIGNED on MariaDB; read as signed where a server says so.
        let max_allowed_packet = match row.try_get::<u64>("", "max_allowed_packet") {
            Ok(n) => n,
            Err(_) => row
                .try_get::<i64>("", "max_allowed_packet")?
                .try_into()
                .unwrap_or(0),
        };
        let table = E::default().table_name();
        Ok(PacketLimit {
            table,
            max_allowed_packet,
            budget: max_allowed_packet / 2,
            statement_bytes: statement_bytes(table, E::Column::iter().map(|c| c.as_str())),
        })
    }
}

/// Bytes of a MySQL COM_STMT_EXECUTE packet's header (command, statement
/// id, flags, iteration count, the "types follow" flag) plus the fixed text
/// of `INSERT INTO `t` () VALUES `, with room to spare.
const STATEMENT_FIXED_BYTES: u64 = 64;
/// Per value: its type (2 bytes) and null bit (counted as a byte) in the
/// execute packet, and `?, ` in the statement's text.
const VALUE_OVERHEAD: u64 = 6;
/// Per row: `(`, `)` and `, ` in the statement's text.
const ROW_OVERHEAD: u64 = 4;
/// The longest length prefix of a string value (sqlx always gives JSON
/// this one).
const LENGTH_PREFIX: u64 = 9;

/// The estimate of a statement's bytes without its rows.
fn statement_bytes(table: &str, columns: impl Iterator<Item = &'static str>) -> u64 {
    // Each column name is quoted and followed by `, `.
    STATEMENT_FIXED_BYTES + table.len() as u64 + columns.map(|c| c.len() as u64 + 4).sum::<u64>()
}

/// An upper estimate of what one row adds to a multi-row INSERT on
/// MySQL/MariaDB. Every column counts, as a row without a value for a
/// column the batch sets is sent a NULL there.
fn row_bytes<A: ActiveModelTrait>(row: &A) -> u64 {
    ROW_OVERHEAD
        + <A::Entity as EntityTrait>::Column::iter()
            .map(|c| VALUE_OVERHEAD + row.get(c).into_value().map_or(0, |v| value_bytes(&v)))
            .sum::<u64>()
}

/// An upper estimate of a value's encoding in the binary protocol: numbers
/// by their width, strings, bytes and JSON by their length plus a length
/// prefix, timestamps as the text sqlx sends for them (the longest form).
/// A NULL is only its null bit, counted in [`VALUE_OVERHEAD`].
fn value_bytes(value: &Value) -> u64 {
    /// `YYYY-MM-DD HH:MM:SS.ffffff` and more, with its length prefix.
    const TIMESTAMP: u64 = 40;
    match value {
        Value::Bool(v) => v.map_or(0, |_| 1),
        Value::TinyInt(v) => v.map_or(0, |_| 1),
        Value::TinyUnsigned(v) => v.map_or(0, |_| 1),
        Value::SmallInt(v) => v.map_or(0, |_| 2),
        Value::SmallUnsigned(v) => v.map_or(0, |_| 2),
        Value::Int(v) => v.map_or(0, |_| 4),
        Value::Unsigned(v) => v.map_or(0, |_| 4),
        Value::Float(v) => v.map_or(0, |_| 4),
        Value::BigInt(v) => v.map_or(0, |_| 8),
        Value::BigUnsigned(v) => v.map_or(0, |_| 8),
        Value::Double(v) => v.map_or(0, |_| 8),
        Value::Char(v) => v.map_or(0, |_| LENGTH_PREFIX + 4),
        Value::String(v) => v.as_ref().map_or(0, |s| LENGTH_PREFIX + s.len() as u64),
        Value::Bytes(v) => v.as_ref().map_or(0, |b| LENGTH_PREFIX + b.len() as u64),
        Value::Json(v) => v.as_ref().map_or(0, |j| LENGTH_PREFIX + json_len(j)),
        Value::ChronoDate(v) => v.map_or(0, |_| TIMESTAMP),
        Value::ChronoTime(v) => v.map_or(0, |_| TIMESTAMP),
        Value::ChronoDateTime(v) => v.map_or(0, |_| TIMESTAMP),
        Value::ChronoDateTimeUtc(v) => v.map_or(0, |_| TIMESTAMP),
        Value::ChronoDateTimeLocal(v) => v.map_or(0, |_| TIMESTAMP),
        Value::ChronoDateTimeWithTimeZone(v) => v.map_or(0, |_| TIMESTAMP),
        // Types our entities do not use: their debug form is longer than
        // their encoding.
        other => LENGTH_PREFIX + format!("{other:?}").len() as u64,
    }
}

/// Length of a JSON value's compact text, without building the string.
fn json_len(json: &serde_json::Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing to a counter cannot fail; were it to, the debug form is a
    // longer stand-in.
    match serde_json::to_writer(&mut count, json) {
        Ok(()) => count.0,
        Err(_) => format!("{json:?}").len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use entity::device_registry;
    use sea_orm::ActiveValue::Set;

    use super::*;

    fn device(n: usize, metadata_bytes: usize) -> device_registry::ActiveModel {
        device_registry::ActiveModel {
            tenant_id: Set("tenant-a".to_owned()),
            device_id: Set(format!("sensor-{n:06}")),
            site_id: Set("site-01".to_owned()),
            status: Set("ACTIVE".to_owned()),
            metadata: Set(serde_json::json!({ "note": "x".repeat(metadata_bytes) })),
            ..Default::default()
        }
    }

    fn limit(max_allowed_packet: u64) -> PacketLimit {
        PacketLimit {
            table: "device_registry",
            max_allowed_packet,
            budget: max_allowed_packet / 2,
            statement_bytes: statement_bytes(
                "device_registry",
                device_registry::Column::iter().map(|c| c.as_str()),
            ),
        }
    }

    #[test]
    fn values_are_sized_by_their_encoding() {
        assert_eq!(value_bytes(&Value::String(None)), 0);
        assert_eq!(value_bytes(&Value::String(Some("abc".into()))), 9 + 3);
        assert_eq!(value_bytes(&Value::BigInt(Some(7))), 8);
        assert_eq!(
            value_bytes(&Value::Json(Some(Box::new(
                serde_json::json!({"a": [1, 2]})
            )))),
            9 + r#"{"a":[1,2]}"#.len() as u64
        );
        // Every one of the 9 columns costs its overhead, set or not.
        let row = device(1, 0);
        let set = 9 + 8 + 9 + 13 + 9 + 7 + 9 + 6 + 9 + r#"{"note":""}"#.len() as u64;
        assert_eq!(row_bytes(&row), ROW_OVERHEAD + 9 * VALUE_OVERHEAD + set);
    }

    #[test]
    fn batches_stay_within_the_budget_and_the_bind_limit() {
        let packet = limit(64 * 1024);
        let mut rows = (0..1_000).map(|n| device(n, 100)).peekable();
        let mut seen = 0;
        while rows.peek().is_some() {
            let batch = next_batch(&mut rows, 150, Some(&packet)).expect("rows fit");
            assert!(!batch.is_empty() && batch.len() <= 150);
            let bytes = packet.statement_bytes + batch.iter().map(row_bytes).sum::<u64>();
            assert!(bytes <= packet.budget, "{bytes} > {}", packet.budget);
            // Full: the next row would not have fitted.
            if let Some(next) = rows.peek() {
                assert!(batch.len() == 150 || bytes + row_bytes(next) > packet.budget);
            }
            for row in &batch {
                assert_eq!(
                    row.device_id.clone().into_value(),
                    Some(Value::String(Some(format!("sensor-{seen:06}"))))
                );
                seen += 1;
            }
        }
        assert_eq!(seen, 1_000);
    }

    #[test]
    fn a_row_over_half_the_packet_goes_alone_and_one_over_the_packet_is_refused() {
        let packet = limit(4_096);
        let mut rows = [device(0, 10), device(1, 2_500), device(2, 10)]
            .into_iter()
            .peekable();
        assert_eq!(
            next_batch(&mut rows, 100, Some(&packet)).map(|b| b.len()),
            Ok(1)
        );
        assert_eq!(
            next_batch(&mut rows, 100, Some(&packet)).map(|b| b.len()),
            Ok(1)
        );
        assert_eq!(
            next_batch(&mut rows, 100, Some(&packet)).map(|b| b.len()),
            Ok(1)
        );

        let mut rows = [device(0, 10), device(1, 5_000)].into_iter().peekable();
        assert_eq!(
            next_batch(&mut rows, 100, Some(&packet)).map(|b| b.len()),
            Ok(1)
        );
        let err = next_batch(&mut rows, 100, Some(&packet))
            .expect_err("a row over the packet")
            .to_string();
        assert!(
            err.contains("a row of device_registry takes about ")
                && err.contains("more than the server's max_allowed_packet of 4096 bytes"),
            "{err}"
        );
    }
}
