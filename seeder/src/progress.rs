//! Progress of the seeding steps: bars on a terminal, plain lines
//! otherwise, nothing with `--quiet` or `--json`. Progress goes to stderr;
//! stdout carries the report.
//!
//! How much is shown depends on how many tenants the run covers
//! ([`Progress::run_started`]). Up to [`FEW_TENANTS`]: a bar per step, or
//! one line per finished step. Beyond: one bar for the tenants, or a line
//! at most every tenth of them (`seeded 4000 of 20000 tenants (20%)`) and
//! at most [`RETRY_LINES`] retry lines, so that a run over twenty thousand
//! tenants prints a dozen lines, not eighty thousand.

use std::io::{IsTerminal as _, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::TableCounts;
use crate::table::Table;

/// Up to this many tenants in a run, each step is shown (a bar, a line);
/// beyond, only the tenants as a whole.
pub(crate) const FEW_TENANTS: usize = 20;

/// Beyond [`FEW_TENANTS`], the retry lines shown before the rest are
/// summed up as one `(further retries not shown)`.
pub(crate) const RETRY_LINES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProgressMode {
    Bars,
    Lines,
    Quiet,
}

/// Where a seeding run shows its progress: nowhere (the default), plain
/// lines on stderr, or live bars on stderr.
#[derive(Clone)]
pub struct Progress {
    mode: ProgressMode,
    bars: MultiProgress,
    /// Shared by the clones (one per concurrent tenant job), so that the
    /// tenants done and the lines shown are counted once for the run.
    state: Arc<Mutex<RunState>>,
}

/// What a run has shown so far, and where its lines go.
struct RunState {
    /// Tenants the run covers; 0 until [`Progress::run_started`].
    tenants: usize,
    /// Tenants whose batch committed.
    done: usize,
    /// Tenths of the tenants done that a summary line has reported.
    tenths_shown: usize,
    /// Retry lines shown (beyond [`FEW_TENANTS`]), the summing-up one
    /// included.
    retries_shown: usize,
    /// The one bar of a run over many tenants, on a terminal.
    overall: Option<ProgressBar>,
    /// Where Lines mode writes: stderr, or a buffer in tests.
    out: Box<dyn Write + Send>,
}

impl RunState {
    fn many(&self) -> bool {
        self.tenants > FEW_TENANTS
    }

    /// A failed write to stderr is not worth ending a seeding run for.
    fn line(&mut self, line: &str) {
        let _ = writeln!(self.out, "{line}");
    }
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

    /// Plain lines on stderr: one per finished step, or with more than
    /// twenty tenants a line at most every tenth of them.
    pub fn lines() -> Progress {
        Progress::new(ProgressMode::Lines)
    }

    /// Nothing shown.
    pub fn quiet() -> Progress {
        Progress::new(ProgressMode::Quiet)
    }

    fn new(mode: ProgressMode) -> Progress {
        Progress::writing_to(mode, Box::new(std::io::stderr()))
    }

    fn writing_to(mode: ProgressMode, out: Box<dyn Write + Send>) -> Progress {
        let target = if mode == ProgressMode::Bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Progress {
            mode,
            bars: MultiProgress::with_draw_target(target),
            state: Arc::new(Mutex::new(RunState {
                tenants: 0,
                done: 0,
                tenths_shown: 0,
                retries_shown: 0,
                overall: None,
                out,
            })),
        }
    }

    /// The run's state. A thread that panicked while holding it left
    /// nothing half-done worth refusing: counters and a writer.
    fn state(&self) -> MutexGuard<'_, RunState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Says how many tenants the run covers, before its first batch. More
    /// than [`FEW_TENANTS`] and the steps are no longer shown one by one.
    /// Calling it again (with the same count) starts the count of tenants
    /// done afresh.
    pub fn run_started(&self, tenants: usize) {
        let mut state = self.state();
        state.tenants = tenants;
        state.done = 0;
        state.tenths_shown = 0;
        state.retries_shown = 0;
        if self.mode != ProgressMode::Bars {
            return;
        }
        if let Some(old) = state.overall.take() {
            old.finish_and_clear();
        }
        if state.many() {
            let bar = self.bars.add(ProgressBar::new(tenants as u64));
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:>14} [{bar:30}] {human_pos:>9}/{human_len:<9} {per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message("tenants");
            bar.enable_steady_tick(Duration::from_millis(200));
            state.overall = Some(bar);
        }
    }

    /// Says that a batch of `n` tenants committed.
    pub fn tenants_done(&self, n: usize) {
        let mut state = self.state();
        state.done = state.done.saturating_add(n);
        if !state.many() {
            return;
        }
        match self.mode {
            ProgressMode::Bars => {
                let finished = state.done >= state.tenants;
                if let Some(bar) = &state.overall {
                    bar.inc(n as u64);
                    if finished {
                        bar.finish_and_clear();
                    }
                }
            }
            ProgressMode::Lines => {
                let (done, all) = (state.done.min(state.tenants), state.tenants);
                let tenths = done * 10 / all;
                if tenths > state.tenths_shown {
                    state.tenths_shown = tenths;
                    let percent = done * 100 / all;
                    state.line(&format!("seeded {done} of {all} tenants ({percent}%)"));
                }
            }
            ProgressMode::Quiet => {}
        }
    }

    /// A step of one batch of tenants that expects to look at `expected`
    /// rows. `who` names the batch: a tenant id, or [`batch_label`]'s.
    pub(crate) fn step(&self, who: &str, table: Table, expected: u64) -> StepProgress {
        let many = self.state().many();
        let bar = (self.mode == ProgressMode::Bars && !many).then(|| {
            let bar = self.bars.add(ProgressBar::new(expected));
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>14} {msg:<18} [{bar:30}] {human_pos:>9}/{human_len:<9} {per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(who.to_owned());
            bar.set_message(table.table_name());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        StepProgress {
            line_at_finish: (self.mode == ProgressMode::Lines && !many)
                .then(|| Arc::clone(&self.state)),
            bar,
            who: who.to_owned(),
            table,
        }
    }

    /// Says that a batch's transaction was rolled back for a reason a
    /// retry cures and is being tried again: the lines its steps printed
    /// before were of a transaction that did not commit. Beyond
    /// [`FEW_TENANTS`], only the first [`RETRY_LINES`] are shown.
    pub(crate) fn retrying(&self, who: &str, next_try: u32, why: &str) {
        if self.mode == ProgressMode::Quiet {
            return;
        }
        let mut state = self.state();
        let line = if !state.many() || state.retries_shown < RETRY_LINES {
            format!("{who}: rolled back ({why}), nothing of it kept; try {next_try}")
        } else if state.retries_shown == RETRY_LINES {
            "(further retries not shown)".to_owned()
        } else {
            return;
        };
        if state.many() {
            state.retries_shown += 1;
        }
        match self.mode {
            ProgressMode::Lines => state.line(&line),
            ProgressMode::Bars => {
                let _ = self.bars.println(line);
            }
            ProgressMode::Quiet => {}
        }
    }
}

/// How progress names a batch: its tenant's id when it holds one,
/// otherwise its first and last tenant and how many it holds
/// (`tenant-a … tenant-z (26 tenants)`).
pub(crate) fn batch_label(tenants: &[String]) -> String {
    match tenants {
        [one] => one.clone(),
        [first, .., last] => format!("{first} … {last} ({} tenants)", tenants.len()),
        [] => "(0 tenants)".to_owned(),
    }
}

/// The progress of one step: a bar to advance, or a line to print when it
/// finishes (only when the run covers few tenants).
pub struct StepProgress {
    /// Set in Lines mode with few tenants: where the finished line goes.
    line_at_finish: Option<Arc<Mutex<RunState>>>,
    bar: Option<ProgressBar>,
    who: String,
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
        if let Some(state) = &self.line_at_finish {
            let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
            state.line(&format!(
                "{} {}: inserted {}, already present {}",
                self.who,
                self.table.table_name(),
                counts.inserted,
                counts.present
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test keeps a handle on.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<String> {
            String::from_utf8_lossy(&self.0.lock().expect("buffer"))
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    fn lines_into_buffer() -> (Progress, Buffer) {
        let buffer = Buffer::default();
        let progress = Progress::writing_to(ProgressMode::Lines, Box::new(buffer.clone()));
        (progress, buffer)
    }

    fn ids(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("tenant-{i:04}")).collect()
    }

    fn counts(inserted: u64, present: u64) -> TableCounts {
        TableCounts {
            inserted,
            present,
            ..TableCounts::default()
        }
    }

    #[test]
    fn a_batch_is_named_by_its_tenant_or_its_ends_and_size() {
        assert_eq!(batch_label(&ids(1)), "tenant-0001");
        assert_eq!(
            batch_label(&ids(2)),
            "tenant-0001 … tenant-0002 (2 tenants)"
        );
        assert_eq!(
            batch_label(&ids(300)),
            "tenant-0001 … tenant-0300 (300 tenants)"
        );
        assert_eq!(batch_label(&[]), "(0 tenants)");
    }

    /// Up to twenty tenants, every finished step is a line, as it always
    /// was, and every retry too.
    #[test]
    fn few_tenants_show_every_step_and_retry() {
        let (progress, buffer) = lines_into_buffer();
        progress.run_started(20);
        for tenant in ids(20) {
            progress
                .step(&tenant, Table::Tenants, 1)
                .finish(counts(1, 0));
            progress.tenants_done(1);
        }
        for try_ in 2..=13 {
            progress.retrying("tenant-0001", try_, "deadlock");
        }
        let lines = buffer.lines();
        assert_eq!(lines.len(), 20 + 12, "{lines:#?}");
        assert_eq!(
            lines[1],
            "tenant-0002 tenants: inserted 1, already present 0"
        );
        assert_eq!(
            lines[20 + 11],
            "tenant-0001: rolled back (deadlock), nothing of it kept; try 13"
        );
    }

    /// Beyond twenty tenants: no step lines, one line each time another
    /// tenth of the tenants is done, the last at 100%.
    #[test]
    fn many_tenants_show_a_line_per_tenth_done() {
        let (progress, buffer) = lines_into_buffer();
        progress.run_started(20_000);
        // Batches of 300 tenants: 66 of them, then one of 200.
        let mut done = 0;
        while done < 20_000 {
            let n = 300.min(20_000 - done);
            let batch = ids(n);
            progress
                .step(&batch_label(&batch), Table::Devices, 600)
                .finish(counts(600, 0));
            progress.tenants_done(n);
            done += n;
        }
        // Each line is the first batch end at or past the next tenth:
        // 2000 -> 2100, 4000 -> 4200, 6000 -> 6000, ...
        let expected: Vec<String> = [
            (2100, 10),
            (4200, 21),
            (6000, 30),
            (8100, 40),
            (10200, 51),
            (12000, 60),
            (14100, 70),
            (16200, 81),
            (18000, 90),
            (20000, 100),
        ]
        .iter()
        .map(|(n, pct)| format!("seeded {n} of 20000 tenants ({pct}%)"))
        .collect();
        assert_eq!(buffer.lines(), expected);
    }

    /// A batch spanning several tenths says so in one line.
    #[test]
    fn a_large_batch_is_one_line_however_many_tenths_it_spans() {
        let (progress, buffer) = lines_into_buffer();
        progress.run_started(40);
        progress.tenants_done(1);
        progress.tenants_done(30);
        progress.tenants_done(9);
        assert_eq!(
            buffer.lines(),
            [
                "seeded 31 of 40 tenants (77%)",
                "seeded 40 of 40 tenants (100%)"
            ]
        );
    }

    #[test]
    fn many_tenants_show_ten_retries_then_one_line_for_the_rest() {
        let (progress, buffer) = lines_into_buffer();
        progress.run_started(21);
        for _ in 0..25 {
            progress.retrying("tenant-0001 … tenant-0021 (21 tenants)", 2, "deadlock");
        }
        let lines = buffer.lines();
        assert_eq!(lines.len(), 10 + 1, "{lines:#?}");
        assert_eq!(
            lines[0],
            "tenant-0001 … tenant-0021 (21 tenants): rolled back (deadlock), nothing of it kept; try 2"
        );
        assert_eq!(lines[10], "(further retries not shown)");
    }

    #[test]
    fn quiet_shows_nothing_whatever_the_count() {
        for tenants in [2, 2000] {
            let buffer = Buffer::default();
            let progress = Progress::writing_to(ProgressMode::Quiet, Box::new(buffer.clone()));
            progress.run_started(tenants);
            progress
                .step("tenant-0001", Table::Tenants, 1)
                .finish(counts(1, 0));
            progress.retrying("tenant-0001", 2, "deadlock");
            progress.tenants_done(tenants);
            assert!(buffer.lines().is_empty(), "{tenants}: {:?}", buffer.lines());
        }
    }
}
