//! The end-of-run summary of skipped cases: which backend (and PgBouncer)
//! cases of this `cargo test` did not run, and how to run them.
//!
//! Under nextest it runs last and alone (`.config/nextest.toml`: lowest
//! priority, every test thread). Under `cargo test` it is
//! named `zz_…` because cargo runs test binaries in order of package, then
//! target name: this is the last binary of the last package (`tests`), so
//! it runs after every case that could skip, whether the run is
//! `cargo test --workspace` or `cargo test -p tests`. Only the doc-tests
//! run after it; none of them needs a server. It sees nothing when
//! another binary is run alone (`--test seeding`), when a name filter
//! leaves its test out, or when an earlier failing binary stops cargo;
//! the records such runs leave are removed after a day
//! (`ota_seed_tests::skips`).
//!
//! It never fails: a summary that cannot be made is a note, not a failed
//! run on a machine without servers.

use std::io::Write as _;

#[test]
fn summary_of_skipped_cases() {
    let text = match ota_seed_tests::skips::take_this_runs_records() {
        Ok(skips) => ota_seed_tests::skips::summary(&skips),
        Err(e) => Some(format!(
            "\nnote: could not read which cases this run skipped: {e}\n"
        )),
    };
    if let Some(text) = text {
        // Straight to the terminal: libtest captures print! and eprint!
        // of a passing test, not writes to the stderr handle.
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}
