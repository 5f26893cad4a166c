//! Shell completions and the manual page, generated from the clap
//! definition so they cannot drift from it.

use clap::CommandFactory as _;

use super::Outcome;
use super::args::Cli;

/// `seeder completions SHELL`: the completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Outcome> {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "seeder", &mut std::io::stdout());
    Ok(Outcome::Ok)
}

/// `seeder man`: the manual page (roff) on stdout.
pub fn man() -> anyhow::Result<Outcome> {
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
    Ok(Outcome::Ok)
}
