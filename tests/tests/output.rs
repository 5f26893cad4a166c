//! What a run over many tenants prints: a screenful, not a line (or four)
//! per tenant. Without a terminal, progress is a line per tenth of the
//! tenants at most, and the report abbreviates its tenant lists; `--json`
//! still lists every tenant.

use ota_seed_tests::{describe, run_seeder};

const TENANTS: usize = 2000;
const SIZE: [&str; 6] = [
    "--tenants",
    "2000",
    "--sites-per-tenant",
    "1",
    "--devices-per-site",
    "1",
];

/// stdout and stderr, line by line.
fn lines(out: &std::process::Output) -> Vec<String> {
    [&out.stdout, &out.stderr]
        .iter()
        .flat_map(|bytes| {
            String::from_utf8_lossy(bytes)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn two_thousand_tenants_print_under_fifty_lines_and_json_lists_them_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Plain mode: stderr is a pipe here, not a terminal.
    let out = run_seeder(&SIZE, &[], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let printed = lines(&out);
    assert!(
        printed.len() < 50,
        "{} lines:\n{}",
        printed.len(),
        describe(&out)
    );
    // Every row went in, and the report says so in its usual lines.
    for line in [
        "  tenants            inserted 2000, already present 0",
        "  device_registry    inserted 2000, already present 0",
        "invariants: all 11 hold",
    ] {
        assert!(
            printed.iter().any(|l| l == line),
            "no {line:?}:\n{}",
            describe(&out)
        );
    }
    // The tenants, abbreviated: the dataset's first five (the scenario
    // names two, then numbers from 0003), its last two, the count.
    assert!(
        printed.iter().any(|l| l
            == "seeded tenants: tenant-a, tenant-b, tenant-0003, tenant-0004, tenant-0005, \
                …, tenant-1999, tenant-2000 (2000 tenants)"),
        "{}",
        describe(&out)
    );
    // Progress, if any, is the tenth-by-tenth summary, never a step line.
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.lines() {
        assert!(
            line.starts_with("seeded ")
                && line.ends_with("%)")
                && line.contains(" of 2000 tenants ("),
            "not a summary line: {line:?}\n{stderr}"
        );
    }

    // Again, as one JSON document: every tenant listed, in dataset order.
    let out = run_seeder(&[&SIZE[..], &["--json"]].concat(), &[], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(&out)));
    let tenants: Vec<&str> = summary["tenants"]
        .as_array()
        .unwrap_or_else(|| panic!("no tenants: {summary:#}"))
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    assert_eq!(tenants.len(), TENANTS, "{tenants:?}");
    assert_eq!(&tenants[..3], ["tenant-a", "tenant-b", "tenant-0003"]);
    assert_eq!(tenants.last(), Some(&"tenant-2000"));
    assert_eq!(summary["tables"]["tenants"]["present"], 2000);
    assert_eq!(summary["tables"]["tenants"]["declined"], 0);
    assert_eq!(
        summary["verification"]["campaigns"]
            .as_array()
            .map(Vec::len),
        Some(TENANTS),
        "the JSON keeps every campaign the plain report sums up"
    );
}
