//! `cargo run -p seeder`: the command line (`cli/`), written on top of the
//! library's public API. Exit status 0 success, 1 verification found
//! violations, 2 error, 130 interrupted.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
