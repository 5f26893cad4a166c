//! Why a batch's seeding stopped.

use sea_orm::DbErr;

use crate::error::SeedError;
use crate::table::Table;

/// Why a batch's seeding stopped; its transaction was rolled back.
#[derive(Debug)]
pub enum StepError {
    /// A database error, with what the step was doing, and in which table.
    Database {
        doing: String,
        table: Option<Table>,
        source: DbErr,
    },
    /// A condition found before writing under which the seeder will not
    /// write (see `id_sequences`, `world`).
    Refused(SeedError),
    /// Galera: the batch's transaction was no longer open when checked
    /// (after a failed statement, or before COMMIT): the cluster rolled it
    /// back to apply another node's conflicting commit, and statements
    /// ran outside it since (see `db::galera::rolled_back_by_cluster`).
    /// Retried like a certification failure.
    RolledBackByCluster { doing: String },
}

impl StepError {
    pub(crate) fn new(doing: &str, source: DbErr) -> StepError {
        StepError::Database {
            doing: doing.to_owned(),
            table: None,
            source,
        }
    }

    pub(super) fn at(table: Table) -> impl FnOnce(DbErr) -> StepError {
        move |source| StepError::Database {
            doing: format!("seeding {}", table.table_name()),
            table: Some(table),
            source,
        }
    }
}
