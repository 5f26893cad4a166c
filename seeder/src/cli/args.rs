//! The command line as clap reads it, and its check into what a run needs
//! (sizes in range, known tables), before any database is opened.

use clap::{Args, Parser, Subcommand};
use seeder::{CampaignsSpec, DEFAULT_SEED, Scenario, Table};

use super::error::CliError;

#[derive(Parser)]
#[command(
    name = "seeder",
    version,
    about = "Seeds a Pulse database with coherent OTA demo data, idempotently, and verifies it."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Without a command: `seed`, with these options.
    #[command(flatten)]
    pub seed: SeedArgs,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Subcommand)]
pub enum Command {
    /// Apply migrations, seed the dataset, then verify it (the default).
    Seed(SeedArgs),
    /// Read-only: row counts, per-campaign breakdown, and the dataset's
    /// invariants, naming every violating row. Exits 1 on any violation.
    Verify,
    /// Delete the dataset's tenants (their OTA rows, devices and tenant
    /// rows) and nothing else, one transaction per tenant.
    Reset(ResetArgs),
    /// List the built-in scenarios (for --scenario).
    Scenarios,
    /// Show a scenario: its TOML file, or with --summary what it seeds.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
    /// Print a completion script for a shell.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff).
    Man,
}

#[derive(Subcommand)]
pub enum ScenarioCommand {
    /// Print a built-in scenario's TOML file (to copy and edit:
    /// `seeder scenario show history > mine.toml`), or with --summary the
    /// tenants, devices, firmware and campaigns a scenario seeds, without a
    /// database.
    Show(ShowArgs),
}

#[derive(Args)]
pub struct ShowArgs {
    /// A built-in scenario's name or a TOML file's path [default: the
    /// --scenario option's].
    #[arg(value_name = "NAME|PATH")]
    pub name: Option<String>,

    /// Print what the scenario seeds (with the size options and --seed
    /// applied) instead of its file: per tenant, the device types with
    /// their devices and models, each firmware line's releases, and the
    /// campaigns with their state, targets and expected outcomes. Opens no
    /// database; generates every device, one at a time: a few seconds per
    /// million devices.
    #[arg(long)]
    pub summary: bool,
}

/// Options of every command: the database, the dataset, the output.
#[derive(Args)]
pub struct Common {
    /// Database to use: a postgres://, mysql:// or sqlite:// URL, or a
    /// libpq string ("host=... dbname=..."); percent-encode / ? # @ : % in
    /// a password (docs/connecting.md) [default: the SQLite file
    /// ./ota-seed.sqlite]
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Seconds to wait for the database to answer (and, on SQLite, for
    /// another process's lock on the file).
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600), global = true)]
    pub connect_timeout: u64,

    /// Longest any statement of the seeder may run, a lock be waited for,
    /// or a transaction sit idle, overriding the role's or database's own
    /// settings (statement_timeout, lock_timeout,
    /// idle_in_transaction_session_timeout; MariaDB max_statement_time,
    /// innodb_lock_wait_timeout). The seeder itself waits at most 10 s
    /// longer for any answer of a transaction, then stops, naming the
    /// server. 0: no limit.
    #[arg(long, value_name = "SECS", default_value_t = 1800, value_parser = clap::value_parser!(u64).range(0..=86_400), global = true)]
    pub statement_timeout: u64,

    /// PostgreSQL: the schema that holds (or is to hold) the OTA tables
    /// [default: where they resolve through the search_path].
    #[arg(long, value_name = "NAME", global = true)]
    pub schema: Option<String>,

    /// Scenario to seed: a built-in name (demo, fleet, history; `seeder
    /// scenarios` lists them) or a scenario TOML file's path [default: demo].
    #[arg(long, value_name = "NAME|PATH", global = true)]
    pub scenario: Option<String>,

    /// Seed of the random parts of the dataset (same seed, same rows).
    #[arg(long, default_value_t = DEFAULT_SEED, global = true)]
    pub seed: u64,

    /// Only this tenant of the dataset (repeatable).
    #[arg(long = "tenant", value_name = "ID", global = true)]
    pub tenant_ids: Vec<String>,

    /// Tenants, overriding the scenario's: its named ones first, then
    /// generated ones (tenant-0003, ...) [default: the scenario's; demo: 2].
    #[arg(long = "tenants", value_name = "N", value_parser = clap::value_parser!(i64).range(1..=100_000), allow_negative_numbers = true, global = true)]
    pub tenant_count: Option<i64>,

    /// Sites per tenant, overriding the scenario's [default: the
    /// scenario's; demo: 3].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=1_000_000), allow_negative_numbers = true, global = true)]
    pub sites_per_tenant: Option<i64>,

    /// Devices per site, overriding the scenario's [default: the
    /// scenario's; demo: 5].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=1_000_000), allow_negative_numbers = true, global = true)]
    pub devices_per_site: Option<i64>,

    /// Campaigns per tenant, for scenarios whose campaigns take slices of
    /// the fleet (demo, fleet): beyond the first (COMPLETED) they take
    /// RUNNING, PAUSED, ABORTED, CREATED in turn [default: the scenario's;
    /// demo: 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=1_000), allow_negative_numbers = true, global = true)]
    pub campaigns_per_tenant: Option<i64>,

    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Print a machine-readable summary (JSON) instead of the report.
    #[arg(long, global = true, conflicts_with = "quiet")]
    pub json: bool,
}

#[derive(Args, Default, PartialEq, Eq)]
pub struct SeedArgs {
    /// Seed only these tables (comma-separated or repeated): tenants,
    /// devices, firmware, campaigns, device-status, or ota (the last three).
    /// Tables they reference are included.
    #[arg(long, value_name = "TABLES")]
    pub only: Vec<String>,

    /// Do not apply migrations; fail if the schema is not in place.
    #[arg(long)]
    pub no_migrate: bool,

    /// Skip the verification that normally ends a seeding run.
    #[arg(long)]
    pub no_verify: bool,

    /// Show per table what a seeding run would insert, and write nothing
    /// (no migration, no row).
    #[arg(long)]
    pub dry_run: bool,

    /// Seed up to N tenants at once, each in its own transaction on its own
    /// connection (PostgreSQL, MySQL/MariaDB; default 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: Option<u16>,

    /// Allow writing to a database that is not on this machine. Without it,
    /// only loopback addresses, Unix sockets and SQLite files are seeded.
    #[arg(long)]
    pub allow_remote: bool,
}

impl SeedArgs {
    /// The first seeding option given, as typed (for the usage error when
    /// one precedes another command).
    pub fn first_given(&self) -> Option<&'static str> {
        [
            (!self.only.is_empty(), "--only"),
            (self.no_migrate, "--no-migrate"),
            (self.no_verify, "--no-verify"),
            (self.dry_run, "--dry-run"),
            (self.jobs.is_some(), "--jobs"),
            (self.allow_remote, "--allow-remote"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }
}

impl Cli {
    /// Parses the arguments; seeding options are refused before another
    /// command (`seeder --only devices verify`), where they would mean
    /// nothing.
    pub fn parse_checked<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::CommandFactory as _;
        let cli = Cli::try_parse_from(args)?;
        if let (
            Some(Command::Scenario {
                command: ScenarioCommand::Show(show),
            }),
            Some(option),
        ) = (&cli.command, &cli.common.scenario)
            && let Some(argument) = &show.name
        {
            return Err(Cli::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "`scenario show {argument}` and --scenario {option} both name a scenario: give one"
                ),
            ));
        }
        if let (Some(command), Some(option)) = (&cli.command, cli.seed.first_given()) {
            let name = match command {
                Command::Seed(_) => "seed",
                Command::Verify => "verify",
                Command::Reset(_) => "reset",
                Command::Completions { .. } => "completions",
                Command::Man => "man",
                Command::Scenarios => "scenarios",
                Command::Scenario { .. } => "scenario show",
            };
            return Err(Cli::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                format!("the argument '{option}' applies to `seed` only, not to `{name}`"),
            ));
        }
        Ok(cli)
    }
}

#[derive(Args)]
pub struct ResetArgs {
    /// Delete without asking (needed when stdin is not a terminal).
    #[arg(long, short)]
    pub yes: bool,

    /// Show per table what would be deleted, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Allow deleting from a database that is not on this machine.
    #[arg(long)]
    pub allow_remote: bool,
}

/// Largest fleet accepted per tenant: campaign counters are 32-bit
/// integers, and beyond this a typo is likelier than a wish.
const MAX_DEVICES_PER_TENANT: u64 = 50_000_000;

/// Largest fleet accepted in all: at the measured ~30,000 rows/s, a billion
/// devices (and as many status rows) is already most of a day.
const MAX_DEVICES_IN_ALL: u64 = 1_000_000_000;

/// Site ids are generated up front (devices are streamed from them): a
/// million of them take some 60 MB.
const MAX_SITES_IN_ALL: u64 = 1_000_000;

/// The built-in scenario used without --scenario.
pub const DEFAULT_SCENARIO: &str = "demo";

impl Common {
    /// The scenario `--scenario` names (default `demo`), with the size
    /// options applied.
    pub fn scenario(&self) -> anyhow::Result<Scenario> {
        self.load_scenario(self.scenario.as_deref().unwrap_or(DEFAULT_SCENARIO))
    }

    /// A built-in scenario by name or a file by path, with the size options
    /// applied; refused when a value is impossible (with the file's line
    /// and column) or the sizes are too large.
    pub fn load_scenario(&self, name_or_path: &str) -> anyhow::Result<Scenario> {
        let mut scenario = Scenario::load(name_or_path)?;
        self.apply_sizes(&mut scenario, name_or_path)?;
        Ok(scenario)
    }

    /// Overrides the scenario's sizes with the options given, then checks
    /// the resulting sizes against the seeder's limits. A figure is named
    /// as the user gave it: the option, or the scenario's key.
    fn apply_sizes(&self, scenario: &mut Scenario, name_or_path: &str) -> anyhow::Result<()> {
        if let Some(n) = self.tenant_count {
            scenario.set_tenant_count(size(n));
        }
        if let Some(n) = self.sites_per_tenant {
            scenario.fleet.sites_per_tenant = size(n);
        }
        if let Some(n) = self.devices_per_site {
            scenario.fleet.devices_per_site = size(n);
        }
        if let Some(n) = self.campaigns_per_tenant {
            match &mut scenario.campaigns {
                CampaignsSpec::Slices(c) => c.per_tenant = size(n),
                CampaignsSpec::Releases(_) => {
                    return Err(CliError::CampaignsFollowReleases {
                        scenario: name_or_path.to_owned(),
                        fix: if seeder::BUILTIN.iter().any(|b| b.name == name_or_path) {
                            format!(
                                "copy it (`seeder scenario show {name_or_path} > mine.toml`), \
                                 add or remove releases in its firmware lines, and pass \
                                 --scenario mine.toml"
                            )
                        } else {
                            "add or remove releases in its firmware lines instead".to_owned()
                        },
                    }
                    .into());
                }
            }
        }
        let tenants = Figure::new(self.tenant_count, scenario.tenant_count());
        let sites = Figure::new(self.sites_per_tenant, scenario.fleet.sites_per_tenant);
        let devices = Figure::new(self.devices_per_site, scenario.fleet.devices_per_site);
        check_sizes(&tenants, &sites, &devices)
    }
}

/// A size as the run will use it, and whether an option set it (errors
/// name the option, else the scenario's key).
struct Figure {
    value: u64,
    from_option: bool,
}

impl Figure {
    fn new(option: Option<i64>, value: u64) -> Figure {
        Figure {
            value,
            from_option: option.is_some(),
        }
    }

    /// `--tenants 3`, or `the scenario's tenant count 3`.
    fn named(&self, option: &str, key: &str) -> String {
        if self.from_option {
            format!("{option} {}", self.value)
        } else {
            format!("the scenario's {key} {}", self.value)
        }
    }
}

/// Refuses sizes beyond what the seeder accepts.
fn check_sizes(tenants: &Figure, sites: &Figure, devices: &Figure) -> anyhow::Result<()> {
    let per_tenant = sites.value.saturating_mul(devices.value);
    if per_tenant > MAX_DEVICES_PER_TENANT {
        anyhow::bail!(
            "{} × {} = {per_tenant} devices per tenant, more than the {MAX_DEVICES_PER_TENANT} this seeder accepts",
            sites.named("--sites-per-tenant", "sites_per_tenant"),
            devices.named("--devices-per-site", "devices_per_site")
        );
    }
    let all_sites = sites.value.saturating_mul(tenants.value);
    if all_sites > MAX_SITES_IN_ALL {
        anyhow::bail!(
            "{} × {} = {all_sites} sites in all, more than the {MAX_SITES_IN_ALL} this seeder accepts (site ids are held in memory)",
            tenants.named("--tenants", "tenant count"),
            sites.named("--sites-per-tenant", "sites_per_tenant")
        );
    }
    let total = per_tenant.saturating_mul(tenants.value);
    if total > MAX_DEVICES_IN_ALL {
        anyhow::bail!(
            "{} × {per_tenant} devices = {total} devices in all, more than the {MAX_DEVICES_IN_ALL} this seeder accepts",
            tenants.named("--tenants", "tenant count")
        );
    }
    Ok(())
}

/// Sizes are parsed as signed numbers so that `-1` is answered with the
/// accepted range rather than taken for a flag; clap has checked the range.
fn size(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// `ota` names the three OTA tables at once.
const OTA_GROUP: &str = "ota";

/// The tables `--only` names (each value may be comma-separated); empty
/// when every table is meant.
pub fn parse_only(names: &[String]) -> Result<Vec<Table>, CliError> {
    let mut tables = Vec::new();
    for name in names.iter().flat_map(|n| n.split(',')).map(str::trim) {
        if name == OTA_GROUP {
            tables.extend([Table::Firmware, Table::Campaigns, Table::DeviceStatus]);
            continue;
        }
        match Table::from_cli_name(name) {
            Some(t) => tables.push(t),
            None => {
                let mut valid: Vec<&str> = Table::ALL.iter().map(|t| t.cli_name()).collect();
                valid.push(OTA_GROUP);
                return Err(CliError::UnknownTable {
                    name: name.to_owned(),
                    valid: valid.join(", "),
                });
            }
        }
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ota_names_the_three_ota_tables() {
        assert_eq!(
            parse_only(&["ota".to_owned()]).expect("valid"),
            [Table::Firmware, Table::Campaigns, Table::DeviceStatus]
        );
        assert_eq!(
            parse_only(&["tenants,devices".to_owned()]).expect("valid"),
            [Table::Tenants, Table::Devices]
        );
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        let err = parse_only(&["tenants,firmwares".to_owned()])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unknown table \"firmwares\" in --only; valid names: tenants, devices, firmware, campaigns, device-status, ota"
        );
    }

    #[test]
    fn options_that_do_not_apply_are_usage_errors() {
        for args in [
            &["seeder", "verify", "--dry-run"][..],
            &["seeder", "verify", "--only", "devices"],
            &["seeder", "--only", "devices", "verify"],
            &["seeder", "--dry-run", "reset"],
            &["seeder", "reset", "--only", "devices"],
            &["seeder", "--yes"],
            &["seeder", "--dry-run", "scenarios"],
            &["seeder", "scenario", "show", "demo", "--dry-run"],
            // The scenario named twice.
            &["seeder", "--scenario", "fleet", "scenario", "show", "demo"],
        ] {
            assert!(Cli::parse_checked(args).is_err(), "{args:?}");
        }
        for args in [
            &["seeder", "--dry-run", "--only", "devices"][..],
            &["seeder", "seed", "--dry-run"],
            &["seeder", "--tenant", "tenant-a", "verify", "--json"],
            &["seeder", "reset", "--yes", "--tenant", "tenant-a"],
            &["seeder", "--scenario", "history", "--dry-run"],
            &["seeder", "scenarios", "--json"],
            &["seeder", "scenario", "show", "history", "--summary"],
            &["seeder", "--scenario", "mine.toml", "scenario", "show"],
            &[
                "seeder",
                "scenario",
                "show",
                "fleet",
                "--summary",
                "--tenants",
                "3",
            ],
        ] {
            assert!(Cli::parse_checked(args).is_ok(), "{args:?}");
        }
    }
}
