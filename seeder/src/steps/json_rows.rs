//! PostgreSQL bulk insert of ActiveModels as one JSON document per batch:
//!
//! ```sql
//! INSERT INTO t (c1, c2, ...)
//! SELECT c1, c2, ... FROM json_to_recordset($1::json) AS r(c1 type1, ...)
//! ```
//!
//! A multi-row `VALUES` list of tens of thousands of placeholders costs the
//! server more to parse and plan than to insert; one JSON parameter is
//! decoded in C at near-`COPY` speed. Table, column names and types all
//! come from the entity, so this is still the entity crate's insert, just
//! with a different wire format.

use sea_orm::sea_query::{ColumnType, Value};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DbBackend, EntityName, EntityTrait, Iden, Iterable, Statement,
};

/// Rows per statement: a few MB of JSON.
pub const ROWS_PER_STATEMENT: usize = 10_000;

/// The insert of `rows`, or `None` when a column's type has no mapping here
/// (the caller then falls back to a multi-row INSERT).
pub fn insert_statement<A>(
    rows: &[A],
    on_conflict: Option<&[<A::Entity as EntityTrait>::Column]>,
) -> Option<Statement>
where
    A: ActiveModelTrait,
{
    let first = rows.first()?;
    let columns: Vec<(<A::Entity as EntityTrait>::Column, &'static str)> =
        <A::Entity as EntityTrait>::Column::iter()
            .filter(|c| first.get(*c).is_set())
            .map(|c| pg_type(c.def().get_column_type()).map(|t| (c, t)))
            .collect::<Option<_>>()?;
    let mut json = String::with_capacity(rows.len() * 256);
    json.push('[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push('{');
        for (j, (column, _)) in columns.iter().enumerate() {
            if j > 0 {
                json.push(',');
            }
            let value = row.get(*column).into_value()?;
            json.push_str(&serde_json::to_string(&column.to_string()).ok()?);
            json.push(':');
            json.push_str(&to_json(&value)?.to_string());
        }
        json.push('}');
    }
    json.push(']');

    let quote = |c: &<A::Entity as EntityTrait>::Column| format!("\"{}\"", c.to_string());
    let names: Vec<String> = columns.iter().map(|(c, _)| quote(c)).collect();
    let record: Vec<String> = columns
        .iter()
        .map(|(c, t)| format!("{} {t}", quote(c)))
        .collect();
    let table = <A::Entity as Default>::default().table_name().to_owned();
    let mut sql = format!(
        "INSERT INTO \"{table}\" ({names}) SELECT {names} FROM json_to_recordset($1::json) AS r({record})",
        names = names.join(", "),
        record = record.join(", "),
    );
    if let Some(key) = on_conflict {
        let key: Vec<String> = key.iter().map(quote).collect();
        sql.push_str(&format!(" ON CONFLICT ({}) DO NOTHING", key.join(", ")));
    }
    Some(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [Value::from(json)],
    ))
}

fn pg_type(ty: &ColumnType) -> Option<&'static str> {
    Some(match ty {
        ColumnType::Text | ColumnType::Char(_) => "text",
        ColumnType::String(_) => "varchar",
        ColumnType::SmallInteger => "int2",
        ColumnType::Integer => "int4",
        ColumnType::BigInteger => "int8",
        ColumnType::Float => "float4",
        ColumnType::Double => "float8",
        ColumnType::Boolean => "bool",
        ColumnType::Json => "json",
        ColumnType::JsonBinary => "jsonb",
        ColumnType::TimestampWithTimeZone => "timestamptz",
        ColumnType::Timestamp | ColumnType::DateTime => "timestamp",
        _ => return None,
    })
}

/// The JSON form `json_to_recordset` reads back as the column's type.
fn to_json(value: &Value) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match value {
        Value::Bool(v) => v.map_or(J::Null, J::from),
        Value::SmallInt(v) => v.map_or(J::Null, J::from),
        Value::Int(v) => v.map_or(J::Null, J::from),
        Value::BigInt(v) => v.map_or(J::Null, J::from),
        Value::Float(v) => v.map_or(J::Null, J::from),
        Value::Double(v) => v.map_or(J::Null, J::from),
        Value::String(v) => v.as_ref().map_or(J::Null, |s| J::String(s.clone())),
        Value::Json(v) => v.as_ref().map_or(J::Null, |j| (**j).clone()),
        Value::ChronoDateTimeWithTimeZone(v) => {
            v.as_ref().map_or(J::Null, |t| J::String(t.to_rfc3339()))
        }
        Value::ChronoDateTimeUtc(v) => v.as_ref().map_or(J::Null, |t| J::String(t.to_rfc3339())),
        Value::ChronoDateTime(v) => v.as_ref().map_or(J::Null, |t| {
            J::String(t.format("%Y-%m-%dT%H:%M:%S%.f").to_string())
        }),
        _ => return None,
    })
}
