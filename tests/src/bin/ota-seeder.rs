//! The seeder's command line, built inside this package so the integration
//! tests run it from the same build (same features, no second compile of
//! the dependency tree). `seeder/src/main.rs` is this same one line.

fn main() -> std::process::ExitCode {
    seeder::cli::main()
}
