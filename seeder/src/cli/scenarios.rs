//! `seeder scenarios` and `seeder scenario show`: what the built-in
//! scenarios are, their files, and what a scenario seeds. None of them
//! opens a database.

use seeder::{BUILTIN, Dataset, Scenario, Seeder};

use super::args::{Common, DEFAULT_SCENARIO, ShowArgs};
use super::outcome::Outcome;
use super::output::Output;

/// One built-in, as `seeder scenarios --json` lists it.
#[derive(serde::Serialize)]
struct Listed {
    name: &'static str,
    summary: &'static str,
    default: bool,
}

/// `seeder scenarios`: the built-ins, one per line: name, then summary;
/// the default is marked.
pub fn list(output: Output) -> anyhow::Result<Outcome> {
    let width = BUILTIN.iter().map(|b| b.name.len()).max().unwrap_or(0);
    let mut listed = Vec::new();
    for b in BUILTIN {
        let default = b.name == DEFAULT_SCENARIO;
        // The default's summary may already say so; it is said once.
        let mark = if default && !b.summary.contains("(the default)") {
            " (the default)"
        } else {
            ""
        };
        output.human(format_args!("{:width$}  {}{mark}\n", b.name, b.summary));
        listed.push(Listed {
            name: b.name,
            summary: b.summary,
            default,
        });
    }
    output.json(&listed)?;
    Ok(Outcome::Ok)
}

/// The TOML file of `seeder scenario show NAME --json`.
#[derive(serde::Serialize)]
struct Shown<'a> {
    scenario: &'a str,
    toml: &'a str,
}

/// `seeder scenario show NAME|PATH [--summary]`.
pub fn show(common: &Common, args: &ShowArgs) -> anyhow::Result<Outcome> {
    let output = Output::from_flags(common.quiet, common.json);
    let name_or_path = args
        .name
        .as_deref()
        .or(common.scenario.as_deref())
        .unwrap_or(DEFAULT_SCENARIO);
    if args.summary {
        return summary(common, name_or_path, output);
    }
    // A built-in's text exactly as compiled in, so that `show NAME >
    // mine.toml` gives a file that reads back as the same scenario. A
    // file's text is checked first: showing it is also a way to validate it.
    let text = match BUILTIN.iter().find(|b| b.name == name_or_path) {
        Some(b) => b.text.to_owned(),
        None => {
            Scenario::load(name_or_path)?;
            std::fs::read_to_string(name_or_path)?
        }
    };
    output.human(&text);
    output.json(&Shown {
        scenario: name_or_path,
        toml: &text,
    })?;
    Ok(Outcome::Ok)
}

/// The dataset the scenario gives with the options (sizes, `--seed`,
/// `--tenant`), previewed from the plan alone.
fn summary(common: &Common, name_or_path: &str, output: Output) -> anyhow::Result<Outcome> {
    let scenario = common.load_scenario(name_or_path)?;
    let dataset = Dataset::from_scenario(&scenario, common.seed)?;
    let tenants = Seeder::new(&dataset)
        .tenants(common.tenant_ids.iter().cloned())
        .tenant_ids()?;
    let mut preview = dataset.summary(&tenants);
    preview.description = scenario.description.clone();
    output.human(&preview);
    output.json(&preview)?;
    Ok(Outcome::Ok)
}
