//! SQLite targets: a `sqlite:` URL read once by the driver's own parser
//! (its path percent-decoded once), or a file path. The file's name is
//! kept as a path from then on, never written back into a URL, so a name
//! holding `%`, `?` or `#` names the same file in every command.

use std::path::{Path, PathBuf};
use std::str::FromStr as _;

use sea_orm::sqlx::sqlite::SqliteConnectOptions;

use super::conninfo::Refusal;

/// A SQLite database, resolved.
#[derive(Debug, Clone)]
pub struct SqliteTarget {
    pub options: SqliteConnectOptions,
    /// The file, unless the database lives in memory.
    pub file: Option<PathBuf>,
}

/// Reads a `sqlite:` URL as sqlx documents it.
pub fn parse(raw: &str) -> Result<SqliteTarget, Refusal> {
    let options = SqliteConnectOptions::from_str(raw).map_err(|e| {
        format!(
            "{e} (a SQLite URL is sqlite://path/to/file.sqlite, optionally with ?mode=rwc; \
             `%` in a file name is written %25)"
        )
    })?;
    let in_memory = raw.contains(":memory:") || raw.contains("mode=memory");
    let file = (!in_memory).then(|| options.get_filename().to_path_buf());
    Ok(SqliteTarget { options, file })
}

/// The file `path`, created when missing.
pub fn file(path: &Path) -> SqliteTarget {
    SqliteTarget {
        options: SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true),
        file: Some(path.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_decoded_once_and_kept_as_paths() {
        let t = parse("sqlite://my%20data.sqlite?mode=rwc").expect("valid");
        assert_eq!(t.file, Some(PathBuf::from("my data.sqlite")));
        let t = parse("sqlite://x%253Fy.sqlite").expect("valid");
        assert_eq!(t.file, Some(PathBuf::from("x%3Fy.sqlite")));
        assert_eq!(t.options.get_filename(), Path::new("x%3Fy.sqlite"));
        let t = file(Path::new("/tmp/pct%41dir/ota-seed.sqlite"));
        assert_eq!(
            t.options.get_filename(),
            Path::new("/tmp/pct%41dir/ota-seed.sqlite"),
            "a directory name with % is not decoded"
        );
    }

    #[test]
    fn memory_databases_have_no_file() {
        assert_eq!(parse("sqlite::memory:").expect("valid").file, None);
    }
}
