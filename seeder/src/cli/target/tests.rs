use super::*;

fn env() -> Environment {
    Environment::with(&[], Some("osuser"))
}

fn parse(raw: &str) -> Result<DatabaseTarget, CliError> {
    DatabaseTarget::parse_in(raw, &env())
}

#[test]
fn passwords_never_reach_the_displayed_url() {
    let t = parse("postgres://app:s3cr%40t@db.local:5432/pulse").expect("valid");
    assert_eq!(t.display, "postgres://app:***@db.local:5432/pulse");
    assert_eq!(t.secrets().scrub("a s3cr@t b s3cr%40t"), "a *** b ***");
    assert_eq!(t.backend, DbBackend::Postgres);
}

#[test]
fn unknown_schemes_and_garbage_are_refused_with_a_hint() {
    let err = parse("oracle://u:pw@host/db").unwrap_err().to_string();
    assert!(err.contains("unsupported scheme \"oracle\""), "{err}");
    assert!(!err.contains("pw"), "{err}");
    let err = parse("not a url").unwrap_err().to_string();
    assert!(err.contains("expected a URL such as postgres://"), "{err}");
}

/// Issue 20, case 1: a password with `/`, `#`, `?` or a stray `@` is
/// refused before any connection, saying how to fix it, never echoed.
#[test]
fn unencoded_passwords_are_refused_and_never_shown() {
    for (raw, password) in [
        ("postgres://app:/Zk9+abc=@127.0.0.1:5615/db", "/Zk9+abc="),
        ("postgres://app:#Zk9@127.0.0.1:5615/db", "#Zk9"),
        ("postgres://app:?Zk9@127.0.0.1:5615/db", "?Zk9"),
        ("postgres://app:p@ss:w/rd%@127.0.0.1/db", "p@ss:w/rd%"),
        ("mysql://app:/Zk9+abc=@127.0.0.1:3306/db", "/Zk9+abc="),
        ("mariadb://app:p@ss:w/rd%@localhost/db", "p@ss:w/rd%"),
    ] {
        let err = parse(raw).expect_err(raw).to_string();
        assert!(err.contains("percent-encode"), "{raw}: {err}");
        // No piece of the password of 3 characters or more is shown.
        for window in password.as_bytes().windows(3) {
            let piece = std::str::from_utf8(window).unwrap_or("");
            assert!(!err.contains(piece), "{raw}: {piece:?} in {err}");
        }
    }
}

#[test]
fn only_sockets_loopback_and_files_count_as_local() {
    for url in [
        "postgres://u@localhost/db",
        "postgres://u@127.0.0.1:5432/db",
        "postgres://u@127.0.0.2/db",
        "postgres://u@[::1]:5432/db",
        "postgres:///db?host=/var/run/postgresql",
        "postgres://%2Fvar%2Frun%2Fpostgresql/db",
        "host=/tmp dbname=db",
        "mysql://root@LOCALHOST/db",
        "mysql://root@db.example.com/db?socket=/run/mysqld/mysqld.sock",
        "mysql://root@[::1]/db",
        "sqlite://x.sqlite",
    ] {
        assert!(parse(url).expect(url).local, "{url}");
    }
    for url in [
        "postgres://u@db.example.com/db",
        "postgres://u@10.0.0.5/db",
        "postgres://u@localhost/db?host=db.example.com",
        "postgres://u@localhost.example.com/db",
        "postgres://u@localhost/db?hostaddr=10.1.2.3",
        "host=db.example.com dbname=x",
        "mysql://root@192.168.1.20:3306/db",
    ] {
        assert!(!parse(url).expect(url).local, "{url}");
    }
}

#[test]
fn a_password_parameter_is_masked() {
    let t = parse("postgres://app@localhost/pulse?sslmode=require&password=s3cret").expect("valid");
    assert_eq!(
        t.display,
        "postgres://app@localhost/pulse?sslmode=require&password=***"
    );
    assert_eq!(t.secrets().scrub("s3cret"), "***");
}

#[test]
fn sqlite_file_names_are_percent_decoded_once() {
    let t = parse("sqlite://my%20data.sqlite?mode=rwc").expect("valid");
    assert_eq!(t.sqlite_file, Some(PathBuf::from("my data.sqlite")));
    let t = parse("sqlite://data/x.sqlite?mode=rwc").expect("valid");
    assert_eq!(t.sqlite_file, Some(PathBuf::from("data/x.sqlite")));
}
