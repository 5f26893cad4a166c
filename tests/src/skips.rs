//! Skipped cases, recorded for one summary at the end of the test run.
//!
//! Each test binary announces its own skips as it goes, but these lines
//! scroll away among the many binaries of `cargo test --workspace`. So
//! every skip is also written down, under a directory of its run, and the
//! test binary that cargo runs last (`tests/zz_skipped_backends.rs`)
//! prints what this run skipped, once, and removes the records.
//!
//! A run is one `cargo nextest run`, named by the `NEXTEST_RUN_ID` it gives
//! every test process, or else the cargo process: every test binary of one
//! `cargo test` is a child of it, so the parent's process id (with its
//! start time, as pids are reused) names the run. Under nextest the summary
//! test runs last and alone (see `.config/nextest.toml`), and nextest shows
//! its output. The records live in cargo's target directory,
//! beside the test binaries (a place every binary of the run shares and
//! can write to).
//!
//! Nothing here may fail a test: the records are a convenience, so a
//! record that cannot be written costs only its line in the summary.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// Records older than this belong to runs that ended without their summary
/// (one test binary run alone, a run stopped by a failure): removed.
const STALE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// One skipped case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// What was missing: a backend's name, "PgBouncer" or "MariaDB Galera".
    pub what: String,
    /// The test binary, without cargo's hash (`seeding`).
    pub binary: String,
    /// The test's name (`case::postgres`).
    pub test: String,
    /// Why it was skipped (`no server at postgres://...`).
    pub why: String,
}

impl Skip {
    /// The skip of the case running on this thread (libtest names each
    /// test's thread after the test).
    pub fn of_this_test(what: &str, why: &str) -> Skip {
        Skip {
            what: what.to_owned(),
            binary: binary_name(),
            test: std::thread::current()
                .name()
                .unwrap_or("unnamed")
                .to_owned(),
            why: why.to_owned(),
        }
    }

    fn line(&self) -> String {
        let field = |s: &str| s.replace(['\t', '\n'], " ");
        format!(
            "{}\t{}\t{}\t{}\n",
            field(&self.what),
            field(&self.binary),
            field(&self.test),
            field(&self.why)
        )
    }

    fn from_line(line: &str) -> Option<Skip> {
        let mut fields = line.split('\t');
        let mut next = || fields.next().map(str::to_owned);
        Some(Skip {
            what: next()?,
            binary: next()?,
            test: next()?,
            why: next()?,
        })
    }
}

/// This test binary's name without the hash cargo appends
/// (`seeding-0123456789abcdef` is `seeding`).
pub fn binary_name() -> String {
    let stem = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_owned()
        }
        _ => stem,
    }
}

/// Where all runs keep their records: beside cargo's `deps` directory of
/// the test binaries (`target/debug/ota-seed-skipped`).
fn records_root() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("ota-seed-skipped")))
        .unwrap_or_else(|| std::env::temp_dir().join("ota-seed-skipped"))
}

/// The run's name: nextest's run id, else the parent process (cargo) and,
/// where /proc tells it, when that process started, so that a reused pid
/// is another run.
fn run_key() -> String {
    if let Some(id) = std::env::var("NEXTEST_RUN_ID")
        .ok()
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return format!("nextest-{id}");
    }
    let parent = std::os::unix::process::parent_id();
    let started = std::fs::read_to_string(format!("/proc/{parent}/stat"))
        .ok()
        .and_then(|stat| {
            // Field 22 (starttime); the name in field 2 may hold spaces,
            // so count from its closing parenthesis (field 3 on).
            let after_name = &stat[stat.rfind(')')? + 1..];
            after_name.split_whitespace().nth(19).map(str::to_owned)
        });
    match started {
        Some(started) => format!("{parent}-{started}"),
        None => parent.to_string(),
    }
}

/// The one way a case gives up for want of a server or a tool: `what` is
/// missing (a backend's name, "PgBouncer", "MariaDB Galera", ...) because
/// `why` (`no server at ...`, `no pgbouncer binary`).
///
/// Under `CI=true` (or `OTA_SEED_REQUIRE_BACKENDS=1`, see
/// [`crate::backends_required`]) this panics, failing the case. Otherwise it
/// records the skip for the end-of-run summary, says once per test binary
/// and `what` on the terminal itself (stderr, which test output capture
/// leaves alone) that such cases were skipped, and prints the case's own
/// `SKIPPED:` line on stdout (captured: shown by `--show-output`), then
/// returns; the caller returns at once (libtest will say "ok").
pub fn skip_or_fail(what: &str, why: &str) {
    fail_if_required(crate::backends_required(), what, why);
    skip(what, why);
}

fn fail_if_required(required: bool, what: &str, why: &str) {
    if required {
        panic!(
            "{what} is required (CI=true or OTA_SEED_REQUIRE_BACKENDS=1), but {why} \
             (see the README's test section)"
        );
    }
}

fn skip(what: &str, why: &str) {
    record(&Skip::of_this_test(what, why));
    static ANNOUNCED: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());
    let first = ANNOUNCED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(what.to_owned());
    if first {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED {what} cases of {}: {why} (set CI=true to make this a failure)",
            binary_name()
        );
    }
    println!("SKIPPED: this case did not run, {what}: {why}");
}

/// Writes `skip` down for this run's summary. A failure says so once per
/// test binary on the terminal and is otherwise ignored.
pub fn record(skip: &Skip) {
    if let Err(e) = append(skip) {
        static WARNED: OnceLock<()> = OnceLock::new();
        WARNED.get_or_init(|| {
            let _ = std::io::stderr().write_all(
                format!(
                    "\nnote: could not record a skip for the end-of-run summary ({}): {e}\n",
                    records_root().display()
                )
                .as_bytes(),
            );
        });
    }
}

fn append(skip: &Skip) -> std::io::Result<()> {
    let dir = records_root().join(run_key());
    std::fs::create_dir_all(&dir)?;
    // One file per test process, appended to one whole line per write, so
    // that concurrent tests never interleave within a line.
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{}.tsv", std::process::id())))?;
    file.write_all(skip.line().as_bytes())
}

/// Takes this run's records (removing them) and those of runs older than
/// a day (removing them unread); the records that could not be read are
/// left out.
pub fn take_this_runs_records() -> std::io::Result<Vec<Skip>> {
    let root = records_root();
    let key = run_key();
    let mut skips = Vec::new();
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(skips),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy() == key {
            for file in std::fs::read_dir(&path)?.flatten() {
                let text = std::fs::read_to_string(file.path()).unwrap_or_default();
                skips.extend(text.lines().filter_map(Skip::from_line));
            }
            std::fs::remove_dir_all(&path)?;
        } else {
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age > STALE_AFTER);
            if stale {
                // Another run's records are its business unless stale; a
                // failure to remove them is retried by the next summary.
                let _ = std::fs::remove_dir_all(&path);
            }
        }
    }
    Ok(skips)
}

/// What one missing thing cost: why its cases were skipped, and the
/// distinct tests skipped per test binary.
type Missing<'a> = (BTreeSet<&'a str>, BTreeMap<&'a str, BTreeSet<&'a str>>);

/// The end-of-run summary of `skips`, or `None` when nothing was skipped.
pub fn summary(skips: &[Skip]) -> Option<String> {
    if skips.is_empty() {
        return None;
    }
    let mut by_what: BTreeMap<&str, Missing> = BTreeMap::new();
    for skip in skips {
        let (why, binaries) = by_what.entry(&skip.what).or_default();
        why.insert(&skip.why);
        binaries.entry(&skip.binary).or_default().insert(&skip.test);
    }
    let total: usize = by_what
        .values()
        .flat_map(|(_, binaries)| binaries.values())
        .map(BTreeSet::len)
        .sum();
    let mut text = format!(
        "\n==== SKIPPED: {} did not run (they count as passed: libtest has no \"skipped\") ====\n",
        plural(total, "case")
    );
    let mut hints = BTreeSet::new();
    for (what, (why, binaries)) in &by_what {
        let cases: usize = binaries.values().map(BTreeSet::len).sum();
        let why: Vec<&str> = why.iter().copied().collect();
        text.push_str(&format!(
            "  {what}: {} in {}, {}:\n",
            plural(cases, "case"),
            plural(binaries.len(), "test binary"),
            why.join("; "),
        ));
        text.push_str(&wrapped(binaries.keys().copied(), "      ", 78));
        // What is missing besides the shared servers says in `why` how
        // to get it.
        let servers = [
            crate::Backend::Postgres.name(),
            crate::Backend::MySql.name(),
        ];
        hints.insert(if *what == "PgBouncer" {
            "  PgBouncer: apt-get install pgbouncer, or set OTA_SEED_PGBOUNCER to its path.\n"
        } else if *what == crate::galera::SKIP_NAME {
            "  MariaDB Galera: scripts/galera-cluster install (Debian's galera-4,\n  \
             mariadb-server, rsync, socat); each case starts a cluster of its own.\n"
        } else if servers.contains(what) {
            "  Start PostgreSQL / MariaDB here, or point OTA_SEED_TEST_POSTGRES /\n  \
             OTA_SEED_TEST_MYSQL at running servers (URLs without a database name,\n  \
             e.g. postgres://user@host:5432?sslmode=disable).\n"
        } else {
            "  The others: install what each line above names.\n"
        });
    }
    text.push_str("To run them:\n");
    for hint in hints {
        text.push_str(hint);
    }
    text.push_str(
        "  CI=true (or OTA_SEED_REQUIRE_BACKENDS=1) makes whatever is missing a failure.\n",
    );
    Some(text)
}

/// `names` separated by commas, in lines of at most `width` characters
/// (a longer name gets a line of its own), each starting with `indent`.
fn wrapped<'a>(names: impl Iterator<Item = &'a str>, indent: &str, width: usize) -> String {
    let mut text = String::new();
    let mut line = String::from(indent);
    let mut names = names.peekable();
    while let Some(name) = names.next() {
        let piece = if names.peek().is_some() {
            format!("{name},")
        } else {
            name.to_owned()
        };
        if line.len() > indent.len() && line.len() + 1 + piece.len() > width {
            text.push_str(line.trim_end());
            text.push('\n');
            line = String::from(indent);
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(&piece);
    }
    text.push_str(&line);
    text.push('\n');
    text
}

/// `1 case`, `2 cases`; `1 test binary`, `2 test binaries`.
fn plural(n: usize, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip(what: &str, binary: &str, test: &str) -> Skip {
        Skip {
            what: what.to_owned(),
            binary: binary.to_owned(),
            test: test.to_owned(),
            why: "no server at postgres://postgres@127.0.0.1:1".to_owned(),
        }
    }

    #[test]
    fn a_missing_server_fails_when_backends_are_required() {
        let panic = std::panic::catch_unwind(|| {
            fail_if_required(true, "PgBouncer", "no pgbouncer binary");
        })
        .expect_err("required: a failure");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(
            message.starts_with(
                "PgBouncer is required (CI=true or OTA_SEED_REQUIRE_BACKENDS=1), \
                 but no pgbouncer binary"
            ),
            "{message}"
        );
        // Not required: nothing happens here (the caller skips).
        fail_if_required(false, "PgBouncer", "no pgbouncer binary");
    }

    #[test]
    fn records_read_back_as_written() {
        let written = skip("PostgreSQL", "seeding", "a\tb::postgres");
        let read = Skip::from_line(written.line().trim_end_matches('\n'));
        assert_eq!(read, Some(skip("PostgreSQL", "seeding", "a b::postgres")));
    }

    #[test]
    fn long_lists_are_wrapped() {
        let [a, b, c, d] = [("a", 30), ("b", 30), ("c", 30), ("d", 90)].map(|(s, n)| s.repeat(n));
        let text = wrapped([&a, &b, &c, &d].into_iter().map(String::as_str), "  ", 70);
        // A name longer than the width gets a line of its own.
        assert_eq!(text, format!("  {a}, {b},\n  {c},\n  {d}\n"));
    }

    #[test]
    fn nothing_skipped_says_nothing() {
        assert_eq!(summary(&[]), None);
    }

    #[test]
    fn the_summary_counts_distinct_cases_per_backend() {
        let skips = [
            skip("PostgreSQL", "seeding", "a::postgres"),
            skip("PostgreSQL", "seeding", "a::postgres"),
            skip("PostgreSQL", "cli", "b::postgres"),
            skip("MariaDB/MySQL", "cli", "b::mysql"),
        ];
        let text = summary(&skips).unwrap_or_default();
        assert!(text.contains("SKIPPED: 3 cases did not run"), "{text}");
        assert!(
            text.contains(
                "  PostgreSQL: 2 cases in 2 test binaries, no server at postgres://postgres@127.0.0.1:1:\n"
            ),
            "{text}"
        );
        assert!(text.contains("      cli, seeding\n"), "{text}");
        assert!(
            text.contains("MariaDB/MySQL: 1 case in 1 test binary"),
            "{text}"
        );
        assert!(text.contains("OTA_SEED_TEST_POSTGRES"), "{text}");
        assert!(text.contains("CI=true"), "{text}");
    }

    #[test]
    fn galera_is_listed_with_how_to_install_it() {
        let mut galera = skip(crate::galera::SKIP_NAME, "galera", "a_case");
        galera.why = "missing /usr/lib/galera/libgalera_smm.so, socat".to_owned();
        let text = summary(&[galera]).unwrap_or_default();
        assert!(
            text.contains(
                "  MariaDB Galera: 1 case in 1 test binary, missing \
                 /usr/lib/galera/libgalera_smm.so, socat:\n      galera\n"
            ),
            "{text}"
        );
        assert!(text.contains("scripts/galera-cluster install"), "{text}");
        assert!(!text.contains("OTA_SEED_TEST_POSTGRES"), "{text}");
    }
}
