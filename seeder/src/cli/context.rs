//! What every database command works with (`Context`), built by `run` in
//! `mod.rs` once the command line is checked, and used by `commands`.

use std::time::Duration;

use anyhow::Context as _;
use seeder::{Cancel, Dataset, Seeder, Table};

use super::args::Common;
use super::error::CliError;
use super::output::Output;
use super::signals;
use super::target::DatabaseTarget;

/// What every database command works with, checked before anything is
/// opened.
pub struct Context {
    pub target: DatabaseTarget,
    pub dataset: Dataset,
    /// The tenants covered, validated against the dataset.
    pub tenants: Vec<String>,
    pub output: Output,
    pub cancel: Cancel,
    pub connect_timeout: Duration,
    /// The flags every command takes, for [`Context::seeder`].
    pub(super) common: Common,
}

impl Context {
    /// A seeder with the run's settings; `only` as `--only` named them.
    pub fn seeder(&self, only: &[Table]) -> Seeder<'_> {
        let mut seeder = Seeder::new(&self.dataset)
            .tenants(self.tenants.iter().cloned())
            .cancel(self.cancel.clone())
            .statement_timeout(
                (self.common.statement_timeout > 0)
                    .then(|| Duration::from_secs(self.common.statement_timeout)),
            )
            .database_name(self.target.display.clone());
        if !only.is_empty() {
            seeder = seeder.only(only.iter().copied());
        }
        if let Some(schema) = &self.common.schema {
            seeder = seeder.pg_schema(schema.clone());
        }
        seeder
    }

    /// Refuses writing to a database on another machine without
    /// `--allow-remote`.
    pub fn guard_remote(&self, allow_remote: bool) -> Result<(), CliError> {
        if !self.target.local && !allow_remote {
            return Err(CliError::RemoteRefused {
                target: self.target.display.clone(),
            });
        }
        Ok(())
    }
}

/// Listens for Ctrl-C and SIGTERM; the token cancels the run.
pub fn listen_for_signals(ctx: &mut Context) -> anyhow::Result<()> {
    ctx.cancel = signals::cancel_on_signals().context("listening for Ctrl-C and SIGTERM")?;
    Ok(())
}
