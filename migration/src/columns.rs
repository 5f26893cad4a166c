//! Column shapes that differ per backend. The PostgreSQL form is the
//! platform's; the others are the closest faithful equivalent:
//! - MySQL/MariaDB cannot index TEXT without a prefix length, so identifier
//!   columns that take part in a key are `VARCHAR(255)` there, and tables use
//!   the binary collation so keys compare case-sensitively as on PostgreSQL.
//! - MySQL's TIMESTAMP ends in 2038, so timestamps are `DATETIME(6)`. A
//!   DATETIME has no zone: values are UTC because every connection through
//!   sqlx sets `time_zone = '+00:00'` (its default), which also governs the
//!   `CURRENT_TIMESTAMP(6)` defaults. A client in another session time zone
//!   would write local times.
//! - SQLite has no real column types; the declared types are kept readable.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

/// Length of identifier columns on MySQL/MariaDB, where keys need a bound.
pub const MYSQL_KEY_LEN: u32 = 255;

/// A text identifier that takes part in a primary, unique or foreign key.
pub fn key_text<T: IntoIden>(name: T, backend: DbBackend) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    match backend {
        DbBackend::MySql => col.string_len(MYSQL_KEY_LEN),
        _ => col.text(),
    };
    col.not_null();
    col
}

/// `VARCHAR` without a length on PostgreSQL (as the platform declares
/// `ota_device_status.device_id`), bounded where a key needs it.
pub fn key_varchar<T: IntoIden>(name: T, backend: DbBackend) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    match backend {
        DbBackend::MySql => col.string_len(MYSQL_KEY_LEN),
        _ => col.custom(Alias::new("varchar")),
    };
    col.not_null();
    col
}

/// `TIMESTAMPTZ`; `DATETIME(6)` on MySQL/MariaDB (values are stored in UTC).
pub fn timestamptz<T: IntoIden>(name: T, backend: DbBackend) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    match backend {
        DbBackend::MySql => col.custom(Alias::new("DATETIME(6)")),
        _ => col.timestamp_with_time_zone(),
    };
    col
}

/// `TIMESTAMPTZ NOT NULL DEFAULT now()` in each backend's spelling.
pub fn created_now<T: IntoIden>(name: T, backend: DbBackend) -> ColumnDef {
    let mut col = timestamptz(name, backend);
    col.not_null().default(match backend {
        DbBackend::Postgres => Expr::cust("now()"),
        DbBackend::MySql => Expr::cust("CURRENT_TIMESTAMP(6)"),
        _ => Expr::cust("CURRENT_TIMESTAMP"),
    });
    col
}

/// `JSONB NOT NULL DEFAULT '{}'`; JSON on MySQL/MariaDB, text on SQLite.
pub fn json_object<T: IntoIden>(name: T, backend: DbBackend) -> ColumnDef {
    let mut col = ColumnDef::new(name);
    col.json_binary().not_null().default(match backend {
        DbBackend::Postgres => Expr::cust("'{}'::jsonb"),
        _ => Expr::cust("'{}'"),
    });
    col
}

/// Table options every table gets: on MySQL/MariaDB, InnoDB with a binary
/// collation so `'ABC'` and `'abc'` are distinct keys, as on PostgreSQL.
pub fn table_for(backend: DbBackend) -> TableCreateStatement {
    let mut table = Table::create();
    if backend == DbBackend::MySql {
        table
            .engine("InnoDB")
            .character_set("utf8mb4")
            .collate("utf8mb4_bin");
    }
    table
}

/// A `status IN (...)` check, written the same on every backend.
pub fn one_of<T: IntoIden + Clone + 'static>(column: T, values: &[&str]) -> SimpleExpr {
    Expr::col(column).is_in(values.iter().map(|v| (*v).to_owned()))
}
