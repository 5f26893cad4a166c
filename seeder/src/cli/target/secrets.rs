//! The credentials a connection string carries, and removing them from a
//! message a driver or server may have echoed them into.
//!
//! The shown form of a URL is built from its parsed parts (see
//! `conninfo::masked`); this is the second line of defence, for text the
//! seeder did not write. A secret is replaced only where it stands as a
//! whole word, so that a short password (`e`) does not turn "cannot open
//! database" into "cannot op***n databas***".

/// Passwords and other credentials of one connection string, each as
/// given and as written in the URL (percent-encoded), longest first.
#[derive(Debug, Clone, Default)]
pub struct Secrets(Vec<String>);

impl Secrets {
    /// Adds a credential (empty ones are ignored).
    pub fn add(&mut self, secret: &str) {
        if !secret.is_empty() && !self.0.iter().any(|s| s == secret) {
            self.0.push(secret.to_owned());
            self.0.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `message` with every whole-word occurrence of a credential replaced
    /// by `***`; nothing else in it is changed.
    pub fn scrub(&self, message: &str) -> String {
        let mut text = message.to_owned();
        for secret in &self.0 {
            text = replace_whole(&text, secret);
        }
        text
    }
}

/// Replaces `secret` in `text` where neither neighbour continues a word
/// (letters, digits, `_`): an echoed password is delimited by quotes,
/// spaces, `:`, `@` or `=`, never glued to other letters.
fn replace_whole(text: &str, secret: &str) -> String {
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = text[pos..].find(secret) {
        let start = pos + found;
        let end = start + secret.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        // A secret that itself starts or ends with a word character must
        // not be glued to more of them there.
        let first = secret.chars().next();
        let last = secret.chars().next_back();
        let bounded = (!glued(first) || !glued(before)) && (!glued(last) || !glued(after));
        out.push_str(&text[pos..start]);
        if bounded {
            out.push_str("***");
        } else {
            out.push_str(secret);
        }
        pos = end;
    }
    out.push_str(&text[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(list: &[&str]) -> Secrets {
        let mut s = Secrets::default();
        for x in list {
            s.add(x);
        }
        s
    }

    #[test]
    fn a_short_password_leaves_words_alone() {
        let s = secrets(&["e"]);
        assert_eq!(
            s.scrub("cannot open database at e: refused"),
            "cannot open database at ***: refused"
        );
    }

    #[test]
    fn echoed_passwords_are_removed_wherever_delimited() {
        let s = secrets(&["s3cr@t", "s3cr%40t"]);
        assert_eq!(
            s.scrub("postgres://app:s3cr%40t@h password \"s3cr@t\" ok"),
            "postgres://app:***@h password \"***\" ok"
        );
        let s = secrets(&["/Zk9+abc="]);
        assert_eq!(s.scrub("x/Zk9+abc=@h"), "x***@h");
    }

    #[test]
    fn nothing_to_scrub_changes_nothing() {
        assert_eq!(Secrets::default().scrub("a e b"), "a e b");
    }
}
