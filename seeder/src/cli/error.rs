//! Errors of the command line itself (what the library cannot know: URLs,
//! files, flags), beside the library's own [`SeedError`]. Messages never
//! carry a password: URLs are shown with their credentials masked, and
//! every printed message is scrubbed of them (`target::Secrets`).

use seeder::SeedError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("unknown table {name:?} in --only; valid names: {valid}")]
    UnknownTable { name: String, valid: String },

    /// The connection string is not shown: it may hold a password that a
    /// stray `/`, `?` or `#` cut in two.
    #[error("invalid database URL (not shown, it may hold a password): {reason}")]
    BadUrl { reason: String },

    #[error(
        "--jobs {jobs} needs PostgreSQL or MySQL/MariaDB: SQLite writes one transaction at a \
         time, so run it with --jobs 1 (the default)"
    )]
    JobsOnSqlite { jobs: u16 },

    #[error("no database at {path}: there is nothing to verify yet (run the seeder first)")]
    NoSqliteFile { path: String },

    #[error("cannot open database {target}: {reason}")]
    Connect { target: String, reason: String },

    #[error(
        "refusing to write to {target}: it is not on this machine, and seeding is meant for \
         development and staging databases; pass --allow-remote if this is the database you mean \
         (--dry-run and `verify` only read, and need no flag)"
    )]
    RemoteRefused { target: String },

    #[error(
        "reset not confirmed, nothing was deleted: it asks on a terminal, and needs --yes \
         anywhere else (--dry-run shows what it would delete)"
    )]
    ResetUnconfirmed,

    #[error(
        "--campaigns-per-tenant does not apply to the scenario {scenario}: its campaigns follow \
         the firmware releases (targets = \"releases\": one campaign per release after a line's \
         first); to change them, {fix}"
    )]
    CampaignsFollowReleases { scenario: String, fix: String },

    #[error(transparent)]
    Seed(#[from] SeedError),
}
