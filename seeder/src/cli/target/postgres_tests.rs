use super::*;

fn env(vars: &[(&str, &str)]) -> Environment {
    Environment::with(vars, Some("osuser"))
}

fn pg(raw: &str, vars: &[(&str, &str)]) -> PgTarget {
    parse(raw, &env(vars)).unwrap_or_else(|e| panic!("{raw}: {e}"))
}

fn refused(raw: &str, vars: &[(&str, &str)]) -> String {
    match parse(raw, &env(vars)) {
        Ok(_) => panic!("{raw} was accepted"),
        Err(e) => e,
    }
}

/// Issue 20, case 4: no user in the URL means PGUSER, else the OS user.
#[test]
fn the_user_defaults_as_in_libpq() {
    let t = pg("postgres:///db?host=/var/run/postgresql", &[]);
    assert_eq!(t.options.get_username(), "osuser");
    let t = pg(
        "postgres:///db?host=/var/run/postgresql",
        &[("PGUSER", "envuser")],
    );
    assert_eq!(t.options.get_username(), "envuser");
    let t = pg("postgres://urluser@/db", &[("PGUSER", "envuser")]);
    assert_eq!(t.options.get_username(), "urluser");
}

/// Issue 20, case 5: an IPv6 literal is an address, not a name.
#[test]
fn ipv6_literals_are_addresses() {
    let t = pg("postgres://postgres@[::1]:5618/db", &[]);
    assert_eq!(t.options.get_host(), "::1");
    assert_eq!(t.options.get_port(), 5618);
    assert!(t.local);
}

#[test]
fn environment_variables_fill_what_the_string_leaves_out() {
    let t = pg(
        "postgres://",
        &[
            ("PGHOST", "db.example.com"),
            ("PGPORT", "6543"),
            ("PGDATABASE", "pulse"),
            ("PGAPPNAME", "mine"),
            ("PGPASSWORD", "envpw"),
        ],
    );
    assert_eq!(t.options.get_host(), "db.example.com");
    assert_eq!(t.options.get_port(), 6543);
    assert_eq!(t.options.get_database(), Some("pulse"));
    assert_eq!(t.options.get_application_name(), Some("mine"));
    assert_eq!(
        t.secrets.scrub("envpw"),
        "***",
        "an env password is a secret too"
    );
    assert!(!t.local);
}

/// Issue 20, case 10: the user's application_name is kept.
#[test]
fn application_name_is_the_users_else_ota_seed() {
    let t = pg("postgres://u@localhost/db?application_name=mine", &[]);
    assert_eq!(t.options.get_application_name(), Some("mine"));
    let t = pg("postgres://u@localhost/db", &[("PGAPPNAME", "fromenv")]);
    assert_eq!(t.options.get_application_name(), Some("fromenv"));
    let t = pg(
        "postgres://u@localhost/db?fallback_application_name=fb",
        &[],
    );
    assert_eq!(t.options.get_application_name(), Some("fb"));
    let t = pg("postgres://u@localhost/db", &[]);
    assert_eq!(t.options.get_application_name(), Some("ota-seed"));
}

/// Issue 20, case 2: sslpassword is a credential; an encrypted key is
/// refused with the way out, the password never shown.
#[test]
fn sslpassword_is_masked_and_encrypted_keys_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("c.crt");
    let key = dir.path().join("c.key");
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").expect("write");
    std::fs::write(&key, "-----BEGIN ENCRYPTED PRIVATE KEY-----\n").expect("write");
    let raw = format!(
        "postgres://u@localhost/db?sslcert={}&sslkey={}&sslpassword=kEy-pw",
        cert.display(),
        key.display()
    );
    let err = refused(&raw, &[]);
    assert!(err.contains("is encrypted"), "{err}");
    assert!(err.contains("openssl pkey"), "{err}");
    assert!(!err.contains("kEy-pw"), "{err}");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").expect("write");
    let t = pg(&raw, &[]);
    assert!(t.display.ends_with("sslpassword=***"), "{}", t.display);
    assert!(!t.display.contains("kEy-pw"));
}

/// Issue 20, case 8: a root certificate makes `require` check the chain,
/// as libpq does; channel binding, which the driver lacks, is refused.
#[test]
fn a_root_certificate_makes_require_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "x").expect("write");
    let t = pg(
        &format!(
            "postgres://u@localhost/db?sslmode=require&sslrootcert={}",
            ca.display()
        ),
        &[],
    );
    assert!(matches!(t.options.get_ssl_mode(), PgSslMode::VerifyCa));
    let t = pg("postgres://u@localhost/db?sslmode=require", &[]);
    assert!(matches!(t.options.get_ssl_mode(), PgSslMode::Require));
    let err = refused(
        "postgres://u@localhost/db?sslmode=verify-ca&sslrootcert=/no/such/ca.pem",
        &[],
    );
    assert!(err.contains("does not exist"), "{err}");
    let err = refused("postgres://u@localhost/db?channel_binding=require", &[]);
    assert!(err.contains("channel binding"), "{err}");
    let err = refused(
        "postgres://u@localhost/db",
        &[("PGCHANNELBINDING", "require")],
    );
    assert!(
        err.contains("PGCHANNELBINDING=require (in the environment)"),
        "{err}"
    );
    pg("postgres://u@localhost/db?channel_binding=prefer", &[]);
}

#[test]
fn parameters_the_driver_cannot_honour_are_refused_by_name() {
    for (raw, says) in [
        (
            "postgres://u@h/db?target_session_attrs=read-write",
            "single host",
        ),
        ("postgres://u@h/db?sslcrl=/x.crl", "revocation"),
        ("postgres://u@h/db?service=mine", "pg_service.conf"),
        ("postgres://u@h1,h2/db", "several hosts"),
        ("postgres://u@h/db?sslmode=maybe", "not a mode"),
        ("postgres://u@h/db?nosuch=1", "unknown parameter \"nosuch\""),
        ("postgres://u@h/db?options=-d%205", "only -c name=value"),
    ] {
        let err = refused(raw, &[]);
        assert!(err.contains(says), "{raw}: {err}");
    }
}

#[test]
fn options_and_sqlx_spellings_are_understood() {
    let t = pg(
        "postgres://u@h/db?options=-c%20search_path%3Dota%20-cstatement_timeout=0&ssl-mode=disable",
        &[],
    );
    assert!(matches!(t.options.get_ssl_mode(), PgSslMode::Disable));
    assert_eq!(
        t.options.get_options(),
        Some("-c search_path=ota -c statement_timeout=0")
    );
}

#[test]
fn a_plus_in_a_password_parameter_stays_a_plus() {
    let t = pg("postgres://u@h/db?password=a+b", &[]);
    assert_eq!(t.secrets.scrub("a+b"), "***");
    assert_eq!(t.secrets.scrub("a b"), "a b");
}

#[test]
fn keyword_value_strings_read_as_libpq() {
    let t = pg(
        "host=/var/run/postgresql port=5433 dbname=pulse user=app password='p w'",
        &[],
    );
    assert_eq!(t.options.get_port(), 5433);
    assert_eq!(t.options.get_username(), "app");
    assert_eq!(t.options.get_database(), Some("pulse"));
    assert_eq!(
        t.display,
        "host=/var/run/postgresql port=5433 dbname=pulse user=app password=***"
    );
    assert!(t.local);
}

#[test]
fn connect_timeout_follows_libpq() {
    let t = pg("postgres://u@h/db?connect_timeout=1", &[]);
    assert_eq!(t.connect_timeout, Some(Duration::from_secs(2)));
    let t = pg("postgres://u@h/db?connect_timeout=0", &[]);
    assert_eq!(t.connect_timeout, None);
    let t = pg("postgres://u@h/db", &[("PGCONNECT_TIMEOUT", "7")]);
    assert_eq!(t.connect_timeout, Some(Duration::from_secs(7)));
}

#[test]
fn the_password_file_is_read_with_the_resolved_settings() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pgpass");
    std::fs::write(&file, "db.local:5433:pulse:app:from-file\n").expect("write");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let passfile = file.display().to_string();
    let t = pg(
        "postgres://app@db.local:5433/pulse",
        &[("PGPASSFILE", passfile.as_str())],
    );
    assert_eq!(t.secrets.scrub("from-file"), "***");
    let t = pg(
        "postgres://app@db.local:5433/other",
        &[("PGPASSFILE", passfile.as_str())],
    );
    assert_eq!(t.secrets.scrub("from-file"), "from-file", "no line matches");
}
