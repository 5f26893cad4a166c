//! `cargo run -p seeder`: see `seeder::cli` (exit status 0 success,
//! 1 verification found violations, 2 error).

fn main() -> std::process::ExitCode {
    seeder::cli::main()
}
