//! The error of a scenario that cannot be used, with its place in the
//! file: read from a TOML parse error here, and from the checks of
//! `validate`.

use std::fmt;

/// A scenario that cannot be used: where, and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file's path, or `built-in scenario NAME`.
    pub origin: String,
    /// 1-based, when the problem has a place in a file.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "{}:{line}:{column}: {}", self.origin, self.message)
            }
            _ => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for ScenarioError {}

impl ScenarioError {
    pub(super) fn from_toml(origin: &str, text: &str, e: &toml::de::Error) -> ScenarioError {
        let (line, column) = e
            .span()
            .map(|s| line_column(text, s.start))
            .map_or((None, None), |(l, c)| (Some(l), Some(c)));
        ScenarioError {
            origin: origin.to_owned(),
            line,
            column,
            message: e.message().trim_end().replace('\n', " "),
        }
    }

    pub(super) fn unreadable(path: &str, e: &std::io::Error) -> ScenarioError {
        ScenarioError {
            origin: path.to_owned(),
            line: None,
            column: None,
            message: format!(
                "cannot read the scenario file ({e}); `seeder scenarios` lists the built-in ones"
            ),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset`.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
