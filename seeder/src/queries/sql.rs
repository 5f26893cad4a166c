//! Portable read-only SQL: written with `?` placeholders, numbered for
//! PostgreSQL. Values are always bound, never spliced into the text.
//!
//! Timestamps are compared and ordered through `{instant:alias.column}`
//! placeholders, which each backend expands to an expression ordered as
//! the instants the column holds (see [`instant`]); a key of a JSON object
//! column is read through `{json_text:alias.column.key}`, which each
//! backend spells its own way (see [`json_text`]).

use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, Value};

pub struct Query {
    sql: String,
    values: Vec<Value>,
}

impl Query {
    pub fn new(sql: &str) -> Query {
        Query {
            sql: sql.to_owned(),
            values: Vec::new(),
        }
    }

    /// Replaces `{tenants:alias}` with a tenant filter on `alias.tenant_id`
    /// (or with `1 = 1` when every tenant is checked).
    pub fn tenants(mut self, alias: &str, tenants: Option<&[String]>) -> Query {
        let marker = format!("{{tenants:{alias}}}");
        let clause = match tenants {
            None => "1 = 1".to_owned(),
            Some([]) => "1 = 0".to_owned(),
            Some(ids) => {
                self.values
                    .extend(ids.iter().map(|id| Value::from(id.clone())));
                format!("{alias}.tenant_id IN ({})", vec!["?"; ids.len()].join(", "))
            }
        };
        self.sql = self.sql.replacen(&marker, &clause, 1);
        self
    }

    pub async fn all<C: ConnectionTrait>(self, conn: &C) -> Result<Vec<QueryResult>, DbErr> {
        let backend = conn.get_database_backend();
        let sql = expand(&self.sql, INSTANT_MARKER, |c| instant(backend, c));
        let sql = expand(&sql, JSON_TEXT_MARKER, |c| json_text(backend, c));
        let sql = if backend == DbBackend::Postgres {
            numbered(&sql)
        } else {
            sql
        };
        conn.query_all_raw(Statement::from_sql_and_values(backend, sql, self.values))
            .await
    }
}

/// `?` placeholders as PostgreSQL's `$1`, `$2`, ...
pub fn numbered(sql: &str) -> String {
    let mut n = 0;
    let mut out = String::with_capacity(sql.len() + 8);
    for ch in sql.chars() {
        if ch == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(ch);
        }
    }
    out
}

/// A column computed from integer literals (`CASE WHEN … THEN 1 ELSE 0
/// END`, sums of such): int4 on PostgreSQL, 64-bit elsewhere.
pub fn int(row: &QueryResult, column: &str) -> Result<i64, DbErr> {
    row.try_get::<i32>("", column)
        .map(i64::from)
        .or_else(|_| row.try_get::<i64>("", column))
}

/// A `CASE WHEN … THEN 1 ELSE 0 END` column as a bool.
pub fn flag(row: &QueryResult, column: &str) -> Result<bool, DbErr> {
    Ok(int(row, column)? != 0)
}

const INSTANT_MARKER: &str = "{instant:";
const JSON_TEXT_MARKER: &str = "{json_text:";

/// Replaces every `{marker…}` in `sql` (`marker` being `{instant:` or
/// `{json_text:`) with `expansion` of what the placeholder names.
fn expand(sql: &str, marker: &str, expansion: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(start) = rest.find(marker) {
        let after = &rest[start + marker.len()..];
        let Some(end) = after.find('}') else {
            // An unclosed marker in our own SQL: left as written, so the
            // database's syntax error shows it.
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&expansion(&after[..end]));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// An SQL expression for the text of `key` in the JSON object column
/// `column`, given as `alias.column.key` (from our own query text): a JSON
/// string's value without its quotes; NULL where the object has no such
/// key, where its value is JSON `null`, where the column is not an object,
/// and on SQLite where the text is not JSON at all.
///
/// - PostgreSQL (`JSONB`): `->>`.
/// - MySQL/MariaDB: `JSON_UNQUOTE(JSON_EXTRACT(…))`, which turns JSON
///   `null` into the text `null`; `JSON_TYPE` tells it from the string
///   `"null"`, so that every backend reads JSON `null` as no value.
/// - SQLite (`json_extract`): the column is plain text there, which
///   nothing keeps from being malformed, and `json_extract` raises an
///   error on malformed JSON that would stop the whole verification.
pub fn json_text(backend: DbBackend, path: &str) -> String {
    let (column, key) = path.rsplit_once('.').unwrap_or((path, ""));
    debug_assert!(
        !key.is_empty()
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && column
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'),
        "json_text() takes alias.column.key from our own SQL, got {path:?}"
    );
    match backend {
        DbBackend::Postgres => format!("({column} ->> '{key}')"),
        DbBackend::MySql => {
            let value = format!("JSON_EXTRACT({column}, '$.{key}')");
            format!("(CASE WHEN JSON_TYPE({value}) <> 'NULL' THEN JSON_UNQUOTE({value}) END)")
        }
        _ => format!("(CASE WHEN json_valid({column}) THEN json_extract({column}, '$.{key}') END)"),
    }
}

/// An SQL expression over the timestamp column `column` (`alias.column`,
/// from our own query text) whose `<`, `=` and `ORDER BY` are those of the
/// instants it holds; NULL where the column is NULL.
///
/// PostgreSQL (`timestamptz`) and MySQL/MariaDB (`DATETIME(6)` holding UTC)
/// compare instants natively, so there it is the column itself.
///
/// SQLite has no timestamp type: SeaORM stores text such as
/// `2026-11-28T04:47:48.725625+00:00`, and other tools write other offsets,
/// `Z`, a space for the `T`, fewer or more fraction digits. Compared as text,
/// `2026-11-28 10:00:00+13:45` sorts after `2026-11-27 21:00:00+00:00`
/// although it is the earlier instant. There the expression is the instant
/// as integer microseconds since 1970-01-01 UTC, the precision of the other
/// backends' columns:
///
/// - the whole seconds come from SQLite's own parser (`strftime('%s', …)`,
///   which applies `Z`, `+HH:MM`, `-HH:MM` or no suffix = UTC, and takes `T`
///   or a space), given the value without its fraction (what follows
///   position 19 with `.` and digits trimmed from its start is the offset):
///   SQLite keeps only milliseconds and rounds them, so `10:00:00.9999`
///   would become `10:00:01` and sub-millisecond differences would vanish;
/// - the microseconds are the fraction's first six characters after a `.`
///   at position 20, read as the decimal `0.ffffff` (`CAST(… AS REAL)` stops
///   at the offset, and gives 0 when there is no fraction) and scaled by
///   10^6: six significant digits are far inside a double's precision, so
///   rounding gives them back exactly. SeaORM itself writes up to nine
///   digits on SQLite; beyond the sixth they are dropped, which is the
///   precision PostgreSQL, the reference backend, keeps. (Padding the digit
///   run as text gives the same numbers at twice the cost.)
///
/// Text SQLite cannot read as a timestamp gives NULL, as it does in SQLite's
/// own date functions (a `.` without digits is read as no fraction).
/// Nanoseconds would overflow 64 bits after 2262, hence microseconds.
pub fn instant(backend: DbBackend, column: &str) -> String {
    debug_assert!(
        column
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'),
        "instant() takes a column reference from our own SQL, got {column:?}"
    );
    if backend != DbBackend::Sqlite {
        return column.to_owned();
    }
    let x = column;
    let seconds = format!(
        "CAST(strftime('%s', substr({x}, 1, 19) || ltrim(substr({x}, 20), '.0123456789')) AS INTEGER)"
    );
    let micros =
        format!("CAST(round(CAST('0' || substr({x}, 20, 7) AS REAL) * 1000000) AS INTEGER)");
    format!("({seconds} * 1000000 + {micros})")
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use sea_orm::{Database, DatabaseConnection};

    use super::*;

    fn expand_instants(sql: &str, backend: DbBackend) -> String {
        expand(sql, INSTANT_MARKER, |c| instant(backend, c))
    }

    async fn sqlite() -> DatabaseConnection {
        Database::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite")
    }

    /// The SQLite expression's value for one stored text (NULL as None).
    async fn micros(db: &DatabaseConnection, stored: Option<&str>) -> Option<i64> {
        let mut q = Query::new("SELECT {instant:t.v} AS k FROM (SELECT ? AS v) t");
        q.values.push(Value::from(stored.map(str::to_owned)));
        let rows = q.all(db).await.expect("instant query");
        rows[0].try_get::<Option<i64>>("", "k").expect("k")
    }

    /// How SQLite's `<`, `=` and `>` on the two expressions order `a` and
    /// `b` (None when the comparison is NULL).
    async fn compare(db: &DatabaseConnection, a: &str, b: &str) -> Option<Ordering> {
        let mut q = Query::new(
            "SELECT CASE WHEN {instant:t.a} < {instant:t.b} THEN -1 \
                         WHEN {instant:t.a} = {instant:t.b} THEN 0 \
                         WHEN {instant:t.a} > {instant:t.b} THEN 1 END AS o \
             FROM (SELECT ? AS a, ? AS b) t",
        );
        q.values.push(Value::from(a.to_owned()));
        q.values.push(Value::from(b.to_owned()));
        let rows = q.all(db).await.expect("compare query");
        let o: Option<i32> = rows[0].try_get("", "o").expect("o");
        o.map(|o| o.cmp(&0))
    }

    #[tokio::test]
    async fn the_issues_case_compares_as_instants() {
        let db = sqlite().await;
        // Text says started > completed; as instants started (20:15Z) is
        // 45 minutes before completed (21:00Z).
        let started = "2026-11-28 10:00:00+13:45";
        let completed = "2026-11-27 21:00:00+00:00";
        assert!(started > completed);
        assert_eq!(
            compare(&db, completed, started).await,
            Some(Ordering::Greater)
        );
        // 2026-11-27 20:15:00 UTC.
        assert_eq!(
            micros(&db, Some(started)).await,
            Some(1_795_810_500_000_000)
        );
        assert_eq!(
            micros(&db, Some("2026-11-28T04:47:48.725625+00:00")).await,
            Some(1_795_841_268_725_625),
            "SeaORM's own format"
        );
    }

    #[tokio::test]
    async fn equal_instants_written_differently_are_equal() {
        let db = sqlite().await;
        let same = [
            "2026-11-28 10:00:00+13:45",
            "2026-11-27T20:15:00Z",
            "2026-11-27 20:15:00.000+00:00",
            "2026-11-27T20:15:00.000000000+00:00",
            "2026-11-27 15:15:00-05:00",
            "2026-11-27 20:15:00", // no suffix: UTC, as SQLite reads it
        ];
        for a in same {
            for b in same {
                assert_eq!(
                    compare(&db, a, b).await,
                    Some(Ordering::Equal),
                    "{a} vs {b}"
                );
            }
        }
        assert_eq!(
            compare(
                &db,
                "2026-11-28 10:00:00.5Z",
                "2026-11-28T11:00:00.500000+01:00"
            )
            .await,
            Some(Ordering::Equal)
        );
    }

    #[tokio::test]
    async fn sub_millisecond_order_holds_across_offsets() {
        let db = sqlite().await;
        let cases = [
            // 09:00:00.000400Z vs 09:00:00.000399Z: later by 1 µs, though
            // earlier as text (' ' sorts before 'T').
            (
                "2026-11-28 10:00:00.0004+01:00",
                "2026-11-28T09:00:00.000399Z",
                Ordering::Greater,
            ),
            // Both are .000 at SQLite's millisecond precision.
            (
                "2026-11-28 10:00:00.0002Z",
                "2026-11-28 10:00:00.0004Z",
                Ordering::Less,
            ),
            (
                "2026-11-28 10:00:00.000200-02:00",
                "2026-11-28 13:00:00.0001+01:00",
                Ordering::Greater,
            ),
            // A fraction near the next second must not round into it.
            (
                "2026-11-28 10:00:00.9999Z",
                "2026-11-28 10:00:01Z",
                Ordering::Less,
            ),
            (
                "2026-11-28 10:00:00.999999999+00:00",
                "2026-11-28T10:00:01+00:00",
                Ordering::Less,
            ),
            // Beyond the sixth digit (below every backend's precision) the
            // digits are dropped, not rounded.
            (
                "2026-11-28 10:00:00.1234569Z",
                "2026-11-28 10:00:00.123456+00:00",
                Ordering::Equal,
            ),
            (
                "2026-11-28 10:00:00.123457Z",
                "2026-11-28 10:00:00.123456999Z",
                Ordering::Greater,
            ),
        ];
        for (a, b, expected) in cases {
            assert_eq!(compare(&db, a, b).await, Some(expected), "{a} vs {b}");
            assert_eq!(
                compare(&db, b, a).await,
                Some(expected.reverse()),
                "{b} vs {a}"
            );
        }
    }

    #[tokio::test]
    async fn every_written_form_is_read() {
        let db = sqlite().await;
        // 2026-11-28 10:00:00 UTC in microseconds since the epoch.
        let ten = 1_795_860_000_000_000;
        let hour = 3_600_000_000;
        let cases = [
            ("2026-11-28 10:00:00", ten),
            ("2026-11-28T10:00:00Z", ten),
            ("2026-11-28 10:00:00.1Z", ten + 100_000),
            ("2026-11-28 10:00:00.12-00:30", ten + hour / 2 + 120_000),
            (
                "2026-11-28T10:00:00.123456+05:30",
                ten - 11 * hour / 2 + 123_456,
            ),
            (
                "2026-11-28 10:00:00.1234567-10:00",
                ten + 10 * hour + 123_456,
            ),
            (
                "2026-11-28 10:00:00.123456789+13:45",
                ten - 55 * hour / 4 + 123_456,
            ),
            ("2026-11-28 10:00:00.25 +01:00", ten - hour + 250_000),
            // SeaORM's own text for a large fleet's step (nanoseconds).
            ("2026-11-28T10:00:00.781743368+00:00", ten + 781_743),
            ("2026-11-28T10:00:00+00:00", ten),
            // Midnight crossing backwards into the previous year.
            ("2027-01-01 00:30:00.5+01:00", 1_798_759_800_500_000),
            // Before the epoch the fraction still counts forwards.
            ("1969-12-31 23:59:59.5Z", -500_000),
        ];
        for (stored, expected) in cases {
            assert_eq!(micros(&db, Some(stored)).await, Some(expected), "{stored}");
        }
    }

    /// The fraction is read through a double: every one of the 10^6
    /// six-digit fractions must come back exact, with and without an offset
    /// after it.
    #[tokio::test]
    async fn every_six_digit_fraction_is_exact() {
        let db = sqlite().await;
        let rows = Query::new(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999999) \
             SELECT COUNT(*) AS wrong FROM ( \
               SELECT i, '2026-11-28 10:00:00.' || printf('%06d', i) AS v, \
                      '2026-11-28T10:00:00.' || printf('%06d', i) || '-01:30' AS w FROM n) t \
             WHERE {instant:t.v} <> 1795860000000000 + i \
                OR {instant:t.w} <> 1795865400000000 + i",
        )
        .all(&db)
        .await
        .expect("fraction query");
        let wrong: i64 = rows[0].try_get("", "wrong").expect("wrong");
        assert_eq!(wrong, 0);
    }

    #[tokio::test]
    async fn null_and_unreadable_text_stay_null() {
        let db = sqlite().await;
        assert_eq!(micros(&db, None).await, None);
        assert_eq!(micros(&db, Some("not a timestamp")).await, None);
        assert_eq!(compare(&db, "2026-11-28 10:00:00Z", "garbage").await, None);
    }

    #[tokio::test]
    async fn order_by_sorts_instants() {
        let db = sqlite().await;
        // Listed in instant order; as text the order is quite different.
        let by_instant = [
            "2026-11-28 10:00:00+13:45",        // 11-27 20:15:00Z
            "2026-11-27 21:00:00+00:00",        // 11-27 21:00:00Z
            "2026-11-28T09:00:00.000399Z",      // 11-28 09:00:00.000399Z
            "2026-11-28 10:00:00.0004+01:00",   // 11-28 09:00:00.000400Z
            "2026-11-28 05:00:00.000401-04:00", // 11-28 09:00:00.000401Z
        ];
        let mut q = Query::new(&format!(
            "SELECT t.v FROM ({}) t ORDER BY {{instant:t.v}} DESC",
            vec!["SELECT ? AS v"; by_instant.len()].join(" UNION ALL ")
        ));
        // Bound in an order that is neither the text nor the instant order.
        for v in [2, 4, 0, 3, 1] {
            q.values.push(Value::from(by_instant[v].to_owned()));
        }
        let rows = q.all(&db).await.expect("order query");
        let got: Vec<String> = rows
            .iter()
            .map(|r| r.try_get("", "v").expect("v"))
            .collect();
        let expected: Vec<String> = by_instant.iter().rev().map(|s| (*s).to_owned()).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn other_backends_compare_the_column_itself() {
        let sql = "WHERE {instant:s.completed_at} < {instant:s.started_at} AND x = ?";
        for backend in [DbBackend::Postgres, DbBackend::MySql] {
            assert_eq!(
                expand_instants(sql, backend),
                "WHERE s.completed_at < s.started_at AND x = ?"
            );
        }
        let sqlite = expand_instants(sql, DbBackend::Sqlite);
        assert!(!sqlite.contains("{instant:"), "{sqlite}");
        for column in ["s.completed_at", "s.started_at"] {
            let seconds = format!("strftime('%s', substr({column}, 1, 19)");
            assert!(sqlite.contains(&seconds), "{sqlite}");
        }
        assert_eq!(
            sqlite.matches('?').count(),
            1,
            "no placeholder added: {sqlite}"
        );
    }

    /// What `{json_text:t.v.type}` reads from the stored text `stored` on
    /// SQLite.
    async fn type_text(db: &DatabaseConnection, stored: &str) -> Option<String> {
        let mut q = Query::new("SELECT {json_text:t.v.type} AS k FROM (SELECT ? AS v) t");
        q.values.push(Value::from(stored.to_owned()));
        let rows = q.all(db).await.expect("json_text query");
        rows[0].try_get::<Option<String>>("", "k").expect("k")
    }

    #[tokio::test]
    async fn json_text_reads_a_key_and_nothing_else() {
        let db = sqlite().await;
        let cases = [
            (r#"{"type":"camera","model":"X"}"#, Some("camera")),
            (r#"{"type":"say \"cheese\""}"#, Some(r#"say "cheese""#)),
            (r#"{"type":"null"}"#, Some("null")),
            (r#"{"model":"DHT22"}"#, None),
            (r#"{"type":null}"#, None),
            ("[1, 2]", None),
            ("{}", None),
            // Malformed text (SQLite stores whatever it is given): no
            // value, rather than an error that would stop verify.
            ("{not json", None),
        ];
        for (stored, expected) in cases {
            assert_eq!(
                type_text(&db, stored).await.as_deref(),
                expected,
                "{stored}"
            );
        }
    }

    #[test]
    fn json_text_is_spelled_per_backend() {
        let sql = "WHERE {json_text:d.metadata.type} <> f.device_type AND x = ?";
        assert_eq!(
            expand(sql, JSON_TEXT_MARKER, |c| json_text(DbBackend::Postgres, c)),
            "WHERE (d.metadata ->> 'type') <> f.device_type AND x = ?"
        );
        let mysql = expand(sql, JSON_TEXT_MARKER, |c| json_text(DbBackend::MySql, c));
        assert!(
            mysql.contains("JSON_UNQUOTE(JSON_EXTRACT(d.metadata, '$.type'))"),
            "{mysql}"
        );
        let sqlite = expand(sql, JSON_TEXT_MARKER, |c| json_text(DbBackend::Sqlite, c));
        assert!(
            sqlite.contains("json_extract(d.metadata, '$.type')"),
            "{sqlite}"
        );
        for expanded in [mysql, sqlite] {
            assert!(!expanded.contains("{json_text:"), "{expanded}");
            assert_eq!(expanded.matches('?').count(), 1, "{expanded}");
        }
    }
}
