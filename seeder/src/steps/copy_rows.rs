//! PostgreSQL bulk load of ActiveModels with `COPY … FROM STDIN`, for rows
//! that cannot conflict (a tenant with no rows of the table when its lock
//! was taken): the server's own bulk path, inside the tenant's transaction.
//!
//! Table, columns and types come from the entity; each value is written in
//! COPY's text format from the ActiveModel's own `Value`.
//!
//! `COPY FROM` is refused on a table whose row level security applies to
//! the current role (the platform's application role; the owner under
//! `FORCE ROW LEVEL SECURITY`). There the rows are copied into a temporary
//! table shaped like the target and moved with one `INSERT … SELECT`,
//! which the policies check as any insert.

use sea_orm::sea_query::Value;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait, Iden, Iterable,
    Statement,
};

use crate::cancel::Cancel;
use crate::db::Txn;
use crate::progress::StepProgress;

/// Rows encoded per chunk sent to the server (about 1.5 MB of devices).
/// Two chunks are in memory at once (see `ahead`): with 10,000 rows the
/// peak RSS at 1M devices with `--jobs 2` was 29% over the 100k figure,
/// with 5,000 it is 12% over, at the same speed.
const ROWS_PER_CHUNK: usize = 5_000;

/// Copies `rows` into their table and returns how many were copied, or
/// `None` when COPY does not apply (another backend, a value this encoder
/// has no text form for, or row level security with no right to make a
/// temporary table); `rows` is then untouched and nothing was sent.
pub async fn copy_rows<A, I>(
    txn: &Txn,
    rows: &mut std::iter::Peekable<I>,
    progress: &StepProgress,
    interrupt: &Cancel,
) -> Result<Option<u64>, DbErr>
where
    A: ActiveModelTrait + Send,
    I: Iterator<Item = A> + Send,
{
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(None);
    }
    let Some(first) = rows.peek() else {
        return Ok(Some(0));
    };
    let columns: Vec<<A::Entity as EntityTrait>::Column> =
        <A::Entity as EntityTrait>::Column::iter()
            .filter(|c| first.get(*c).is_set())
            .collect();
    // Every value of the first row must have a text form here; later rows
    // share their types (one entity), and a NULL always has one.
    if columns.iter().any(|c| {
        first
            .get(*c)
            .into_value()
            .is_none_or(|v| encode(&v, &mut Vec::new()).is_none())
    }) {
        return Ok(None);
    }
    let table = <A::Entity as Default>::default().table_name().to_owned();
    let names: Vec<String> = columns.iter().map(|c| quote(&c.to_string())).collect();
    let names = names.join(", ");

    let (guarded, may_stage) = row_security(txn, &table).await?;
    if guarded && !may_stage {
        return Ok(None);
    }
    let staging = format!("pg_temp.ota_seed_copy_{table}");
    let target = if guarded {
        // Only the copied columns, with their types and nothing else: no
        // constraints, and no defaults (a copied `nextval` default would
        // advance the table's sequence once more per row). Gone at commit.
        txn.execute_unprepared(&format!(
            "DROP TABLE IF EXISTS {staging}; \
             CREATE TEMPORARY TABLE {name} ON COMMIT DROP AS \
             SELECT {names} FROM {table} WITH NO DATA",
            name = staging.trim_start_matches("pg_temp."),
            table = quote(&table)
        ))
        .await?;
        staging.clone()
    } else {
        quote(&table)
    };

    let copy_sql = format!("COPY {target} ({names}) FROM STDIN");
    let copied = txn
        .copy_in(&copy_sql, |chunk| {
            if rows.peek().is_none() {
                return Ok(false);
            }
            interrupt.check()?;
            let mut sent = 0u64;
            for row in rows.by_ref().take(ROWS_PER_CHUNK) {
                for (i, column) in columns.iter().enumerate() {
                    if i > 0 {
                        chunk.push(b'\t');
                    }
                    let encoded = row
                        .get(*column)
                        .into_value()
                        .and_then(|v| encode(&v, chunk));
                    if encoded.is_none() {
                        return Err(DbErr::Custom(format!(
                            "{table}.{column}: a value with no COPY text form",
                            column = column.to_string()
                        )));
                    }
                }
                chunk.push(b'\n');
                sent += 1;
            }
            progress.advance(sent);
            Ok(true)
        })
        .await?;
    let Some(copied) = copied else {
        return Ok(None);
    };
    if !guarded {
        return Ok(Some(copied));
    }
    // The rows may be of several tenants (a batch): each tenant's move
    // runs with its own `app.tenant_id`, all in one message.
    let tenants: Vec<String> = txn
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT DISTINCT tenant_id FROM {staging} ORDER BY tenant_id"),
        ))
        .await?
        .iter()
        .map(|row| row.try_get::<String>("", "tenant_id"))
        .collect::<Result<_, _>>()?;
    // Indexed where there are several: each move would otherwise scan all
    // of the batch's rows, a cost that grew with the batch's tenants times
    // its rows (0.5 s for 1,000 tenants of 10 status rows, 0.1 s indexed).
    if tenants.len() > 1 {
        txn.execute_unprepared(&format!("CREATE INDEX ON {staging} (tenant_id)"))
            .await?;
    }
    let moved = super::scoped::execute_per_tenant(txn, true, &tenants, |tenant| {
        Some(format!(
            "INSERT INTO {} ({names}) SELECT {names} FROM {staging} WHERE tenant_id = {}",
            quote(&table),
            super::scoped::pg_literal(tenant)
        ))
    })
    .await?;
    Ok(Some(moved))
}

/// Whether row level security applies to the current role on `table`
/// (PostgreSQL's own answer: ownership, FORCE, BYPASSRLS and superuser all
/// taken into account), and whether the role may create temporary tables
/// (PUBLIC may by default; a platform can revoke it).
async fn row_security(txn: &Txn, table: &str) -> Result<(bool, bool), DbErr> {
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT row_security_active(to_regclass($1)) AS active, \
                    has_database_privilege(current_database(), 'TEMPORARY') AS may_stage",
            [table.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("row_security_active() returned no row".into()))?;
    Ok((
        row.try_get::<Option<bool>>("", "active")?.unwrap_or(false),
        row.try_get::<Option<bool>>("", "may_stage")?
            .unwrap_or(false),
    ))
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Appends `value` in COPY's text format; `None` for a value without one
/// here (the caller then inserts instead).
fn encode(value: &Value, out: &mut Vec<u8>) -> Option<()> {
    const NULL: &[u8] = b"\\N";
    fn text(out: &mut Vec<u8>, s: &str) {
        for b in s.bytes() {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.push(b),
            }
        }
    }
    fn shown(out: &mut Vec<u8>, v: Option<impl std::fmt::Display>) {
        match v {
            Some(v) => out.extend_from_slice(v.to_string().as_bytes()),
            None => out.extend_from_slice(NULL),
        }
    }
    fn finite(out: &mut Vec<u8>, v: Option<f64>) -> Option<()> {
        match v {
            // Rust prints finite floats exactly and without exponents.
            Some(v) if v.is_finite() => out.extend_from_slice(v.to_string().as_bytes()),
            Some(_) => return None,
            None => out.extend_from_slice(NULL),
        }
        Some(())
    }
    match value {
        Value::Bool(v) => match v {
            Some(true) => out.push(b't'),
            Some(false) => out.push(b'f'),
            None => out.extend_from_slice(NULL),
        },
        Value::SmallInt(v) => shown(out, *v),
        Value::Int(v) => shown(out, *v),
        Value::BigInt(v) => shown(out, *v),
        Value::Float(v) => finite(out, v.map(f64::from))?,
        Value::Double(v) => finite(out, *v)?,
        Value::String(v) => match v {
            Some(s) => text(out, s),
            None => out.extend_from_slice(NULL),
        },
        Value::Json(v) => match v {
            Some(j) => text(out, &j.to_string()),
            None => out.extend_from_slice(NULL),
        },
        Value::ChronoDateTimeWithTimeZone(v) => match v {
            Some(t) => out.extend_from_slice(t.to_rfc3339().as_bytes()),
            None => out.extend_from_slice(NULL),
        },
        Value::ChronoDateTimeUtc(v) => match v {
            Some(t) => out.extend_from_slice(t.to_rfc3339().as_bytes()),
            None => out.extend_from_slice(NULL),
        },
        Value::ChronoDateTime(v) => match v {
            Some(t) => {
                out.extend_from_slice(t.format("%Y-%m-%d %H:%M:%S%.f").to_string().as_bytes())
            }
            None => out.extend_from_slice(NULL),
        },
        _ => return None,
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: Value) -> Option<String> {
        let mut out = Vec::new();
        encode(&value, &mut out)?;
        String::from_utf8(out).ok()
    }

    #[test]
    fn text_escapes_what_copy_would_read_as_structure() {
        assert_eq!(
            encoded(Value::from("a\tb\nc\\d\re")).as_deref(),
            Some("a\\tb\\nc\\\\d\\re")
        );
        assert_eq!(encoded(Value::String(None)).as_deref(), Some("\\N"));
        // A literal backslash-N string is not NULL.
        assert_eq!(encoded(Value::from("\\N")).as_deref(), Some("\\\\N"));
    }

    #[test]
    fn numbers_booleans_and_json() {
        assert_eq!(encoded(Value::from(0.1f64)).as_deref(), Some("0.1"));
        assert_eq!(encoded(Value::from(1e-7f64)).as_deref(), Some("0.0000001"));
        assert_eq!(encoded(Value::from(f64::NAN)), None);
        assert_eq!(encoded(Value::from(-42i64)).as_deref(), Some("-42"));
        assert_eq!(encoded(Value::from(true)).as_deref(), Some("t"));
        assert_eq!(
            encoded(Value::from(serde_json::json!({"k": "a\tb"}))).as_deref(),
            Some("{\"k\":\"a\\\\tb\"}")
        );
    }
}
