//! `cargo run -p seeder`: the command line (`seeder::cli`, written on top
//! of the library's public API). Exit status 0 success, 1 verification
//! found violations, 2 error, 130 interrupted.

fn main() -> std::process::ExitCode {
    seeder::cli::main()
}
