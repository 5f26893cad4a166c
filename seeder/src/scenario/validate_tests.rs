//! Every refusal of validate.rs, caught on purpose: one minimal scenario
//! per message, each asserting the whole error as a user reads it
//! (`path:line:column: message`). The position is where `¦` stands in the
//! case's text (removed before reading): the key the problem is about.
//! `every_refusal_has_a_case` reads validate.rs and error.rs themselves
//! and fails when one of their messages matches no case here.

use super::*;

/// A scenario with `targets = "releases"`: one tenant, sensors and cameras
/// (release lines from 380 and 390 days ago), devices provisioned from
/// 365 to 10 days ago. It reads and checks cleanly.
const RELEASES: &str = r#"name = "mine"

[tenants]
created = "400 days ago"

[[tenants.named]]
id = "acme"
name = "Acme"
country = "US"
region = "us-east"
contact_email = "ops@acme.example.com"
sites = ["hq"]

[fleet]
sites_per_tenant = 1
devices_per_site = 4
provisioned = { from = "365 days ago", until = "10 days ago", initial_share = 0.5 }

[[device_type]]
name = "sensor"
share = 0.5
models = ["DHT22"]

[device_type.firmware]
url = "https://f.example.com/sensor/{version}.bin"

[[device_type.firmware.releases]]
version = "1.0.0"
released = "380 days ago"
description = "first"
size_bytes = 1000

[[device_type.firmware.releases]]
version = "1.1.0"
released = "200 days ago"
description = "second"
size_bytes = 2000

[[device_type.firmware.releases]]
version = "1.2.0"
released = "100 days ago"
description = "third"
size_bytes = 3000

[[device_type]]
name = "camera"
share = 0.5
models = ["CAM-200"]

[device_type.firmware]
url = "https://f.example.com/camera/{version}.bin"

[[device_type.firmware.releases]]
version = "2.0.0"
released = "390 days ago"
description = "first"
size_bytes = 5000

[[device_type.firmware.releases]]
version = "2.1.0"
released = "150 days ago"
description = "second"
size_bytes = 6000

[campaigns]
targets = "releases"
lag_days = 3
duration_days = 5
failure_rate = 0.06
failure_messages = ["Battery too low to install"]
abort_threshold = 0.1
"#;

/// A scenario with `targets = "slices"`, the demo's shape: one tenant,
/// sensors with two releases, one campaign. It reads and checks cleanly.
const SLICES: &str = r#"name = "mine"

[tenants]
created = "2024-01-01"

[[tenants.named]]
id = "acme"
name = "Acme"
country = "US"
region = "us-east"
contact_email = "ops@acme.example.com"
sites = ["hq"]

[fleet]
sites_per_tenant = 1
devices_per_site = 4
provisioned = "2024-01-15"

[[device_type]]
name = "sensor"
share = 1.0
models = ["DHT22"]

[device_type.firmware]
url = "https://f.example.com/sensor/{version}.bin"

[[device_type.firmware.releases]]
version = "1.0.0"
released = "2024-01-08"
description = "first"
size_bytes = 1000

[[device_type.firmware.releases]]
version = "1.1.0"
released = "7 days ago"
description = "second"
size_bytes = 2000

[campaigns]
targets = "slices"
per_tenant = 1
"#;

struct Case {
    base: &'static str,
    /// `(from, to)`: the first `from` becomes `to`; one `to` holds `¦`.
    edits: &'static [(&'static str, &'static str)],
    /// The message, as the user reads it after the position.
    message: &'static str,
}

/// `base` with the edits, and the 1-based line and column of `¦` in it
/// (removed).
fn text_and_place(case: &Case) -> (String, Option<(usize, usize)>) {
    let mut text = case.base.to_owned();
    for (from, to) in case.edits {
        assert!(text.contains(from), "{from:?} is not in the base");
        text = text.replacen(from, to, 1);
    }
    let Some(at) = text.find('¦') else {
        return (text, None);
    };
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    text.remove(at);
    (text, Some((line, column)))
}

fn refusal(case: &Case) -> ScenarioError {
    let (text, _) = text_and_place(case);
    match Scenario::from_toml(&text, "mine.toml") {
        Ok(_) => panic!("accepted, expected {:?}:\n{text}", case.message),
        Err(e) => e,
    }
}

const CASES: &[Case] = &[
    // Tenants.
    Case {
        base: RELEASES,
        edits: &[(
            "sites = [\"hq\"]\n",
            "sites = [\"hq\"]\n\n[[tenants.named]]\n¦id = \"acme\"\nname = \"Acme again\"\ncountry = \"US\"\nregion = \"us-east\"\ncontact_email = \"ops@acme.example.com\"\n",
        )],
        message: "tenant \"acme\" is named twice",
    },
    Case {
        base: RELEASES,
        edits: &[("id = \"acme\"", "¦id = \"tenant-0001\"")],
        message: "\"tenant-0001\" is the form of a generated tenant's id (tenant-NNNN): name it otherwise",
    },
    Case {
        base: RELEASES,
        edits: &[("sites = [\"hq\"]", "sites = [\"hq\", ¦\"hq\"]")],
        message: "site \"hq\" is listed twice for tenant \"acme\"",
    },
    Case {
        base: RELEASES,
        edits: &[("sites = [\"hq\"]", "sites = [¦\"Head Office\"]")],
        message: "\"Head Office\" is not allowed here: lowercase letters, digits and '-', starting with a letter, at most 30 characters",
    },
    Case {
        base: RELEASES,
        edits: &[("country = \"US\"", "¦country = \"usa\"")],
        message: "\"usa\" is not a two-letter country code like \"US\"",
    },
    Case {
        base: RELEASES,
        edits: &[
            ("[tenants]", "[¦tenants]"),
            (
                "[[tenants.named]]\nid = \"acme\"\nname = \"Acme\"\ncountry = \"US\"\nregion = \"us-east\"\ncontact_email = \"ops@acme.example.com\"\nsites = [\"hq\"]\n",
                "",
            ),
        ],
        message: "no tenants: name one under [[tenants.named]] or set tenants.generated",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "created = \"400 days ago\"",
            "created = \"400 days ago\"\n¦generated = 100000",
        )],
        message: "at most 100000 tenants in all",
    },
    Case {
        base: RELEASES,
        edits: &[
            ("sites_per_tenant = 1", "sites_per_tenant = 1000"),
            ("devices_per_site = 4", "¦devices_per_site = 50001"),
        ],
        message: "50001000 devices per tenant: at most 50000000",
    },
    // Device types.
    Case {
        base: SLICES,
        edits: &[
            ("name = \"mine\"", "¦name = \"mine\"\ndevice_type = []"),
            (
                "[[device_type]]\nname = \"sensor\"\nshare = 1.0\nmodels = [\"DHT22\"]\n\n[device_type.firmware]\nurl = \"https://f.example.com/sensor/{version}.bin\"\n\n[[device_type.firmware.releases]]\nversion = \"1.0.0\"\nreleased = \"2024-01-08\"\ndescription = \"first\"\nsize_bytes = 1000\n\n[[device_type.firmware.releases]]\nversion = \"1.1.0\"\nreleased = \"7 days ago\"\ndescription = \"second\"\nsize_bytes = 2000\n\n",
                "",
            ),
        ],
        message: "no device types: add at least one [[device_type]]",
    },
    Case {
        base: RELEASES,
        edits: &[("name = \"camera\"", "¦name = \"sensor\"")],
        message: "device type \"sensor\" is defined twice",
    },
    Case {
        base: RELEASES,
        edits: &[("models = [\"CAM-200\"]", "¦models = [\"CAM-200\", \" \"]")],
        message: "at least one model, none empty",
    },
    Case {
        base: RELEASES,
        edits: &[
            (
                "share = 0.5\nmodels = [\"DHT22\"]",
                "share = 1.0\nmodels = [\"DHT22\"]",
            ),
            (
                "share = 0.5\nmodels = [\"CAM-200\"]",
                "¦share = 0.0\nmodels = [\"CAM-200\"]",
            ),
        ],
        message: "a device type's share must be above 0",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "share = 0.5\nmodels = [\"DHT22\"]",
            "¦share = 0.4\nmodels = [\"DHT22\"]",
        )],
        message: "the device types' shares sum to 0.9, not 1",
    },
    // Firmware lines.
    Case {
        base: RELEASES,
        edits: &[(
            "[device_type.firmware]\nurl = \"https://f.example.com/camera/{version}.bin\"\n\n[[device_type.firmware.releases]]\nversion = \"2.0.0\"\nreleased = \"390 days ago\"\ndescription = \"first\"\nsize_bytes = 5000\n\n[[device_type.firmware.releases]]\nversion = \"2.1.0\"\nreleased = \"150 days ago\"\ndescription = \"second\"\nsize_bytes = 6000\n",
            "[device_type.¦firmware]\nurl = \"https://f.example.com/camera/{version}.bin\"\n",
        )],
        message: "a firmware line needs releases: list [[device_type.firmware.releases]] or add [device_type.firmware.generated]",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "url = \"https://f.example.com/camera/{version}.bin\"",
            "¦url = \"https://f.example.com/camera/latest.bin\"",
        )],
        message: "the url must contain {version}, so each release has its own file",
    },
    Case {
        base: RELEASES,
        edits: &[("version = \"1.1.0\"", "¦version = \"0.9.0\"")],
        message: "releases are listed oldest first: 0.9.0 comes after 1.0.0, so its version must be higher",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "released = \"200 days ago\"",
            "¦released = \"385 days ago\"",
        )],
        message: "releases are listed oldest first: 1.1.0 (385 days ago) was released before 1.0.0 (380 days ago)",
    },
    Case {
        base: RELEASES,
        edits: &[("size_bytes = 2000", "¦size_bytes = 1000")],
        message: "sizes grow along a line: 1.1.0 is 1000 bytes, not more than 1.0.0's 1000",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "size_bytes = 1000",
            "size_bytes = 1000\n¦checksum_sha256 = \"ABCDEF\"",
        )],
        message: "a checksum is 64 lowercase hex characters (or left out: then it is computed)",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "[device_type.firmware]\nurl = \"https://f.example.com/camera/{version}.bin\"\n\n[[device_type.firmware.releases]]\nversion = \"2.0.0\"\nreleased = \"390 days ago\"\ndescription = \"first\"\nsize_bytes = 5000\n\n[[device_type.firmware.releases]]\nversion = \"2.1.0\"\nreleased = \"150 days ago\"\ndescription = \"second\"\nsize_bytes = 6000\n",
            "[device_type.firmware]\nurl = \"https://f.example.com/camera/{version}.bin\"\n\n[device_type.firmware.¦generated]\nfirst_released = \"390 days ago\"\nevery_days = 100\nsize_step_bytes = 100\ndescriptions = [\"More\"]\n",
        )],
        message: "with no listed releases, generated releases need first_version and first_size_bytes",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "[[device_type]]\nname = \"camera\"",
            "[device_type.firmware.generated]\n¦count = 1001\nfirst_released = \"50 days ago\"\nevery_days = 0\nsize_step_bytes = 100\ndescriptions = [\"More\"]\n\n[[device_type]]\nname = \"camera\"",
        )],
        message: "at most 1000 generated releases per line",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "[[device_type]]\nname = \"camera\"",
            "[device_type.firmware.generated]\ncount = 1\nfirst_released = \"50 days ago\"\nevery_days = 0\nsize_step_bytes = 100\n¦descriptions = []\n\n[[device_type]]\nname = \"camera\"",
        )],
        message: "at least one description",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "[[device_type]]\nname = \"camera\"",
            "[device_type.firmware.generated]\ncount = 1\n¦first_version = \"1.2.0\"\nfirst_released = \"50 days ago\"\nevery_days = 0\nsize_step_bytes = 100\ndescriptions = [\"More\"]\n\n[[device_type]]\nname = \"camera\"",
        )],
        message: "generated releases come after the listed ones: 1.2.0 is not above 1.2.0",
    },
    // Campaigns: slices.
    Case {
        base: SLICES,
        edits: &[("\nper_tenant = 1", "\n¦per_tenant = 2")],
        message: "2 campaigns need 3 releases (each rolls out the next one), the sensor line has 2: add releases",
    },
    Case {
        base: SLICES,
        edits: &[
            ("share = 1.0", "share = 0.5"),
            (
                "[campaigns]",
                "[[device_type]]\nname = \"camera\"\nshare = 0.5\nmodels = [\"CAM-200\"]\n\n[[device_type.firmware.releases]]\nversion = \"2.0.0\"\nreleased = \"2024-01-08\"\ndescription = \"first\"\nsize_bytes = 1000\n\n[campaigns]",
            ),
            ("targets = \"slices\"", "¦targets = \"slices\""),
        ],
        message: "targets = \"slices\" needs exactly one device type (use \"releases\" for several)",
    },
    Case {
        base: SLICES,
        edits: &[
            (
                "[campaigns]",
                "[device_type.firmware.generated]\nfirst_released = \"7 days ago\"\nevery_days = 0\nsize_step_bytes = 100\ndescriptions = [\"More\"]\n\n[campaigns]",
            ),
            ("\nper_tenant = 1", "\n¦per_tenant = 1001"),
        ],
        message: "at most 1000 campaigns per tenant",
    },
    // Campaigns: releases.
    Case {
        base: RELEASES,
        edits: &[("{ from = \"365 days ago\"", "{ ¦from = \"2024-01-01\"")],
        message: "with targets = \"releases\", times are relative: write \"N days ago\"",
    },
    Case {
        base: RELEASES,
        edits: &[("until = \"10 days ago\"", "¦until = \"370 days ago\"")],
        message: "the fleet grows forward in time: until (370 days ago) is before from (365 days ago)",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "provisioned = { from = \"365 days ago\", until = \"10 days ago\", initial_share = 0.5 }",
            "¦provisioned = \"2024-01-01\"",
        )],
        message: "with targets = \"releases\", times are relative: write \"N days ago\"",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "failure_messages = [\"Battery too low to install\"]",
            "¦failure_messages = []",
        )],
        message: "failed updates need at least one failure message",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "abort_threshold = 0.1\n",
            "abort_threshold = 0.1\n\n[[campaigns.aborted]]\n¦device_type = \"camra\"\nversion = \"2.1.0\"\n",
        )],
        message: "unknown device type \"camra\": the scenario defines \"sensor\", \"camera\"",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "abort_threshold = 0.1\n",
            "abort_threshold = 0.1\n\n[[campaigns.aborted]]\ndevice_type = \"camera\"\nversion = \"2.1.0\"\n\n[[campaigns.aborted]]\n¦device_type = \"camera\"\nversion = \"2.1.0\"\n",
        )],
        message: "camera 2.1.0 is listed as aborted twice",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "abort_threshold = 0.1\n",
            "abort_threshold = 0.1\n\n[[campaigns.aborted]]\n¦device_type = \"camera\"\nversion = \"2.1.0\"\n\n[[campaigns.now]]\ndevice_type = \"camera\"\nstate = \"running\"\n",
        )],
        message: "camera 2.1.0 is its line's newest campaign, whose state [[campaigns.now]] gives: an aborted campaign is finished, so it cannot be both",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "abort_threshold = 0.1\n",
            "abort_threshold = 0.1\n\n[[campaigns.aborted]]\ndevice_type = \"camera\"\n¦version = \"2.0.0\"\n",
        )],
        message: "camera 2.0.0 has no campaign: campaigns roll out the releases after a line's first",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "abort_threshold = 0.1\n",
            "¦abort_threshold = 0.25\n\n[[campaigns.aborted]]\ndevice_type = \"camera\"\nversion = \"2.1.0\"\n",
        )],
        message: "an aborted campaign fails a quarter of its devices: abort_threshold must be below 0.25",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "abort_threshold = 0.1\n",
            "abort_threshold = 0.1\n\n[[campaigns.now]]\n¦device_type = \"camra\"\nstate = \"running\"\n",
        )],
        message: "unknown device type \"camra\": the scenario defines \"sensor\", \"camera\"",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "abort_threshold = 0.1\n",
            "abort_threshold = 0.1\n\n[[campaigns.now]]\ndevice_type = \"sensor\"\nstate = \"running\"\n\n[[campaigns.now]]\n¦device_type = \"sensor\"\nstate = \"paused\"\n",
        )],
        message: "\"sensor\" has two states now",
    },
    Case {
        base: RELEASES,
        edits: &[("released = \"200 days ago\"", "¦released = \"2024-06-01\"")],
        message: "with targets = \"releases\", release times are relative: write \"N days ago\"",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "released = \"380 days ago\"",
            "¦released = \"360 days ago\"",
        )],
        message: "the sensor line's first release (360 days ago) comes after the first devices were provisioned (365 days ago): devices need firmware to start with",
    },
    Case {
        base: RELEASES,
        edits: &[(
            "released = \"100 days ago\"",
            "¦released = \"195 days ago\"",
        )],
        message: "two sensor releases 5 days apart: a rollout (lag_days 3 + duration_days 5) must end before the next release",
    },
    Case {
        base: RELEASES,
        edits: &[("released = \"100 days ago\"", "¦released = \"5 days ago\"")],
        message: "the sensor campaign for its release of 5 days ago cannot have finished by now (it needs 8 days): release it earlier or make it the newest with state = \"scheduled\"",
    },
    Case {
        base: RELEASES,
        edits: &[
            ("released = \"100 days ago\"", "¦released = \"2 days ago\""),
            (
                "abort_threshold = 0.1\n",
                "abort_threshold = 0.1\n\n[[campaigns.now]]\ndevice_type = \"sensor\"\nstate = \"running\"\n",
            ),
        ],
        message: "the sensor campaign for its release of 2 days ago cannot have started by now (it needs 3 days): release it earlier or make it the newest with state = \"scheduled\"",
    },
    // Order in time.
    Case {
        base: RELEASES,
        edits: &[("created = \"400 days ago\"", "¦created = \"300 days ago\"")],
        message: "the tenants join (300 days ago) after their first devices were provisioned: make created earlier",
    },
    Case {
        base: RELEASES,
        edits: &[
            ("created = \"400 days ago\"", "created = \"385 days ago\""),
            (
                "released = \"390 days ago\"",
                "¦released = \"390 days ago\"",
            ),
        ],
        message: "the camera line's first release 2.0.0 comes before the tenants joined (385 days ago): make tenants.created earlier",
    },
    Case {
        base: SLICES,
        edits: &[("released = \"2024-01-08\"", "¦released = \"2024-01-20\"")],
        message: "the sensor line's first release 1.0.0 comes after the devices were provisioned: devices need firmware to start with",
    },
    Case {
        base: SLICES,
        edits: &[("released = \"7 days ago\"", "¦released = \"2099-01-01\"")],
        message: "the sensor line's release 1.1.0 would come out in the future: release it earlier (for generated releases: fewer, or an earlier first_released)",
    },
    Case {
        base: SLICES,
        edits: &[(
            "provisioned = \"2024-01-15\"",
            "¦provisioned = \"2 days ago\"",
        )],
        message: "with targets = \"slices\", devices are provisioned at least 3 days ago (the campaigns start then)",
    },
    Case {
        base: SLICES,
        edits: &[("released = \"7 days ago\"", "¦released = \"2 days ago\"")],
        message: "with targets = \"slices\", releases come out at least 3 days ago (the campaigns start then): 1.1.0 does not",
    },
];

#[test]
fn the_bases_read_and_check_cleanly() {
    for base in [RELEASES, SLICES] {
        if let Err(e) = Scenario::from_toml(base, "mine.toml") {
            panic!("{e}");
        }
    }
}

#[test]
fn every_case_is_refused_with_its_message_at_its_place() {
    let mut wrong = Vec::new();
    for case in CASES {
        let (text, place) = text_and_place(case);
        let want = match place {
            Some((line, column)) => format!("mine.toml:{line}:{column}: {}", case.message),
            None => format!("mine.toml: {}", case.message),
        };
        let got = match Scenario::from_toml(&text, "mine.toml") {
            Ok(_) => "accepted".to_owned(),
            Err(e) => e.to_string(),
        };
        if got != want {
            wrong.push(format!("want {want}\n got {got}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases:\n{}",
        wrong.len(),
        CASES.len(),
        wrong.join("\n")
    );
}

/// A file that cannot be read is named, with the reason.
#[test]
fn an_unreadable_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("missing.toml");
    let path = path.to_str().expect("a UTF-8 path");
    let e = Scenario::load(path).expect_err("no such file");
    assert_eq!(
        e.to_string(),
        format!(
            "{path}: cannot read the scenario file (No such file or directory (os error 2)); \
             `seeder scenarios` lists the built-in ones"
        )
    );
}

/// The messages validate.rs and error.rs can produce: each string literal
/// that starts a `format!(` or ends in `.to_owned()`, with the parts a
/// format fills in (`{…}`) as `None`.
fn refusal_templates() -> Vec<Vec<Option<String>>> {
    let mut templates = Vec::new();
    for source in [include_str!("validate.rs"), include_str!("error.rs")] {
        let source = &source[..source.find("#[cfg(test)]").unwrap_or(source.len())];
        templates.extend(templates_in(source));
    }
    templates
}

/// The message templates of one file's code (see [`refusal_templates`]).
fn templates_in(source: &str) -> Vec<Vec<Option<String>>> {
    let mut templates = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find('"') {
        let before = rest[..start].trim_end();
        let after_quote = &rest[start + 1..];
        // The literal's end: the next `"` not escaped.
        let mut end = 0;
        let bytes = after_quote.as_bytes();
        while end < bytes.len() && bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        let literal = &after_quote[..end];
        rest = &after_quote[(end + 1).min(after_quote.len())..];
        let is_format = before.ends_with("format!(");
        let is_owned = rest.trim_start().starts_with(".to_owned()");
        // Messages are sentences; `"{k:?}"` and the like are parts of one.
        if !(is_format || is_owned) || !literal.contains(' ') {
            continue;
        }
        let text = literal.replace("\\\"", "\"");
        let mut parts = Vec::new();
        if is_format {
            let mut piece = String::new();
            let mut chars = text.chars();
            while let Some(c) = chars.next() {
                if c == '{' {
                    parts.push(Some(std::mem::take(&mut piece)));
                    parts.push(None);
                    for c in chars.by_ref() {
                        if c == '}' {
                            break;
                        }
                    }
                } else {
                    piece.push(c);
                }
            }
            parts.push(Some(piece));
        } else {
            parts.push(Some(text));
        }
        templates.push(parts);
    }
    templates
}

/// Whether `message` is `template` with its `None` parts filled in.
fn fills(template: &[Option<String>], message: &str) -> bool {
    let mut rest = message;
    let mut hole_before = false;
    for part in template {
        match part {
            None => hole_before = true,
            Some(piece) if piece.is_empty() => {}
            Some(piece) => {
                let Some(found) = rest.find(piece.as_str()) else {
                    return false;
                };
                if !hole_before && found != 0 {
                    return false;
                }
                rest = &rest[found + piece.len()..];
                hole_before = false;
            }
        }
    }
    hole_before || rest.is_empty()
}

#[test]
fn every_refusal_has_a_case() {
    let templates = refusal_templates();
    // The messages of validate.rs: at least the 40-odd checks.
    assert!(templates.len() > 40, "{templates:?}");
    let unreadable = "cannot read the scenario file (No such file or directory (os error 2)); \
                      `seeder scenarios` lists the built-in ones";
    let messages: Vec<&str> = CASES
        .iter()
        .map(|c| c.message)
        .chain([unreadable])
        .collect();
    let uncovered: Vec<String> = templates
        .iter()
        .filter(|t| !messages.iter().any(|m| fills(t, m)))
        .map(|t| {
            t.iter()
                .map(|p| p.as_deref().unwrap_or("{…}"))
                .collect::<String>()
        })
        .collect();
    assert_eq!(uncovered, Vec::<String>::new(), "refusals without a case");
    // And each case is refused (not only listed).
    for case in CASES {
        let e = refusal(case);
        assert_eq!(e.message, case.message);
    }
}
