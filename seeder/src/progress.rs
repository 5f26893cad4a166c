//! Progress of the seeding steps: bars on a terminal, one plain line per
//! finished step otherwise, nothing with `--quiet` or `--json`. Progress
//! goes to stderr; stdout carries the report.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::TableCounts;
use crate::table::Table;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProgressMode {
    Bars,
    Lines,
    Quiet,
}

/// Where a seeding run shows its progress: nowhere (the default), one
/// line on stderr per finished step, or live bars on stderr.
#[derive(Clone)]
pub struct Progress {
    mode: ProgressMode,
    bars: MultiProgress,
}

impl Progress {
    /// Bars when stderr is a terminal, lines when it is not.
    pub fn on_stderr() -> Progress {
        Progress::new(if std::io::stderr().is_terminal() {
            ProgressMode::Bars
        } else {
            ProgressMode::Lines
        })
    }

    /// One plain line on stderr per finished step.
    pub fn lines() -> Progress {
        Progress::new(ProgressMode::Lines)
    }

    fn new(mode: ProgressMode) -> Progress {
        let target = if mode == ProgressMode::Bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress {
            mode,
            bars: MultiProgress::with_draw_target(target),
        }
    }

    /// Nothing shown.
    pub fn quiet() -> Progress {
        Progress::new(ProgressMode::Quiet)
    }

    /// A step of one tenant that expects to look at `expected` rows.
    pub(crate) fn step(&self, tenant: &str, table: Table, expected: u64) -> StepProgress {
        let bar = (self.mode == ProgressMode::Bars).then(|| {
            let bar = self.bars.add(ProgressBar::new(expected));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>14} {msg:<18} [{bar:30}] {human_pos:>9}/{human_len:<9} {per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(tenant.to_owned());
            bar.set_message(table.table_name());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        StepProgress {
            mode: self.mode,
            bar,
            tenant: tenant.to_owned(),
            table,
        }
    }
}

impl Progress {
    /// Told once, before the first batch: how many tenants the run covers.
    pub(crate) fn run_started(&self, _tenants: usize) {}

    /// Told after each batch commits, with the number of its tenants.
    pub(crate) fn tenants_done(&self, _tenants: usize) {}

    /// Says that a tenant's transaction was rolled back for a reason a
    /// retry cures and is being tried again: the lines its steps printed
    /// before were of a transaction that did not commit.
    pub(crate) fn retrying(&self, tenant: &str, next_try: u32, why: &str) {
        let line = format!("{tenant}: rolled back ({why}), nothing of it kept; try {next_try}");
        match self.mode {
            ProgressMode::Lines => eprintln!("{line}"),
            ProgressMode::Bars => {
                let _ = self.bars.println(line);
            }
            ProgressMode::Quiet => {}
        }
    }
}

pub struct StepProgress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    tenant: String,
    table: Table,
}

impl StepProgress {
    pub fn advance(&self, rows: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(rows);
        }
    }

    pub fn finish(self, counts: TableCounts) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if self.mode == ProgressMode::Lines {
            eprintln!(
                "{} {}: inserted {}, already present {}",
                self.tenant,
                self.table.table_name(),
                counts.inserted,
                counts.present
            );
        }
    }
}
