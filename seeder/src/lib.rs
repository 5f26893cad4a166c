//! ota-seed: fills a Pulse database with coherent OTA (over-the-air
//! firmware update) data, idempotently, and checks it.
//!
//! The library behind the `seeder` command, for the platform's own tests:
//! open a database with SeaORM, seed the demo (or a fleet), assert through
//! the `entity` crate, reset.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use seeder::{Dataset, Seeder, Table};
//!
//! let db = sea_orm::Database::connect("sqlite::memory:").await?;
//! seeder::migrate(&db).await?;
//! let dataset = Dataset::demo();
//! let report = Seeder::new(&dataset).run(&db).await?;
//! assert_eq!(report.table(Table::Firmware).inserted, 4);
//! assert!(seeder::verify(&db, &dataset).await?.passed());
//! seeder::reset(&db, &dataset).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Inside, three parts are kept apart: a pure dataset generator (which rows
//! should exist, from the spec and its seed), seeding steps (one per table,
//! run for each tenant inside that tenant's transaction) and verification
//! (read-only queries for the invariants of docs/dataset.md).

mod ahead;
mod cancel;
mod dataset;
mod db;
mod driver_message;
mod error;
mod progress;
mod queries;
mod report;
mod reset;
mod retry;
mod run;
mod scenario;
mod selection;
mod steps;
mod table;
mod verify;

pub use cancel::{Cancel, Phase};
pub use dataset::{DEFAULT_SEED, Dataset, DatasetSpec, manifest, manifest_digest};
pub use db::{NoAnswer, without_pool_maintenance};
pub use driver_message::driver_message;
pub use error::SeedError;
pub use progress::Progress;
pub use report::{
    CampaignBreakdown, DifferingRow, ResetReport, SchemaOrigin, SchemaReport, SeedReport,
    SeedSummary, Stopped, TableCounts, TenantList, VerifyReport, Violation, ViolationKind,
};
pub use retry::no_answer;
pub use run::{DEFAULT_STATEMENT_TIMEOUT, Seeder, migrate, reset, verify};
pub use scenario::{
    BUILTIN, Builtin, CampaignRef, CampaignsSpec, DeviceTypeSpec, FirmwareLine, FleetSpec,
    GeneratedReleases, GrowthSpec, NamedTenant, NewestState, NowState, Provisioning,
    ReleaseCampaigns, ReleaseSpec, Scenario, ScenarioError, SliceCampaigns, TenantsSpec, When,
};
pub use table::Table;

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;
