//! libpq's password file (`~/.pgpass`, or `PGPASSFILE`/`passfile`): lines
//! of `host:port:database:user:password`, `*` matching anything, `\:` and
//! `\\` escaped. As libpq, a file others may read is ignored.

use std::path::Path;

/// The password of the first line that matches, if any.
pub fn lookup(file: &Path, host: &str, port: u16, database: &str, user: &str) -> Option<String> {
    if !private(file) {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let port = port.to_string();
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = fields(line);
            let [h, p, d, u, password] = fields.as_slice() else {
                return None;
            };
            let matches = |field: &String, value: &str| field == "*" || field == value;
            (matches(h, host) && matches(p, &port) && matches(d, database) && matches(u, user))
                .then(|| password.clone())
        })
}

/// The colon-separated fields of a line; the last takes the rest.
fn fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(f)) = (chars.next(), fields.last_mut()) {
                    f.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(f) = fields.last_mut() {
                    f.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(unix)]
fn private(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o077 == 0)
}

#[cfg(not(unix))]
fn private(file: &Path) -> bool {
    file.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str, mode: u32) -> tempfile::NamedTempFile {
        use std::io::Write as _;
        use std::os::unix::fs::PermissionsExt as _;
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(mode)).expect("chmod");
        f
    }

    #[test]
    fn the_first_matching_line_gives_the_password() {
        let f = file(
            "# comment\nother:5432:*:*:no\nlocalhost:5432:pulse:app:first\n*:*:*:app:a\\:b\\\\c:d\n",
            0o600,
        );
        let pw = |h, p, d, u| lookup(f.path(), h, p, d, u);
        assert_eq!(
            pw("localhost", 5432, "pulse", "app").as_deref(),
            Some("first")
        );
        assert_eq!(
            pw("db.local", 6432, "x", "app").as_deref(),
            Some("a:b\\c:d")
        );
        assert_eq!(pw("db.local", 6432, "x", "bob"), None);
    }

    #[test]
    fn a_file_others_can_read_is_ignored() {
        let f = file("*:*:*:*:secret\n", 0o644);
        assert_eq!(lookup(f.path(), "h", 5432, "d", "u"), None);
    }
}
