//! MySQL/MariaDB bulk insert of ActiveModels as multi-row `INSERT`s with
//! the values written inline, sent by the text protocol.
//!
//! Bound parameters go through the binary protocol one value at a time,
//! which cost about half of `LOAD DATA`'s speed; literals are parsed by
//! the server in one pass. They must read the same under every `sql_mode`:
//! - strings are `'…'` with `'` doubled, and only when they hold no
//!   backslash and no control character (what `NO_BACKSLASH_ESCAPES`
//!   changes); any other string is a `_utf8mb4 X'…'` hex literal, which no
//!   mode changes;
//! - identifiers are in backticks, which `ANSI_QUOTES` leaves alone;
//! - doubles are written with an exponent (a DOUBLE literal, never a
//!   DECIMAL that could overflow), timestamps as sqlx sends them (the UTC
//!   wall time, `YYYY-MM-DD HH:MM:SS.ffffff`).
//!
//! Each statement is sized exactly, so it stays within the session's
//! `max_allowed_packet`.

use sea_orm::sea_query::Value;
use sea_orm::{ActiveModelTrait, DbErr, EntityName, EntityTrait, Iden, Iterable};

/// The text of one multi-row INSERT: its head and the rows added so far.
pub struct LiteralInsert {
    sql: String,
    rows: u64,
    head_len: usize,
}

impl LiteralInsert {
    /// `INSERT INTO `t` (`c1`, …) VALUES ` for the columns `first` sets, or
    /// `None` when one of its values has no literal form here (the caller
    /// then binds instead).
    pub fn start<A: ActiveModelTrait>(
        first: &A,
    ) -> Option<(LiteralInsert, Vec<<A::Entity as EntityTrait>::Column>)> {
        let columns: Vec<_> = <A::Entity as EntityTrait>::Column::iter()
            .filter(|c| first.get(*c).is_set())
            .collect();
        let mut probe = String::new();
        for c in &columns {
            literal(&first.get(*c).into_value()?, &mut probe)?;
        }
        let table = <A::Entity as Default>::default().table_name().to_owned();
        let names: Vec<String> = columns
            .iter()
            .map(|c| format!("`{}`", c.to_string().replace('`', "``")))
            .collect();
        let sql = format!(
            "INSERT INTO `{}` ({}) VALUES ",
            table.replace('`', "``"),
            names.join(", ")
        );
        let head_len = sql.len();
        Some((
            LiteralInsert {
                sql,
                rows: 0,
                head_len,
            },
            columns,
        ))
    }

    /// The `(…)` tuple of `row` over `columns`: a column the row leaves
    /// unset takes its DEFAULT. Errors for a value with no literal form.
    pub fn tuple<A: ActiveModelTrait>(
        row: &A,
        columns: &[<A::Entity as EntityTrait>::Column],
    ) -> Result<String, DbErr> {
        let mut out = String::with_capacity(256);
        out.push('(');
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match row.get(*column).into_value() {
                None => out.push_str("DEFAULT"),
                Some(value) => literal(&value, &mut out).ok_or_else(|| {
                    DbErr::Custom(format!(
                        "{}: a value with no SQL literal form",
                        column.to_string()
                    ))
                })?,
            }
        }
        out.push(')');
        Ok(out)
    }

    /// Bytes the statement takes with `tuple` added.
    pub fn len_with(&self, tuple: &str) -> usize {
        self.sql.len() + 2 + tuple.len()
    }

    pub fn push(&mut self, tuple: &str) {
        if self.rows > 0 {
            self.sql.push_str(", ");
        }
        self.sql.push_str(tuple);
        self.rows += 1;
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Takes the statement text, leaving the head for the next batch.
    pub fn take(&mut self) -> String {
        let head = self.sql[..self.head_len].to_owned();
        self.rows = 0;
        std::mem::replace(&mut self.sql, head)
    }
}

/// Appends `value` as a literal; `None` for a value without one here.
fn literal(value: &Value, out: &mut String) -> Option<()> {
    use std::fmt::Write as _;
    fn shown(out: &mut String, v: Option<impl std::fmt::Display>) {
        match v {
            Some(v) => {
                let _ = write!(out, "{v}");
            }
            None => out.push_str("NULL"),
        }
    }
    match value {
        Value::Bool(v) => shown(out, v.map(u8::from)),
        Value::TinyInt(v) => shown(out, *v),
        Value::SmallInt(v) => shown(out, *v),
        Value::Int(v) => shown(out, *v),
        Value::BigInt(v) => shown(out, *v),
        Value::TinyUnsigned(v) => shown(out, *v),
        Value::SmallUnsigned(v) => shown(out, *v),
        Value::Unsigned(v) => shown(out, *v),
        Value::BigUnsigned(v) => shown(out, *v),
        Value::Float(v) => double(out, v.map(f64::from))?,
        Value::Double(v) => double(out, *v)?,
        Value::String(v) => match v {
            Some(s) => string(out, s),
            None => out.push_str("NULL"),
        },
        Value::Json(v) => match v {
            Some(j) => string(out, &j.to_string()),
            None => out.push_str("NULL"),
        },
        Value::ChronoDateTimeWithTimeZone(v) => shown(out, v.map(|t| quoted(t.naive_utc()))),
        Value::ChronoDateTimeUtc(v) => shown(out, v.map(|t| quoted(t.naive_utc()))),
        Value::ChronoDateTime(v) => shown(out, v.map(quoted)),
        _ => return None,
    }
    Some(())
}

/// A timestamp as sqlx sends it, quoted: digits, `-`, `:`, `.` and a space.
fn quoted(t: chrono::NaiveDateTime) -> String {
    format!("'{t}'")
}

fn double(out: &mut String, v: Option<f64>) -> Option<()> {
    use std::fmt::Write as _;
    match v {
        // `{:e}` is the shortest form that reads back as the same double.
        Some(v) if v.is_finite() => {
            let _ = write!(out, "{v:e}");
        }
        Some(_) => return None,
        None => out.push_str("NULL"),
    }
    Some(())
}

fn string(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    if s.chars().all(|c| c != '\\' && !c.is_control()) {
        out.push('\'');
        for c in s.chars() {
            if c == '\'' {
                out.push('\'');
            }
            out.push(c);
        }
        out.push('\'');
    } else {
        out.push_str("_utf8mb4 X'");
        for b in s.bytes() {
            let _ = write!(out, "{b:02X}");
        }
        out.push('\'');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(value: Value) -> Option<String> {
        let mut out = String::new();
        literal(&value, &mut out)?;
        Some(out)
    }

    #[test]
    fn strings_read_the_same_under_every_sql_mode() {
        assert_eq!(lit(Value::from("plain")).as_deref(), Some("'plain'"));
        assert_eq!(lit(Value::from("it's")).as_deref(), Some("'it''s'"));
        assert_eq!(lit(Value::from("\"q\"")).as_deref(), Some("'\"q\"'"));
        // A backslash or a control character goes as hex.
        assert_eq!(
            lit(Value::from("a\\b")).as_deref(),
            Some("_utf8mb4 X'615C62'")
        );
        assert_eq!(
            lit(Value::from("a\nb")).as_deref(),
            Some("_utf8mb4 X'610A62'")
        );
        assert_eq!(lit(Value::String(None)).as_deref(), Some("NULL"));
    }

    #[test]
    fn numbers_and_timestamps() {
        assert_eq!(lit(Value::from(0.1f64)).as_deref(), Some("1e-1"));
        assert_eq!(lit(Value::from(1e-300f64)).as_deref(), Some("1e-300"));
        assert_eq!(lit(Value::from(f64::INFINITY)), None);
        assert_eq!(lit(Value::from(-7i32)).as_deref(), Some("-7"));
        assert_eq!(lit(Value::from(true)).as_deref(), Some("1"));
        let t = chrono::DateTime::parse_from_rfc3339("2026-11-30T12:00:00.123456+02:00")
            .map_err(|e| e.to_string());
        assert_eq!(
            t.map(|t| lit(Value::from(t))),
            Ok(Some("'2026-11-30 10:00:00.123456'".to_owned()))
        );
    }
}
