//! Shell completions and the manual page, generated from the clap
//! definition so they cannot drift from it.

use clap::CommandFactory as _;

use super::args::Cli;
use super::outcome::Outcome;
use super::output::say;

/// `seeder completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Outcome> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "seeder", &mut script);
    say(String::from_utf8_lossy(&script));
    Ok(Outcome::Ok)
}

/// `seeder man`: the manual page (roff) on stdout.
pub fn man() -> anyhow::Result<Outcome> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    say(String::from_utf8_lossy(&page));
    Ok(Outcome::Ok)
}
