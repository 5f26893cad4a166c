//! Errors a caller must tell apart. Each message says what is wrong and what
//! to do. Database errors keep the driver's error as their source.
//!
//! `target` fields name the database in messages: empty unless the caller
//! gave a name ([`Seeder::database_name`](crate::Seeder::database_name)),
//! which then reads "database NAME" (or just NAME where the message says
//! "refusing to write to").

use sea_orm::DbErr;

use crate::table::Table;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("unknown tenant {id:?}; the dataset's tenants are: {valid}")]
    UnknownTenant { id: String, valid: String },

    #[error(
        "{} {}; run the seeder without --no-migrate (it applies them), or apply them with \
         `cargo run -p migration -- -u \"$DATABASE_URL\" up`",
        named(.target), behind(*.pending, *.known)
    )]
    SchemaMissing {
        target: String,
        pending: usize,
        known: usize,
    },

    #[error(
        "{} has migrations this seeder does not know ({unknown}); \
         it was migrated by a newer ota-seed: update this checkout before seeding it",
        named(.target)
    )]
    SchemaNewer { target: String, unknown: String },

    #[error(
        "{} has a seaql_migrations table of another application (it records \
         {theirs}, none of them ota-seed's) and no OTA tables: ota-seed's migrations would be \
         recorded there and break that application's migrator. Create the OTA tables with the \
         platform's own migrations (ota-seed then seeds them as they are), or seed another \
         database (on PostgreSQL, or another schema with --schema)",
        named(.target)
    )]
    ForeignHistory { target: String, theirs: String },

    #[error(
        "{} has OTA tables that ota-seed cannot seed as they are ({}): {}. \
         Nothing was written. Change the tables (docs/schema.md lists what the seeder needs), \
         or seed a database without OTA tables, where ota-seed creates its own.",
        named(.target), problem_count(.problems), .problems.join("; ")
    )]
    SchemaIncompatible {
        target: String,
        problems: Vec<String>,
    },

    #[error(
        "schema {schema:?} does not exist in {}; name an existing schema with --schema",
        named(.target)
    )]
    NoSuchSchema { target: String, schema: String },

    #[error(
        "no schema of the search_path ({search_path}) exists in {}, so there is \
         nowhere to find or create the OTA tables; name one with --schema",
        named(.target)
    )]
    NoSchemaOnPath { target: String, search_path: String },

    #[error(
        "the OTA tables of {} resolve to more than one schema through the \
         search_path ({spread}); name the schema that holds them with --schema",
        named(.target)
    )]
    SchemaSpread { target: String, spread: String },

    #[error(
        "refusing to write to {}: {reason}; --dry-run and verify only read and work there",
        bare(.target)
    )]
    ReadOnly { target: String, reason: String },

    /// A clustered server where the seeder's writes would not be safe
    /// (a Galera node with replication off for the session, outside the
    /// primary component, or OTA tables Galera does not replicate).
    /// Nothing was written.
    #[error("refusing to write to {}: {reason}. Nothing was written.", bare(.target))]
    UnsafeCluster { target: String, reason: String },

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

    /// The tenant holds rows of another dataset (another scenario, other
    /// sizes or another seed): seeding over it would mix two worlds.
    #[error(
        "refusing to seed tenant {tenant}: it holds another dataset than this one (scenario \
         {scenario}, --seed {seed}): {}. Nothing of this tenant was written. Seed it with the \
         scenario and options it was seeded with, or start over: `seeder reset` with these \
         options deletes the dataset's tenants, then seed again.",
        .differences.join("; ")
    )]
    OtherWorld {
        tenant: String,
        scenario: String,
        seed: u64,
        differences: Vec<String>,
    },

    /// The server went away while a tenant was being seeded: its
    /// connection failed and no new one was accepted within the connect
    /// timeout (a stopped or crashed server, a cluster node that left).
    /// The tenant's transaction was rolled back, unless the connection
    /// was lost during its COMMIT (`lost_while`), when whether it was
    /// applied is unknown; tenants committed before it stay. A rerun,
    /// through this server once back or another one of the same database,
    /// adds only what is missing.
    #[error(
        "lost the database server at {server} while {lost_while} for tenant {tenant}, and it \
         accepts no new connection: it was stopped, crashed, or (on a cluster) this node left. \
         {} Seed again once it is back, or through another server of the same database (on a \
         cluster: another node); a rerun adds only what is missing",
        outcome_after(.lost_while, .tenant, "was written")
    )]
    ServerLost {
        /// `host:port` (or the socket's path) the connection was made to.
        server: String,
        tenant: String,
        /// What the tenant's transaction was doing when the connection failed.
        lost_while: String,
        #[source]
        source: Box<DbErr>,
    },

    /// The server stopped answering while a tenant was being seeded: no
    /// answer came within the statement timeout plus its grace
    /// (`db::ANSWER_GRACE`). The tenant's transaction was not committed,
    /// unless the wait was for its COMMIT (`waiting_while`), when whether
    /// it was applied is unknown; tenants committed before it stay. Not
    /// retried: the server may still be working on what it was sent.
    #[error(
        "the database server at {server} sent no answer for {} s while {waiting_while} for \
         tenant {tenant}: it is stopped or overloaded, the network to it drops packets{}, or the \
         work takes longer than --statement-timeout allows. {} Seed again once it answers; a \
         rerun adds only what is missing",
        waited.as_secs(),
        if *.galera { GALERA_STALL } else { "" },
        outcome_after(.waiting_while, .tenant, "was committed")
    )]
    NoAnswer {
        /// `host:port` (or the socket's path) the connection was made to.
        server: String,
        tenant: String,
        /// What the tenant's transaction was waiting for.
        waiting_while: String,
        /// How long the seeder waited.
        waited: std::time::Duration,
        /// Whether the server is a Galera node (the message then names the
        /// cluster's own way of stalling).
        galera: bool,
        #[source]
        source: Box<DbErr>,
    },

    /// The database stored fewer rows than the seeder sent and said nothing
    /// of the rest: a trigger (a BEFORE INSERT trigger returning NULL) or a
    /// rule dropped them. What it stored is committed and the report says,
    /// per table, how many rows were declined; the data is not complete.
    #[error(
        "the database declined {} without an error: a trigger or a rule on the table dropped \
         them, so the data is not complete. What it stored is committed (tenants {})",
        declined_list(.declined),
        .report.tenants.join(", ")
    )]
    Declined {
        /// Rows declined per table.
        declined: Vec<(Table, u64)>,
        /// What the run did, declined rows included.
        report: Box<crate::report::SeedReport>,
    },

    /// A database error, with what the seeder was doing, and for which
    /// tenant and table where it was seeding one.
    #[error("database error while {doing}: {}", with_hint(database_text(source)))]
    Database {
        doing: String,
        tenant: Option<String>,
        table: Option<Table>,
        #[source]
        source: DbErr,
    },
}

impl SeedError {
    /// Wraps a database error with what the seeder was doing.
    pub(crate) fn database(doing: impl Into<String>, source: DbErr) -> Self {
        SeedError::Database {
            doing: doing.into(),
            tenant: None,
            table: None,
            source,
        }
    }
}

/// What is known of tenant `tenant` after its connection failed or
/// stalled while `doing`: during COMMIT, whether it was applied is
/// unknown; before, nothing of it `nothing` (e.g. "was written").
fn outcome_after(doing: &str, tenant: &str, nothing: &str) -> String {
    if doing.starts_with("committing") {
        format!(
            "Whether tenant {tenant}'s COMMIT was applied is unknown; tenants committed before \
             it stay."
        )
    } else {
        format!("Nothing of tenant {tenant} {nothing}; tenants committed before it stay.")
    }
}

/// What a Galera node waiting without end most likely means. Seen in this
/// project's tests (a node killed while the seeder's node sent a tenant's
/// COMMIT): the node logged "Temporary failure in sending state UUID, will
/// try again in next primary component", still counted the dead node in
/// `wsrep_cluster_size`, kept `wsrep_local_send_queue` at 1, and committed
/// nothing until the killed node rejoined. Galera's source suggests why: its
/// group layer refuses to queue while a megabyte is queued for sending.
const GALERA_STALL: &str = ", or the Galera cluster stopped replicating (seen after a node left \
     while a large write set was being sent: the node logs \"Temporary failure in sending state \
     UUID\", wsrep_local_send_queue stays above 0, and nothing commits until the membership \
     changes again; rejoining the node that left resumed it in our tests)";

/// "database NAME", or "the database" when no name was given.
fn named(target: &str) -> String {
    if target.is_empty() {
        "the database".to_owned()
    } else {
        format!("database {target}")
    }
}

/// How far a database's schema is from this build's migrations.
fn behind(pending: usize, known: usize) -> String {
    if pending == known {
        format!("has no ota-seed schema ({pending} of {known} migrations not applied)")
    } else {
        format!(
            "is {pending} migration{} behind this build ({} of {known} applied)",
            if pending == 1 { "" } else { "s" },
            known - pending
        )
    }
}

/// "NAME", or "the database" when no name was given.
fn bare(target: &str) -> &str {
    if target.is_empty() {
        "the database"
    } else {
        target
    }
}

/// A database error's text without the driver's source locations.
fn database_text(source: &DbErr) -> String {
    crate::driver_message::driver_message(source).unwrap_or_else(|| source.to_string())
}

/// Adds what to do to the driver messages a user is likeliest to meet.
fn with_hint(mut reason: String) -> String {
    // Each hint applies when all of its fragments occur in the message.
    const CONNECTION_LIMIT: &str = "the role's, the database's or the server's connection limit \
         is reached: close other sessions or raise the limit (applying migrations takes one \
         connection besides the run's)";
    const HINTS: [(&[&str], &str); 10] = [
        (&["too many connections"], CONNECTION_LIMIT),
        (&["Too many connections"], CONNECTION_LIMIT),
        (&["too many clients"], CONNECTION_LIMIT),
        (&["max_user_connections"], CONNECTION_LIMIT),
        (
            &["WSREP has not yet prepared node"],
            "this Galera node is not part of the cluster's primary component (wsrep_ready = \
             OFF): use a node that is, or wait until it has rejoined",
        ),
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
            &["database is locked"],
            "another process holds a lock on the file; try again when it has finished",
        ),
        (
            &["readonly database"],
            "the file or its directory is read-only for this user",
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

fn problem_count(problems: &[String]) -> String {
    match problems.len() {
        1 => "1 problem".to_owned(),
        n => format!("{n} problems"),
    }
}

/// `3 rows of device_registry, 1 row of ota_device_status`.
fn declined_list(declined: &[(Table, u64)]) -> String {
    declined
        .iter()
        .map(|(table, n)| {
            format!(
                "{n} {} of {}",
                if *n == 1 { "row" } else { "rows" },
                table.table_name()
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_behind_says_how_far_and_a_hint_that_runs_as_printed() {
        let missing = |pending| {
            SeedError::SchemaMissing {
                target: "postgres://app:***@localhost/pulse".to_owned(),
                pending,
                known: 7,
            }
            .to_string()
        };
        assert_eq!(
            missing(2),
            "database postgres://app:***@localhost/pulse is 2 migrations behind this build \
             (5 of 7 applied); run the seeder without --no-migrate (it applies them), or apply \
             them with `cargo run -p migration -- -u \"$DATABASE_URL\" up`"
        );
        assert!(missing(1).contains("is 1 migration behind this build (6 of 7 applied)"));
        assert!(missing(7).contains("has no ota-seed schema (7 of 7 migrations not applied)"));
    }

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

    #[test]
    fn a_lost_server_is_named_and_a_lost_commit_is_not_called_unwritten() {
        let lost = |lost_while: &str| {
            SeedError::ServerLost {
                server: "127.0.0.1:4407".to_owned(),
                tenant: "tenant-0003".to_owned(),
                lost_while: lost_while.to_owned(),
                source: Box::new(DbErr::ConnectionAcquire(
                    sea_orm::error::ConnAcquireErr::Timeout,
                )),
            }
            .to_string()
        };
        assert_eq!(
            lost("seeding ota_device_status"),
            "lost the database server at 127.0.0.1:4407 while seeding ota_device_status for \
             tenant tenant-0003, and it accepts no new connection: it was stopped, crashed, or \
             (on a cluster) this node left. Nothing of tenant tenant-0003 was written; tenants \
             committed before it stay. Seed again once it is back, or through another server of \
             the same database (on a cluster: another node); a rerun adds only what is missing"
        );
        assert!(
            lost("committing the tenant's transaction").contains(
                "Whether tenant tenant-0003's COMMIT was applied is unknown; tenants committed \
                 before it stay."
            ),
            "{}",
            lost("committing the tenant's transaction")
        );
    }

    #[test]
    fn a_server_that_stopped_answering_is_named_with_what_is_known() {
        let stalled = |waiting_while: &str, galera: bool| {
            SeedError::NoAnswer {
                server: "127.0.0.1:4407".to_owned(),
                tenant: "tenant-0003".to_owned(),
                waiting_while: waiting_while.to_owned(),
                waited: std::time::Duration::from_secs(40),
                galera,
                source: Box::new(DbErr::Custom("no answer".to_owned())),
            }
            .to_string()
        };
        assert_eq!(
            stalled("seeding ota_device_status", false),
            "the database server at 127.0.0.1:4407 sent no answer for 40 s while seeding \
             ota_device_status for tenant tenant-0003: it is stopped or overloaded, the network \
             to it drops packets, or the work takes longer than --statement-timeout allows. \
             Nothing of tenant tenant-0003 was committed; tenants committed before it stay. Seed \
             again once it answers; a rerun adds only what is missing"
        );
        let commit = stalled("committing the tenant's transaction", true);
        assert!(
            commit.contains(
                "Whether tenant tenant-0003's COMMIT was applied is unknown; tenants committed \
                 before it stay."
            ),
            "{commit}"
        );
        assert!(
            commit.contains("\"Temporary failure in sending state UUID\""),
            "a Galera node's message names the cluster's stall: {commit}"
        );
    }
}
