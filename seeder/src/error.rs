//! Errors a caller must tell apart. Each message says what is wrong and what
//! to do; none contains a password (URLs are shown redacted).

use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("unknown table {name:?} in --only; valid names: {valid}")]
    UnknownTable { name: String, valid: String },

    #[error("unknown tenant {id:?}; the dataset's tenants are: {valid}")]
    UnknownTenant { id: String, valid: String },

    #[error("invalid database URL {url}: {reason}")]
    BadUrl { url: String, reason: String },

    #[error("no database at {path}: there is nothing to verify yet (run the seeder first)")]
    NoSqliteFile { path: String },

    #[error("cannot open database {target}: {reason}")]
    Connect { target: String, reason: String },

    #[error(
        "database {target} has no ota-seed schema ({pending} of {known} migrations not applied); \
         run without --no-migrate, or apply them with `cargo run -p migration -- up`"
    )]
    SchemaMissing {
        target: String,
        pending: usize,
        known: usize,
    },

    #[error(
        "database {target} has migrations this seeder does not know ({unknown}); \
         it was migrated by a newer ota-seed: update this checkout before seeding it"
    )]
    SchemaNewer { target: String, unknown: String },

    #[error(
        "database {target} has a seaql_migrations table of another application (it records \
         {theirs}, none of them ota-seed's) and no OTA tables: ota-seed's migrations would be \
         recorded there and break that application's migrator. Create the OTA tables with the \
         platform's own migrations (ota-seed then seeds them as they are), or seed another \
         database (on PostgreSQL, or another schema with --schema)"
    )]
    ForeignHistory { target: String, theirs: String },

    #[error(
        "database {target} has OTA tables that ota-seed cannot seed as they are ({}): {}. \
         Nothing was written. Change the tables (docs/schema.md lists what the seeder needs), \
         or seed a database without OTA tables, where ota-seed creates its own.",
        problem_count(.problems), .problems.join("; ")
    )]
    SchemaIncompatible {
        target: String,
        problems: Vec<String>,
    },

    #[error(
        "schema {schema:?} does not exist in database {target}; name an existing schema with --schema"
    )]
    NoSuchSchema { target: String, schema: String },

    #[error(
        "no schema of the search_path ({search_path}) exists in database {target}, so there is \
         nowhere to find or create the OTA tables; name one with --schema"
    )]
    NoSchemaOnPath { target: String, search_path: String },

    #[error(
        "the OTA tables of database {target} resolve to more than one schema through the \
         search_path ({spread}); name the schema that holds them with --schema"
    )]
    SchemaSpread { target: String, spread: String },

    #[error(
        "refusing to write to {target}: {reason}; --dry-run and verify only read and work there"
    )]
    ReadOnly { target: String, reason: String },

    #[error(
        "refusing to seed tenant {tenant}: the id sequence of {table} ({sequence}) would hand out \
         {next}, but ids up to {max_id} are taken (rows inserted with explicit ids?), so inserts \
         would fail on the primary key. Nothing of this tenant was written and no id was used. \
         As the table's owner, run: SELECT setval('{sequence}', (SELECT max(id) FROM {qualified_table}));"
    )]
    SequenceBehind {
        tenant: String,
        table: String,
        qualified_table: String,
        sequence: String,
        next: i64,
        max_id: i64,
    },

    #[error(
        "refusing to write to {target}: it is not on this machine, and seeding is meant for \
         development and staging databases; pass --allow-remote if this is the database you mean \
         (--dry-run and `verify` only read, and need no flag)"
    )]
    RemoteRefused { target: String },

    #[error("database error while {doing}: {reason}")]
    Database { doing: String, reason: String },
}

impl SeedError {
    /// Wraps a database error with what we were doing, scrubbing any secret.
    pub fn database(doing: impl Into<String>, err: DbErr, secret: Option<&str>) -> Self {
        SeedError::Database {
            doing: doing.into(),
            reason: with_hint(scrub(&err.to_string(), secret)),
        }
    }
}

/// Adds what to do to the driver messages a user is likeliest to meet.
pub fn with_hint(mut reason: String) -> String {
    // Each hint applies when all of its fragments occur in the message.
    const HINTS: [(&[&str], &str); 10] = [
        (
            &["statement pooling mode"],
            "the seeder needs transactions: set pool_mode = transaction (or session) for this \
             database in pgbouncer.ini, or connect to PostgreSQL directly",
        ),
        (
            &["permission denied"],
            "the role lacks a privilege; the README lists the grants an application role needs",
        ),
        (
            &["database \"", "does not exist"],
            "create the database first, or name an existing one in the URL",
        ),
        (
            &["Unknown database"],
            "create the database first, or name an existing one in the URL",
        ),
        (
            &["role \"", "does not exist"],
            "check the user name in the URL",
        ),
        (
            &["file is not a database"],
            "the file is not a SQLite database; name another file",
        ),
        (
            &["database is locked"],
            "another process holds a lock on the file; try again when it has finished",
        ),
        (
            &["readonly database"],
            "the file or its directory is read-only for this user",
        ),
        (
            &["unable to open database file"],
            "does the directory exist and is it writable?",
        ),
        (
            &["max_allowed_packet"],
            "the server's max_allowed_packet is smaller than one statement; raise it in the \
             server's configuration (max_allowed_packet = 64M under [mysqld]), or with \
             SET GLOBAL max_allowed_packet = 67108864 for new connections",
        ),
    ];
    if let Some((_, hint)) = HINTS
        .iter()
        .find(|(fragments, _)| fragments.iter().all(|f| reason.contains(f)))
    {
        reason.push_str(&format!(" ({hint})"));
    }
    reason
}

/// Removes a password from a message, wherever a driver may have echoed it.
pub fn scrub(message: &str, secret: Option<&str>) -> String {
    match secret {
        Some(s) if !s.is_empty() => message.replace(s, "***"),
        _ => message.to_owned(),
    }
}

fn problem_count(problems: &[String]) -> String {
    match problems.len() {
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_error_says_what_to_raise() {
        // As MariaDB 10.11 rejects a statement over its max_allowed_packet,
        // through sqlx and SeaORM.
        let reason = with_hint(
            "Execution Error: error returned from database: 1153 (08S01): \
             Got a packet bigger than 'max_allowed_packet' bytes"
                .to_owned(),
        );
        assert!(
            reason.ends_with(
                "(the server's max_allowed_packet is smaller than one statement; raise it in the \
                 server's configuration (max_allowed_packet = 64M under [mysqld]), or with \
                 SET GLOBAL max_allowed_packet = 67108864 for new connections)"
            ),
            "{reason}"
        );
    }
}
