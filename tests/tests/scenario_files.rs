//! Scenarios from the command line, over the real binary: a user's file
//! refused with one line naming the place (`path:line:column`) and what is
//! wrong, exit status 2 and nothing written; `seeder scenarios`; `seeder
//! scenario show` (the built-in's file byte for byte, and the `--summary`
//! preview); and the round trip of copying a built-in, editing it and
//! seeding the copy.
//!
//! What scenarios generate is tested through the library (scenarios.rs and
//! the seeder's unit tests); these cases are about what a person types and
//! reads.

use std::path::Path;

use ota_seed_tests::{assert_clean_error, assert_ok, describe, json_summary, run_seeder};

/// A built-in scenario's file, as the repository holds it.
fn builtin_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../seeder/scenarios")
        .join(format!("{name}.toml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with `from` replaced once by `to`; the edit must apply.
fn edited(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} once in the file");
    text.replacen(from, to, 1)
}

/// The 1-based line of `text` that starts with `prefix` (once).
fn line_of(text: &str, prefix: &str) -> usize {
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with(prefix))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(lines.len(), 1, "one line starting {prefix:?}");
    lines[0]
}

/// Writes `text` as `name` in `dir`, runs the seeder there with
/// `--scenario name` and `extra`, and returns its error line, having
/// checked exit status 2, one clean line, and that no database file was
/// created.
fn refused(dir: &Path, name: &str, text: &str, extra: &[&str]) -> String {
    std::fs::write(dir.join(name), text).expect("write the scenario file");
    let mut args = vec!["--scenario", name];
    args.extend_from_slice(extra);
    let out = run_seeder(&args, &[], dir);
    let line = assert_clean_error(&out);
    assert!(
        !dir.join("ota-seed.sqlite").exists(),
        "{name}: nothing may be written:\n{}",
        describe(&out)
    );
    line
}

#[test]
fn a_typo_in_a_key_is_refused_with_its_place_and_the_keys_allowed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = edited(
        &builtin_file("demo"),
        "\ndevices_per_site = 5\n",
        "\ndevices_per_sit = 5\n",
    );
    let line = line_of(&text, "devices_per_sit =");
    assert_eq!(
        refused(dir.path(), "typo.toml", &text, &[]),
        format!(
            "error: typo.toml:{line}:1: unknown field `devices_per_sit`, expected one of `sites_per_tenant`, `devices_per_site`, `provisioned`, `revoked_share`"
        )
    );
}

#[test]
fn a_negative_count_is_refused_at_the_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = edited(
        &builtin_file("demo"),
        "\ndevices_per_site = 5\n",
        "\ndevices_per_site = -5\n",
    );
    let line = line_of(&text, "devices_per_site = -5");
    assert_eq!(
        refused(dir.path(), "negative.toml", &text, &[]),
        format!("error: negative.toml:{line}:20: -5 is not allowed here: a count of at least 1")
    );
    // Not even `verify`, which only reads, gets as far as the database.
    let out = run_seeder(&["--scenario", "negative.toml", "verify"], &[], dir.path());
    assert_eq!(
        assert_clean_error(&out),
        format!("error: negative.toml:{line}:20: -5 is not allowed here: a count of at least 1")
    );
}

#[test]
fn a_campaign_naming_an_unknown_device_type_is_refused_and_no_database_file_is_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = edited(
        &builtin_file("history"),
        "[[campaigns.aborted]]\ndevice_type = \"camera\"",
        "[[campaigns.aborted]]\ndevice_type = \"camra\"",
    );
    let line = line_of(&text, "device_type = \"camra\"");
    let expected = format!(
        "error: camra.toml:{line}:1: unknown device type \"camra\": the scenario defines \"sensor\", \"gateway\", \"camera\""
    );
    assert_eq!(refused(dir.path(), "camra.toml", &text, &[]), expected);
    // Against a database named by URL, with a mode that would create it.
    let file = dir.path().join("x.sqlite");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    assert_eq!(
        refused(dir.path(), "camra.toml", &text, &["--database-url", &url]),
        expected
    );
    assert!(!file.exists(), "the database file was not created");
}

#[test]
fn releases_out_of_order_are_refused_at_the_later_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The demo's two listed releases, 1.1.0 listed first.
    let text = builtin_file("demo")
        .replacen("version = \"1.0.0\"", "version = \"@first\"", 1)
        .replacen("version = \"1.1.0\"", "version = \"1.0.0\"", 1)
        .replacen("version = \"@first\"", "version = \"1.1.0\"", 1);
    let first = line_of(&text, "version = \"1.1.0\"");
    let line = line_of(&text, "version = \"1.0.0\"");
    assert!(first < line, "1.1.0 is listed first");
    assert_eq!(
        refused(dir.path(), "order.toml", &text, &[]),
        format!(
            "error: order.toml:{line}:1: releases are listed oldest first: 1.0.0 comes after 1.1.0, so its version must be higher"
        )
    );
}

/// `provisioned` is a time or a window: a mistake inside the window is
/// named, not "data did not match any variant".
#[test]
fn a_mistake_in_the_provisioning_window_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = edited(
        &builtin_file("history"),
        "initial_share = 0.4 }",
        "initial_shar = 0.4 }",
    );
    let line = line_of(&text, "provisioned = {");
    let column = text
        .lines()
        .nth(line - 1)
        .and_then(|l| l.find("initial_shar"))
        .expect("the key")
        + 1;
    assert_eq!(
        refused(dir.path(), "window.toml", &text, &[]),
        format!(
            "error: window.toml:{line}:{column}: unknown field `initial_shar`, expected one of `from`, `until`, `initial_share`"
        )
    );
    let text = edited(
        &builtin_file("demo"),
        "provisioned = \"2024-01-15\"",
        "provisioned = \"last spring\"",
    );
    let line = line_of(&text, "provisioned =");
    assert_eq!(
        refused(dir.path(), "when.toml", &text, &[]),
        format!(
            "error: when.toml:{line}:15: \"last spring\" is not a time: write a date (\"2024-01-15\") or \"N days ago\" with N from 0 to 36500"
        )
    );
}

#[test]
fn campaigns_per_tenant_is_refused_where_campaigns_follow_the_releases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_seeder(
        &["--scenario", "history", "--campaigns-per-tenant", "3"],
        &[],
        dir.path(),
    );
    assert_eq!(
        assert_clean_error(&out),
        "error: --campaigns-per-tenant does not apply to the scenario history: its campaigns follow the firmware releases (targets = \"releases\": one campaign per release after a line's first); to change them, copy it (`seeder scenario show history > mine.toml`), add or remove releases in its firmware lines, and pass --scenario mine.toml"
    );
    assert!(!dir.path().join("ota-seed.sqlite").exists());
}

#[test]
fn a_missing_file_or_an_unknown_name_says_where_the_built_ins_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_seeder(&["--scenario", "histroy"], &[], dir.path());
    let line = assert_clean_error(&out);
    assert!(
        line.starts_with("error: histroy: cannot read the scenario file ("),
        "{line}"
    );
    assert!(
        line.ends_with("); `seeder scenarios` lists the built-in ones"),
        "{line}"
    );
    assert!(!dir.path().join("ota-seed.sqlite").exists());
}

#[test]
fn scenarios_lists_the_built_ins_and_marks_the_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = assert_ok(&run_seeder(&["scenarios"], &[], dir.path()));
    assert_eq!(
        out,
        "demo     the platform's demo: 2 tenants, 15 sensors each, one completed rollout (the default)\n\
         fleet    the demo's shape at size: 10 tenants of 1,000 sensors, 5 campaigns each in every state\n\
         history  a year of OTA: sensors, gateways and cameras, release lines, every campaign state\n"
    );
    let listed = json_summary(&run_seeder(&["scenarios", "--json"], &[], dir.path()), 0);
    let defaults: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter(|b| b["default"] == true)
        .filter_map(|b| b["name"].as_str())
        .collect();
    assert_eq!(defaults, ["demo"], "{listed:#}");
    assert!(!dir.path().join("ota-seed.sqlite").exists());
}

#[test]
fn scenario_show_prints_the_built_in_file_byte_for_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["demo", "fleet", "history"] {
        let out = run_seeder(&["scenario", "show", name], &[], dir.path());
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        assert!(
            out.stdout == builtin_file(name).as_bytes(),
            "{name}: `scenario show` differs from seeder/scenarios/{name}.toml:\n{}",
            describe(&out)
        );
    }
    let out = run_seeder(&["scenario", "show", "nope"], &[], dir.path());
    let line = assert_clean_error(&out);
    assert!(
        line.starts_with("error: nope: cannot read the scenario file"),
        "{line}"
    );
    assert!(!dir.path().join("ota-seed.sqlite").exists());
}

#[test]
fn the_demo_summary_shows_each_tenant_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = assert_ok(&run_seeder(
        &["scenario", "show", "demo", "--summary"],
        &[],
        dir.path(),
    ));
    let expected = [
        "scenario demo (seed 42): The platform's demo: two tenants, 15 sensors each, one completed rollout to 1.1.0",
        "tenants (2):",
        "  tenant-a  Acme IoT Corp",
        "  tenant-b  Nordic Sensors AB",
        "each tenant: 3 sites, 15 devices",
        "  sensor  15 devices, models BME280, DHT22, SHT31",
        "    releases: 1.0.0 (2024-01-08), 1.1.0 (7 days ago)",
        "  campaigns (1): state, firmware, targets and the status rows a run writes",
        "    Fleet Update to v1.1.0  COMPLETED  sensor 1.1.0  15 devices: 14 SUCCESS (93.3%), 1 FAILED",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{out}");

    // The same as JSON, per tenant; `--tenant` narrows it.
    let summary = json_summary(
        &run_seeder(
            &[
                "scenario",
                "show",
                "demo",
                "--summary",
                "--json",
                "--tenant",
                "tenant-b",
            ],
            &[],
            dir.path(),
        ),
        0,
    );
    assert_eq!(summary["tenants"].as_array().map(Vec::len), Some(1));
    let tenant = &summary["tenants"][0];
    assert_eq!(tenant["tenant_id"], "tenant-b", "{summary:#}");
    assert_eq!(tenant["devices"], 15, "{summary:#}");
    let campaign = &tenant["campaigns"][0];
    assert_eq!(campaign["status"], "COMPLETED", "{summary:#}");
    assert_eq!(
        (campaign["targets"].as_u64(), campaign["succeeded"].as_u64()),
        (Some(15), Some(14)),
        "{summary:#}"
    );
    assert!(
        !dir.path().join("ota-seed.sqlite").exists(),
        "a preview opens no database"
    );
}

/// The README's walk-through: copy a built-in, edit it, preview the copy
/// and see what a run would insert.
#[test]
fn a_copied_and_edited_built_in_previews_the_smaller_world() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shown = run_seeder(&["scenario", "show", "history"], &[], dir.path());
    assert_eq!(shown.status.code(), Some(0), "{}", describe(&shown));
    let text = String::from_utf8(shown.stdout).expect("UTF-8");
    std::fs::write(
        dir.path().join("mine.toml"),
        edited(
            &text,
            "\ndevices_per_site = 40\n",
            "\ndevices_per_site = 4\n",
        ),
    )
    .expect("write mine.toml");

    // Set back to 40 by the option, the copy previews as the built-in.
    let preview = |args: &[&str]| assert_ok(&run_seeder(args, &[], dir.path()));
    assert_eq!(
        preview(&[
            "scenario",
            "show",
            "mine.toml",
            "--summary",
            "--devices-per-site",
            "40"
        ]),
        preview(&["scenario", "show", "history", "--summary"])
    );

    let dry_run = |scenario: &str| {
        let out = assert_ok(&run_seeder(
            &["--scenario", scenario, "--dry-run"],
            &[],
            dir.path(),
        ));
        assert!(
            !dir.path().join("ota-seed.sqlite").exists(),
            "a dry run creates no database"
        );
        out
    };
    let would_insert = |report: &str, table: &str| -> u64 {
        report
            .lines()
            .find_map(|l| l.trim_start().strip_prefix(table))
            .and_then(|rest| rest.trim_start().strip_prefix("would insert "))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no `{table} would insert N` line in:\n{report}"))
    };
    let (mine, history) = (dry_run("mine.toml"), dry_run("history"));
    // 2 tenants × 3 sites × 4 devices, against 40 per site.
    assert_eq!(would_insert(&mine, "device_registry"), 24, "{mine}");
    assert_eq!(would_insert(&history, "device_registry"), 240, "{history}");
    // The same firmware lines and campaigns, fewer devices in them.
    for table in ["tenants", "firmware_versions", "ota_campaigns"] {
        assert_eq!(
            would_insert(&mine, table),
            would_insert(&history, table),
            "{mine}\n{history}"
        );
    }
    let status = would_insert(&mine, "ota_device_status");
    assert!(
        status < would_insert(&history, "ota_device_status"),
        "{mine}\n{history}"
    );
    // One status row per campaign target, as the preview counts them.
    let summary = json_summary(
        &run_seeder(
            &["scenario", "show", "mine.toml", "--summary", "--json"],
            &[],
            dir.path(),
        ),
        0,
    );
    let targets: u64 = summary["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .flat_map(|t| t["campaigns"].as_array().expect("campaigns"))
        .filter_map(|c| c["targets"].as_u64())
        .sum();
    assert_eq!(targets, status, "{summary:#}\n{mine}");
}

/// The edited copy seeds, and its world verifies.
#[test]
fn a_copied_and_edited_built_in_seeds_and_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shown = run_seeder(&["scenario", "show", "history"], &[], dir.path());
    assert_eq!(shown.status.code(), Some(0), "{}", describe(&shown));
    let text = String::from_utf8(shown.stdout).expect("UTF-8");
    std::fs::write(
        dir.path().join("mine.toml"),
        edited(
            &text,
            "\ndevices_per_site = 40\n",
            "\ndevices_per_site = 4\n",
        ),
    )
    .expect("write mine.toml");
    let out = assert_ok(&run_seeder(&["--scenario", "mine.toml"], &[], dir.path()));
    assert!(
        out.lines()
            .any(|l| l == "  device_registry    inserted 24, already present 0"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("invariants: all ")),
        "{out}"
    );
}
