//! Judging live OTA tables by what they are: whether the seeder can read
//! and write them as they stand, whoever created them.
//!
//! What the seeder needs of each table (docs/schema.md says why):
//! - every column of the entity crate, with a type the entity maps and the
//!   same nullability (the entities read and write whole rows);
//! - no NOT NULL column without a default that the seeder leaves unset
//!   (extra nullable or defaulted columns are fine);
//! - the unique key each table's natural key relies on (reruns and
//!   concurrent seeders insert only what is missing, and PostgreSQL's
//!   `ON CONFLICT` needs exactly that key), comparing keys as PostgreSQL
//!   does: case-sensitively.

use entity::{device_registry, firmware_versions, ota_campaigns, ota_device_status, tenants};
use sea_orm::sea_query::ColumnType;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait, Iden, Iterable,
    QueryResult, Statement, Value,
};

use super::txn::Txn;

/// What the seeder relies on in one table.
struct Needs {
    table: &'static str,
    columns: Vec<(String, ColumnType, bool)>,
    /// Columns the seeder gives a value when it inserts a row (see the
    /// steps); every other NOT NULL column needs a default.
    written: &'static [&'static str],
    /// Written columns that some rows leave NULL (a pending device has no
    /// started_at; only a failed one has an error_message).
    null_writes: &'static [&'static str],
    /// The natural key a unique index must cover exactly (none: campaigns
    /// are kept unique by the tenant lock).
    key: &'static [&'static str],
    /// Where the seeder builds this table's rows (the step) from the
    /// dataset's values, for messages about a column it must learn to fill.
    rows_built_in: &'static str,
}

fn entity_columns<E: EntityTrait>() -> Vec<(String, ColumnType, bool)> {
    E::Column::iter()
        .map(|c| {
            let def = c.def();
            (c.to_string(), def.get_column_type().clone(), def.is_null())
        })
        .collect()
}

fn needs() -> Vec<Needs> {
    vec![
        Needs {
            table: tenants::Entity.table_name(),
            columns: entity_columns::<tenants::Entity>(),
            written: &[
                "tenant_id",
                "name",
                "status",
                "contact_email",
                "country",
                "data_residency_region",
            ],
            null_writes: &[],
            key: &["tenant_id"],
            rows_built_in: "seeder/src/steps/tenants.rs from seeder/src/dataset/tenants.rs",
        },
        Needs {
            table: device_registry::Entity.table_name(),
            columns: entity_columns::<device_registry::Entity>(),
            written: &[
                "tenant_id",
                "device_id",
                "site_id",
                "status",
                "provision_token_hash",
                "fw_version",
                "metadata",
            ],
            null_writes: &[],
            key: &["tenant_id", "device_id"],
            rows_built_in: "seeder/src/steps/devices.rs from seeder/src/dataset/fleet.rs",
        },
        Needs {
            table: firmware_versions::Entity.table_name(),
            columns: entity_columns::<firmware_versions::Entity>(),
            written: &[
                "tenant_id",
                "version",
                "description",
                "file_url",
                "file_size_bytes",
                "checksum_sha256",
                "device_type",
                "created_by",
            ],
            null_writes: &[],
            key: &["tenant_id", "version", "device_type"],
            rows_built_in: "seeder/src/steps/firmware.rs from seeder/src/dataset/firmware.rs",
        },
        Needs {
            table: ota_campaigns::Entity.table_name(),
            columns: entity_columns::<ota_campaigns::Entity>(),
            written: &[
                "tenant_id",
                "name",
                "firmware_version_id",
                "target_group_id",
                "rollout_strategy",
                "rollout_rate",
                "abort_threshold",
                "status",
                "started_at",
                "completed_at",
                "created_by",
            ],
            null_writes: &["started_at", "completed_at"],
            key: &[],
            rows_built_in: "seeder/src/steps/campaigns.rs from seeder/src/dataset/campaigns.rs",
        },
        Needs {
            table: ota_device_status::Entity.table_name(),
            columns: entity_columns::<ota_device_status::Entity>(),
            written: &[
                "tenant_id",
                "campaign_id",
                "device_id",
                "status",
                "progress_pct",
                "error_message",
                "started_at",
                "completed_at",
            ],
            null_writes: &["error_message", "started_at", "completed_at"],
            key: &["tenant_id", "campaign_id", "device_id"],
            rows_built_in: "seeder/src/steps/device_status.rs from seeder/src/dataset/campaigns.rs",
        },
    ]
}

/// A column as the database has it.
#[derive(Debug, Clone)]
struct LiveColumn {
    table: String,
    name: String,
    /// The backend's type name, lower case (`int4`, `varchar`, ...).
    type_name: String,
    /// The type as the database spells it, for messages.
    type_text: String,
    nullable: bool,
    /// A default, an identity or auto-increment, or a generated value.
    has_default: bool,
    max_len: Option<i64>,
    /// MySQL/MariaDB: the column's collation.
    collation: Option<String>,
}

/// A unique index over plain columns, enforced at once (not deferrable).
#[derive(Debug, Clone)]
struct LiveKey {
    table: String,
    /// Its key columns (not INCLUDE columns), sorted.
    columns: Vec<String>,
    /// Key columns whose collation compares case-insensitively (or
    /// otherwise non-deterministically), with that collation.
    folding: Vec<(String, String)>,
}

/// Type families the entity crate's column types fall in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Text,
    Int(u8),
    Float(u8),
    Bool,
    Json,
    TimestampTz,
    Timestamp,
    Other,
}

impl Family {
    fn of_entity(ty: &ColumnType) -> Family {
        match ty {
            ColumnType::Text | ColumnType::String(_) | ColumnType::Char(_) => Family::Text,
            ColumnType::SmallInteger => Family::Int(2),
            ColumnType::Integer => Family::Int(4),
            ColumnType::BigInteger => Family::Int(8),
            ColumnType::Float => Family::Float(4),
            ColumnType::Double => Family::Float(8),
            ColumnType::Boolean => Family::Bool,
            ColumnType::Json | ColumnType::JsonBinary => Family::Json,
            ColumnType::TimestampWithTimeZone => Family::TimestampTz,
            _ => Family::Other,
        }
    }

    fn of_live(backend: DbBackend, type_name: &str, type_text: &str) -> Family {
        match backend {
            DbBackend::Postgres => match type_name {
                "text" | "varchar" | "bpchar" => Family::Text,
                "int2" => Family::Int(2),
                "int4" => Family::Int(4),
                "int8" => Family::Int(8),
                "float4" => Family::Float(4),
                "float8" => Family::Float(8),
                "bool" => Family::Bool,
                "json" | "jsonb" => Family::Json,
                "timestamptz" => Family::TimestampTz,
                "timestamp" => Family::Timestamp,
                _ => Family::Other,
            },
            _ => {
                let unsigned = type_text.contains("unsigned");
                match type_name {
                    "varchar" | "char" | "text" | "tinytext" | "mediumtext" | "longtext" => {
                        Family::Text
                    }
                    _ if unsigned => Family::Other,
                    "smallint" => Family::Int(2),
                    "int" => Family::Int(4),
                    "bigint" => Family::Int(8),
                    "float" => Family::Float(4),
                    "double" => Family::Float(8),
                    "json" => Family::Json,
                    "datetime" | "timestamp" => Family::TimestampTz,
                    _ => Family::Other,
                }
            }
        }
    }

    /// How PostgreSQL spells the family, for messages.
    fn pg_name(self) -> &'static str {
        match self {
            Family::Text => "text",
            Family::Int(2) => "smallint",
            Family::Int(8) => "bigint",
            Family::Int(_) => "integer",
            Family::Float(4) => "real",
            Family::Float(_) => "double precision",
            Family::Bool => "boolean",
            Family::Json => "json or jsonb",
            Family::TimestampTz => "timestamp with time zone",
            Family::Timestamp => "timestamp without time zone",
            Family::Other => "another type",
        }
    }
}

/// Whether a live column's type holds what the entity reads and writes.
/// SQLite's declared types are only affinities: any will do.
fn type_fits(backend: DbBackend, expected: Family, live: Family) -> bool {
    match (backend, expected, live) {
        (DbBackend::Sqlite, _, _) | (_, Family::Other, _) => true,
        // MariaDB's JSON is LONGTEXT with a check.
        (DbBackend::MySql, Family::Json, Family::Text) => true,
        _ => expected == live,
    }
}

/// Every reason the seeder cannot seed the OTA tables as they stand, in a
/// fixed order; empty when it can. Read through `txn` (the run's schema).
pub(super) async fn problems(txn: &Txn) -> Result<Vec<String>, DbErr> {
    let backend = txn.get_database_backend();
    let needs = needs();
    let tables: Vec<&str> = needs.iter().map(|n| n.table).collect();
    let (columns, keys) = match backend {
        DbBackend::Postgres => (
            pg_columns(txn, &tables).await?,
            pg_keys(txn, &tables).await?,
        ),
        DbBackend::MySql => (
            mysql_columns(txn, &tables).await?,
            mysql_keys(txn, &tables).await?,
        ),
        _ => sqlite_schema(txn, &tables).await?,
    };
    let mut problems = Vec::new();
    for need in &needs {
        let live: Vec<&LiveColumn> = columns.iter().filter(|c| c.table == need.table).collect();
        if live.is_empty() {
            problems.push(format!("table {} is missing", need.table));
            continue;
        }
        for (name, ty, nullable) in &need.columns {
            let column = format!("{}.{name}", need.table);
            let Some(found) = live.iter().find(|c| &c.name == name) else {
                problems.push(format!("column {column} is missing"));
                continue;
            };
            let expected = Family::of_entity(ty);
            let actual = Family::of_live(backend, &found.type_name, &found.type_text);
            if !type_fits(backend, expected, actual) {
                problems.push(format!(
                    "column {column} is {}, but the entity crate expects {}",
                    found.type_text,
                    expected.pg_name()
                ));
            }
            if found.nullable && !nullable && backend != DbBackend::Sqlite {
                problems.push(format!(
                    "column {column} allows NULL, but the entity crate reads it as NOT NULL"
                ));
            }
            if let (ColumnType::String(sea_orm::sea_query::StringLen::N(wanted)), Some(max)) =
                (ty, found.max_len)
                && max < i64::from(*wanted)
            {
                problems.push(format!(
                    "column {column} holds at most {max} characters, the entity crate up to {wanted}"
                ));
            }
        }
        for found in &live {
            if !found.nullable && need.null_writes.contains(&found.name.as_str()) {
                problems.push(format!(
                    "column {}.{} is NOT NULL, but the seeder leaves it NULL in some rows",
                    need.table, found.name
                ));
            }
            if !found.nullable && !found.has_default && !need.written.contains(&found.name.as_str())
            {
                problems.push(format!(
                    "column {}.{} is NOT NULL without a default, and the seeder has no value for it \
                     (give it a DEFAULT in its migration, or a value where the seeder builds {} rows: \
                     {}, then add it to `written` in seeder/src/db/inspect.rs)",
                    need.table, found.name, need.table, need.rows_built_in
                ));
            }
        }
        if need.key.is_empty() {
            continue;
        }
        let mut wanted: Vec<&str> = need.key.to_vec();
        wanted.sort_unstable();
        let matching: Vec<&LiveKey> = keys
            .iter()
            .filter(|k| {
                k.table == need.table
                    && k.columns
                        .iter()
                        .map(String::as_str)
                        .eq(wanted.iter().copied())
            })
            .collect();
        if matching.is_empty() {
            problems.push(format!(
                "{} has no unique key on ({}), which reruns and concurrent seeders rely on to insert each row once",
                need.table,
                need.key.join(", ")
            ));
        }
        // Keys compare as on PostgreSQL, case-sensitively: else the seeder
        // (which compares in Rust) and the database disagree about which
        // rows exist. MySQL keeps collations on columns, the others on the
        // index.
        let mut folding: Vec<(String, String)> =
            matching.iter().flat_map(|k| k.folding.clone()).collect();
        folding.extend(need.key.iter().filter_map(|name| {
            let column = live.iter().find(|c| c.name == *name)?;
            let collation = column.collation.as_deref().filter(|c| c.ends_with("_ci"))?;
            Some((column.name.clone(), collation.to_owned()))
        }));
        folding.sort();
        folding.dedup();
        for (column, collation) in folding {
            problems.push(format!(
                "key column {}.{column} compares case-insensitively (collation {collation}), unlike PostgreSQL",
                need.table
            ));
        }
    }
    Ok(problems)
}

fn in_list(tables: &[&str]) -> String {
    tables
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn rows(txn: &Txn, sql: String, values: Vec<Value>) -> Result<Vec<QueryResult>, DbErr> {
    let backend = txn.get_database_backend();
    txn.query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
}

/// From the catalog rather than information_schema, which hides columns
/// the role has no privilege on.
async fn pg_columns(txn: &Txn, tables: &[&str]) -> Result<Vec<LiveColumn>, DbErr> {
    let sql = format!(
        "SELECT c.relname::text AS table_name, a.attname::text AS column_name, \
                t.typname::text AS type_name, format_type(a.atttypid, a.atttypmod) AS type_text, \
                NOT a.attnotnull AS nullable, \
                (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default, \
                CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 \
                     THEN (a.atttypmod - 4)::int8 END AS max_len \
         FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid \
         JOIN pg_type t ON t.oid = a.atttypid \
         WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) \
           AND c.relkind IN ('r', 'p') AND c.relname IN ({}) \
           AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY c.relname, a.attnum",
        in_list(tables)
    );
    rows(txn, sql, Vec::new())
        .await?
        .iter()
        .map(|r| {
            Ok(LiveColumn {
                table: r.try_get("", "table_name")?,
                name: r.try_get("", "column_name")?,
                type_name: r.try_get("", "type_name")?,
                type_text: r.try_get("", "type_text")?,
                nullable: r.try_get("", "nullable")?,
                has_default: r.try_get("", "has_default")?,
                max_len: r.try_get("", "max_len")?,
                collation: None,
            })
        })
        .collect()
}

async fn pg_keys(txn: &Txn, tables: &[&str]) -> Result<Vec<LiveKey>, DbErr> {
    // Key columns only (INCLUDE columns follow them in indkey), and only
    // indexes that ON CONFLICT can use: valid, immediate, not partial, not
    // on expressions. int2vector and oidvector index from 0.
    let sql = format!(
        "SELECT c.relname::text AS table_name, \
                (SELECT string_agg(a.attname::text, ',' ORDER BY a.attname) \
                   FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) k(attnum) \
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS columns, \
                (SELECT string_agg(a.attname::text || '=' || co.collname::text, ',') \
                   FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1], i.indcollation::oid[]) x(attnum, coll) \
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = x.attnum \
                   JOIN pg_collation co ON co.oid = x.coll \
                  WHERE NOT co.collisdeterministic) AS folding \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
         WHERE i.indisunique AND i.indimmediate AND i.indisvalid \
           AND i.indpred IS NULL AND i.indexprs IS NULL \
           AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) \
           AND c.relname IN ({})",
        in_list(tables)
    );
    rows(txn, sql, Vec::new())
        .await?
        .iter()
        .map(|r| {
            let columns: Option<String> = r.try_get("", "columns")?;
            let folding: Option<String> = r.try_get("", "folding")?;
            Ok(LiveKey {
                table: r.try_get("", "table_name")?,
                columns: split_sorted(&columns.unwrap_or_default()),
                folding: folding
                    .unwrap_or_default()
                    .split(',')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(c, coll)| (c.to_owned(), coll.to_owned()))
                    .collect(),
            })
        })
        .collect()
}

async fn mysql_columns(txn: &Txn, tables: &[&str]) -> Result<Vec<LiveColumn>, DbErr> {
    let sql = format!(
        "SELECT CAST(TABLE_NAME AS CHAR) AS table_name, CAST(COLUMN_NAME AS CHAR) AS column_name, \
                CAST(LOWER(DATA_TYPE) AS CHAR) AS type_name, CAST(LOWER(COLUMN_TYPE) AS CHAR) AS type_text, \
                CAST(IS_NULLABLE = 'YES' AS SIGNED) AS nullable, \
                CAST(COLUMN_DEFAULT IS NOT NULL OR EXTRA LIKE '%auto_increment%' \
                     OR EXTRA LIKE '%GENERATED%' AS SIGNED) AS has_default, \
                CAST(CHARACTER_MAXIMUM_LENGTH AS SIGNED) AS max_len, \
                CAST(COLLATION_NAME AS CHAR) AS collation \
         FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN ({}) \
         ORDER BY TABLE_NAME, ORDINAL_POSITION",
        in_list(tables)
    );
    rows(txn, sql, Vec::new())
        .await?
        .iter()
        .map(|r| {
            Ok(LiveColumn {
                table: r.try_get("", "table_name")?,
                name: r.try_get("", "column_name")?,
                type_name: r.try_get("", "type_name")?,
                type_text: r.try_get("", "type_text")?,
                nullable: r.try_get::<i64>("", "nullable")? != 0,
                has_default: r.try_get::<i64>("", "has_default")? != 0,
                max_len: r.try_get("", "max_len")?,
                collation: r.try_get("", "collation")?,
            })
        })
        .collect()
}

async fn mysql_keys(txn: &Txn, tables: &[&str]) -> Result<Vec<LiveKey>, DbErr> {
    // A prefix (SUB_PART) index is unique on a prefix only: not the key.
    let sql = format!(
        "SELECT CAST(TABLE_NAME AS CHAR) AS table_name, \
                CAST(GROUP_CONCAT(COLUMN_NAME ORDER BY COLUMN_NAME SEPARATOR ',') AS CHAR) AS columns \
         FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = DATABASE() AND NON_UNIQUE = 0 AND TABLE_NAME IN ({}) \
         GROUP BY TABLE_NAME, INDEX_NAME \
         HAVING MAX(SUB_PART IS NOT NULL) = 0",
        in_list(tables)
    );
    rows(txn, sql, Vec::new())
        .await?
        .iter()
        .map(|r| {
            let columns: String = r.try_get("", "columns")?;
            Ok(LiveKey {
                table: r.try_get("", "table_name")?,
                columns: split_sorted(&columns),
                // Collations are a column property here (see `problems`).
                folding: Vec::new(),
            })
        })
        .collect()
}

/// SQLite keeps no types worth checking; nullability, defaults and unique
/// indexes (with their collations) it reports through its pragmas.
async fn sqlite_schema(
    txn: &Txn,
    tables: &[&str],
) -> Result<(Vec<LiveColumn>, Vec<LiveKey>), DbErr> {
    let mut columns = Vec::new();
    let mut keys = Vec::new();
    for table in tables {
        let found = rows(
            txn,
            "SELECT name, type, \"notnull\" AS not_null, dflt_value IS NOT NULL AS has_default, \
                    pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid"
                .to_owned(),
            vec![(*table).into()],
        )
        .await?;
        let pk_columns = found
            .iter()
            .filter(|r| r.try_get::<i64>("", "pk").is_ok_and(|pk| pk > 0))
            .count();
        for r in &found {
            let declared: String = r.try_get("", "type")?;
            let pk: i64 = r.try_get("", "pk")?;
            // INTEGER PRIMARY KEY is the rowid: SQLite assigns it.
            let rowid = pk == 1 && pk_columns == 1 && declared.eq_ignore_ascii_case("integer");
            columns.push(LiveColumn {
                table: (*table).to_owned(),
                name: r.try_get("", "name")?,
                type_name: declared.to_lowercase(),
                type_text: declared,
                // A primary key column is NOT NULL in practice (the seeder
                // never writes NULL there) even when SQLite allows it.
                nullable: r.try_get::<i64>("", "not_null")? == 0 && pk == 0,
                has_default: r.try_get::<i64>("", "has_default")? != 0
                    || r.try_get::<i64>("", "hidden")? > 1
                    || rowid,
                max_len: None,
                collation: None,
            });
        }
        let indexes = rows(
            txn,
            "SELECT name FROM pragma_index_list(?) WHERE \"unique\" = 1 AND partial = 0".to_owned(),
            vec![(*table).into()],
        )
        .await?;
        for index in &indexes {
            let name: String = index.try_get("", "name")?;
            let parts = rows(
                txn,
                "SELECT name, coll FROM pragma_index_xinfo(?) WHERE key = 1 ORDER BY seqno"
                    .to_owned(),
                vec![name.into()],
            )
            .await?;
            let mut names = Vec::new();
            let mut folding = Vec::new();
            for part in &parts {
                let Some(column) = part.try_get::<Option<String>>("", "name")? else {
                    names.clear();
                    break;
                };
                let coll: Option<String> = part.try_get("", "coll")?;
                if let Some(coll) = coll.filter(|c| !c.eq_ignore_ascii_case("BINARY")) {
                    folding.push((column.clone(), coll));
                }
                names.push(column);
            }
            if !names.is_empty() {
                names.sort_unstable();
                keys.push(LiveKey {
                    table: (*table).to_owned(),
                    columns: names,
                    folding,
                });
            }
        }
    }
    Ok((columns, keys))
}

fn split_sorted(list: &str) -> Vec<String> {
    let mut names: Vec<String> = list
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    names.sort_unstable();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_written_column_is_an_entity_column() {
        for need in needs() {
            for written in need.written.iter().chain(need.key).chain(need.null_writes) {
                assert!(
                    need.columns.iter().any(|(name, _, _)| name == written),
                    "{}.{written}",
                    need.table
                );
            }
        }
    }

    /// The files a message sends the reader to exist (a move updates them).
    #[test]
    fn the_places_named_in_messages_exist() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for need in needs() {
            for file in need.rows_built_in.split(" from ") {
                assert!(root.join(file).is_file(), "{}: {file}", need.table);
            }
        }
    }

    #[test]
    fn types_compare_by_family() {
        let pg = DbBackend::Postgres;
        assert!(type_fits(
            pg,
            Family::Text,
            Family::of_live(pg, "varchar", "character varying(50)")
        ));
        assert!(!type_fits(
            pg,
            Family::Int(8),
            Family::of_live(pg, "int4", "integer")
        ));
        assert!(!type_fits(
            pg,
            Family::TimestampTz,
            Family::of_live(pg, "timestamp", "timestamp without time zone")
        ));
        assert!(!type_fits(
            pg,
            Family::Text,
            Family::of_live(pg, "citext", "citext")
        ));
        let my = DbBackend::MySql;
        assert!(type_fits(
            my,
            Family::Json,
            Family::of_live(my, "longtext", "longtext")
        ));
        assert!(!type_fits(
            my,
            Family::Int(4),
            Family::of_live(my, "int", "int(10) unsigned")
        ));
        assert!(type_fits(DbBackend::Sqlite, Family::Int(8), Family::Text));
    }
}
