//! Splitting a connection string into its parts the way the database
//! clients do, before anything is decoded or opened: a URL
//! (`scheme://[user[:password]@]host[:port][/database][?key=value&...]`)
//! or, for PostgreSQL, libpq's `key=value` form.
//!
//! Nothing here echoes a part of a string it could not read: a password
//! holding an unencoded `/`, `?`, `#` or `@` shifts every later part, so
//! the "host" or "port" a reader would report may be a piece of it.

use std::ops::Range;

use percent_encoding::percent_decode_str;

/// Why a connection string was refused. Never holds any part of it.
pub type Refusal = String;

/// What to do when a URL holds a character that should have been encoded.
pub const ENCODE_HINT: &str = "percent-encode these characters in the user name and password \
     (`/` as %2F, `?` as %3F, `#` as %23, `@` as %40, `:` as %3A, `%` as %25, space as %20), \
     or leave the password out of the URL (PostgreSQL: PGPASSWORD or a .pgpass file)";

/// One `key=value` parameter, decoded, with where its value stands in the
/// original string (for showing the string with secrets masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub key: String,
    pub value: String,
    pub value_span: Range<usize>,
}

/// A URL split at its delimiters. Spans index the original string; the
/// user, password, host and path are still percent-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts {
    pub scheme: String,
    pub user: Option<Range<usize>>,
    pub password: Option<Range<usize>>,
    /// The host as written: a name, an address, `[v6]`, or a
    /// percent-encoded socket directory; empty when left out.
    pub host: Range<usize>,
    pub port: Option<u16>,
    /// After the `/` that follows the authority, before `?`.
    pub path: Range<usize>,
    pub params: Vec<Param>,
}

/// Percent-decodes `s` (and only that: a `+` stays a `+`, as in libpq and
/// the MySQL clients; `url`'s form decoding would make it a space).
pub fn decode(s: &str, what: &str) -> Result<String, Refusal> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("the {what} is not valid UTF-8 once percent-decoded"))
}

/// Splits `raw`, a URL whose scheme has been recognised.
pub fn split_url(raw: &str) -> Result<UrlParts, Refusal> {
    let Some(scheme_end) = raw.find("://") else {
        return Err("a URL starts with scheme:// (e.g. postgres://)".to_owned());
    };
    let scheme = raw[..scheme_end].to_ascii_lowercase();
    let start = scheme_end + 3;
    if raw.contains('#') {
        return Err(format!(
            "it holds a `#`, which ends a URL's readable part: everything after it would be \
             dropped silently; {ENCODE_HINT}"
        ));
    }
    let rest = &raw[start..];
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = start..start + authority_len;
    let after = &raw[authority.end..];
    let (path, query) = match after.find('?') {
        Some(q) => (
            authority.end..authority.end + q,
            Some(authority.end + q + 1..raw.len()),
        ),
        None => (authority.end..raw.len(), None),
    };
    let auth = &raw[authority.clone()];
    let (user, password, host_port) = match auth.rfind('@') {
        Some(at) => {
            let info = authority.start..authority.start + at;
            let (user, password) = match raw[info.clone()].find(':') {
                Some(colon) => (
                    info.start..info.start + colon,
                    Some(info.start + colon + 1..info.end),
                ),
                None => (info.clone(), None),
            };
            (
                Some(user),
                password,
                authority.start + at + 1..authority.end,
            )
        }
        None => (None, None, authority.clone()),
    };
    // An `@` past the authority, in the path, means the user-info went on
    // past a `/` or `?`: a password with one of those, unencoded.
    if raw[path.clone()].contains('@') {
        return Err(format!(
            "an `@` stands after the host, so the user name or password seems to hold an \
             unencoded `/` or `?`; {ENCODE_HINT}"
        ));
    }
    let hp = &raw[host_port.clone()];
    let (host, port) = split_host_port(hp, host_port.start)?;
    let path = if raw[path.clone()].starts_with('/') {
        path.start + 1..path.end
    } else {
        path
    };
    let params = match query {
        Some(q) => split_query(raw, q)?,
        None => Vec::new(),
    };
    Ok(UrlParts {
        scheme,
        user,
        password,
        host,
        port,
        path,
        params,
    })
}

/// `host[:port]`, where the host may be `[v6]`. The port must be digits:
/// anything else there is most often the rest of a password.
fn split_host_port(hp: &str, offset: usize) -> Result<(Range<usize>, Option<u16>), Refusal> {
    let bad_port = || {
        format!(
            "what stands where the port goes is not a number, so the user name or password \
             seems to hold an unencoded `:`, `/`, `?`, `#` or `@`; {ENCODE_HINT}"
        )
    };
    let (host_len, port) = if hp.starts_with('[') {
        let Some(close) = hp.find(']') else {
            return Err("an IPv6 address opened with `[` is not closed with `]`".to_owned());
        };
        match &hp[close + 1..] {
            "" => (close + 1, None),
            p if p.starts_with(':') => (close + 1, Some(&p[1..])),
            _ => return Err(bad_port()),
        }
    } else {
        match hp.rfind(':') {
            Some(colon) if hp[..colon].contains(':') => {
                return Err(
                    "an IPv6 address in a URL is written in brackets, e.g. [::1]:5432".to_owned(),
                );
            }
            Some(colon) => (colon, Some(&hp[colon + 1..])),
            None => (hp.len(), None),
        }
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| {
                "the port is out of range (a port is a number from 1 to 65535)".to_owned()
            })?)
        }
        Some(_) => return Err(bad_port()),
    };
    if port == Some(0) {
        return Err("port 0 is not a port a server listens on".to_owned());
    }
    Ok((offset..offset + host_len, port))
}

/// `key=value&key=value`, each side percent-decoded.
fn split_query(raw: &str, query: Range<usize>) -> Result<Vec<Param>, Refusal> {
    let mut params = Vec::new();
    let mut pos = query.start;
    for piece in raw[query.clone()].split('&') {
        let span = pos..pos + piece.len();
        pos = span.end + 1;
        if piece.is_empty() {
            continue;
        }
        let Some(eq) = piece.find('=') else {
            return Err(format!(
                "the parameter {} has no `=value`",
                shown_key(&decode(piece, "parameter").unwrap_or_default())
            ));
        };
        let key = decode(&piece[..eq], "parameter name")?;
        let value = decode(&piece[eq + 1..], "parameter value")?;
        params.push(Param {
            key,
            value,
            value_span: span.start + eq + 1..span.end,
        });
    }
    Ok(params)
}

/// libpq's `key=value key='quoted value'` form: values in single quotes
/// may hold spaces, `\'` and `\\`.
pub fn split_keyword_value(raw: &str) -> Result<Vec<Param>, Refusal> {
    let bytes = raw.as_bytes();
    let mut params = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let key_start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let key = raw[key_start..i].to_owned();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] != b'=' {
            return Err(format!(
                "{} is not followed by `=` (a connection string is key=value pairs, or a URL)",
                shown_key(&key)
            ));
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let value_start = i;
        let mut value = Vec::new();
        if i < bytes.len() && bytes[i] == b'\'' {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => {
                        return Err(format!(
                            "the quoted value of {} is not closed with '",
                            shown_key(&key)
                        ));
                    }
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') if i + 1 < bytes.len() => {
                        value.push(bytes[i + 1]);
                        i += 2;
                    }
                    Some(&b) => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                value.push(bytes[i]);
                i += 1;
            }
        }
        let value = String::from_utf8(value)
            .map_err(|_| format!("the value of {} is not valid UTF-8", shown_key(&key)))?;
        params.push(Param {
            key,
            value,
            value_span: value_start..i,
        });
    }
    Ok(params)
}

/// A parameter's name for a message: quoted when it reads as a name, else
/// not shown (a malformed URL's "parameter" may be a piece of a password).
pub fn shown_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key.len() <= 40
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-[].".contains(&b));
    if plain {
        format!("{key:?}")
    } else {
        "(a name that is not shown: it may be part of a password that holds an unencoded `?` or `&`)"
            .to_owned()
    }
}

/// `raw` with the given spans replaced by `***`, for display.
pub fn masked(raw: &str, mut spans: Vec<Range<usize>>) -> String {
    spans.sort_by_key(|s| s.start);
    let mut out = String::with_capacity(raw.len());
    let mut pos = 0;
    for span in spans {
        if span.start < pos {
            continue;
        }
        out.push_str(&raw[pos..span.start]);
        out.push_str("***");
        pos = span.end;
    }
    out.push_str(&raw[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(raw: &str, r: &Option<Range<usize>>) -> Option<String> {
        r.clone().map(|r| raw[r].to_owned())
    }

    #[test]
    fn a_url_is_split_at_its_delimiters() {
        let raw =
            "postgres://app:s%2Fcr%40t@db.local:6543/pulse?sslmode=require&application_name=a+b";
        let p = split_url(raw).expect("valid");
        assert_eq!(p.scheme, "postgres");
        assert_eq!(part(raw, &p.user).as_deref(), Some("app"));
        assert_eq!(part(raw, &p.password).as_deref(), Some("s%2Fcr%40t"));
        assert_eq!(&raw[p.host.clone()], "db.local");
        assert_eq!(p.port, Some(6543));
        assert_eq!(&raw[p.path.clone()], "pulse");
        assert_eq!(p.params[1].value, "a+b", "a + is not a space");
        assert_eq!(&raw[p.params[0].value_span.clone()], "require");
    }

    #[test]
    fn ipv6_literals_and_empty_hosts() {
        let raw = "postgres://u@[::1]:5618/db";
        let p = split_url(raw).expect("valid");
        assert_eq!(&raw[p.host.clone()], "[::1]");
        assert_eq!(p.port, Some(5618));
        let raw = "postgres:///db?host=/var/run/postgresql";
        let p = split_url(raw).expect("valid");
        assert_eq!(&raw[p.host.clone()], "");
        assert_eq!(p.params[0].value, "/var/run/postgresql");
        assert!(split_url("postgres://u@::1:5432/db").is_err());
    }

    /// Each of these has a password with a character that should have
    /// been encoded; none of the refusals may hold any part of it.
    #[test]
    fn unencoded_passwords_are_refused_without_echo() {
        for (raw, secret) in [
            ("postgres://app:/Zk9+abc=@127.0.0.1:5615/db", "Zk9+abc="),
            ("postgres://app:p@ss:w/rd%@127.0.0.1/db", "rd%"),
            ("postgres://app:ab#cd@localhost/db", "cd"),
            ("mysql://app:ab?cd@localhost/db", "ab?cd"),
            ("postgres://app:123/456@localhost/db", "456"),
            ("postgres://app:?x@h/db", "?x"),
        ] {
            let err = split_url(raw).expect_err(raw);
            assert!(!err.contains(secret), "{raw}: {err}");
            assert!(err.contains("percent-encode"), "{raw}: {err}");
        }
    }

    #[test]
    fn keyword_value_strings() {
        let raw = r"host=/tmp  dbname = pulse password='it''s' user=a\ b";
        assert!(split_keyword_value(raw).is_err(), "'' is not an escape");
        let raw = r"host=/tmp  dbname = pulse password='it\'s a b' user=a\ b";
        let p = split_keyword_value(raw).expect("valid");
        let kv: Vec<(&str, &str)> = p
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_str()))
            .collect();
        assert_eq!(
            kv,
            [
                ("host", "/tmp"),
                ("dbname", "pulse"),
                ("password", "it's a b"),
                ("user", "a b")
            ]
        );
        assert_eq!(
            masked(raw, vec![p[2].value_span.clone()]),
            r"host=/tmp  dbname = pulse password=*** user=a\ b"
        );
    }

    #[test]
    fn odd_parameter_names_are_not_echoed() {
        assert_eq!(shown_key("sslmode"), "\"sslmode\"");
        assert!(!shown_key("cd@host/db").contains("cd"));
    }
}
