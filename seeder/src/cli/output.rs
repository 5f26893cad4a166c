//! What goes to stdout: the human report, nothing (`--quiet`) or one JSON
//! document (`--json`). Progress and errors go to stderr.

use std::collections::BTreeMap;

use seeder::{DifferingRow, SchemaOrigin, SchemaReport, SeedReport, TableCounts, VerifyReport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Human,
    Quiet,
    Json,
}

impl Output {
    pub fn from_flags(quiet: bool, json: bool) -> Output {
        match (json, quiet) {
            (true, _) => Output::Json,
            (false, true) => Output::Quiet,
            (false, false) => Output::Human,
        }
    }

    pub fn human(self, text: impl std::fmt::Display) {
        if self == Output::Human {
            say(text);
        }
    }

    pub fn json(self, document: &impl serde::Serialize) -> anyhow::Result<()> {
        if self == Output::Json {
            say(format_args!(
                "{}\n",
                serde_json::to_string_pretty(document)?
            ));
        }
        Ok(())
    }
}

/// The `--json` document of `seed` and `verify`. `database` is the redacted
/// URL: no field ever carries a password.
#[derive(serde::Serialize)]
pub struct RunSummary {
    pub database: String,
    pub command: &'static str,
    /// With `--dry-run`, `inserted` counts rows that would be inserted.
    pub dry_run: bool,
    pub tenants: Vec<String>,
    /// Whose schema it is: `created` (by this run's migrations, or a dry
    /// run's would-be ones), `managed` (ota-seed's migration history) or
    /// `unmanaged` (the platform's own tables, seeded as they are).
    pub schema: Option<SchemaOrigin>,
    /// PostgreSQL: the schema holding the OTA tables.
    pub pg_schema: Option<String>,
    pub migrations_applied: usize,
    /// Migrations a dry run found not yet applied.
    pub migrations_pending: usize,
    /// Per table: rows inserted, already present, updated, and declined
    /// by the database (neither stored nor refused with an error).
    pub tables: BTreeMap<&'static str, TableCounts>,
    /// Existing rows that differ from the dataset, left as found.
    pub differing_rows: Vec<DifferingRow>,
    /// Wall time of the seeding itself (not migrations or verification).
    pub seconds: f64,
    pub rows_inserted: u64,
    pub rows_per_second: f64,
    /// Tenant transactions started again after a transient error
    /// (deadlock, serialization failure, lost connection).
    pub retries: u64,
    /// Stopped by SIGINT/SIGTERM: only the tenants listed were committed.
    pub interrupted: bool,
    /// The first tenant rolled back by the stop (kept for scripts written
    /// before `--jobs`); `rolled_back_tenants` lists them all.
    pub rolled_back_tenant: Option<String>,
    pub rolled_back_tenants: Vec<String>,
    pub verification: Option<VerifyReport>,
}

impl RunSummary {
    pub fn new(database: &str, command: &'static str, tenants: &[String]) -> RunSummary {
        RunSummary {
            database: database.to_owned(),
            command,
            dry_run: false,
            tenants: tenants.to_vec(),
            schema: None,
            pg_schema: None,
            migrations_applied: 0,
            migrations_pending: 0,
            tables: BTreeMap::new(),
            differing_rows: Vec::new(),
            seconds: 0.0,
            rows_inserted: 0,
            rows_per_second: 0.0,
            retries: 0,
            interrupted: false,
            rolled_back_tenant: None,
            rolled_back_tenants: Vec::new(),
            verification: None,
        }
    }

    /// Records how the schema stood, and says it when the tables are not
    /// ours.
    pub fn record_schema(&mut self, schema: &SchemaReport, output: Output) {
        self.schema = Some(schema.origin);
        self.pg_schema = schema.pg_schema.clone();
        self.migrations_applied = schema.applied;
        self.migrations_pending = schema.pending;
        if schema.origin == SchemaOrigin::Unmanaged {
            output.human(
                "schema: OTA tables found, not managed by ota-seed; migrations not applied\n",
            );
        }
    }

    pub fn record(&mut self, report: &SeedReport) {
        self.tenants = report.tenants.clone();
        self.seconds = report.seconds;
        self.retries = report.retries;
        self.rows_inserted = report.inserted_total();
        self.rows_per_second = self.rows_inserted as f64 / self.seconds.max(1e-9);
        self.tables = report
            .tables
            .iter()
            .map(|(t, c)| (t.table_name(), *c))
            .collect();
        self.differing_rows = report.differing.clone();
    }
}

/// Prints to stdout; a closed pipe (`seeder | head`) ends the program
/// quietly instead of panicking, as command-line tools are expected to.
pub fn say(text: impl std::fmt::Display) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = write!(out, "{text}").and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing to stdout: {e}");
        std::process::exit(2);
    }
}
