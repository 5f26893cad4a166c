//! The reports the library returns (seeding, verification) and how they
//! read as text. Plain data: this module depends on nothing of the seeder
//! but the [`Table`](crate::table::Table) vocabulary.

mod reset;
mod schema;
mod seed;
mod tenant_list;
mod verify;

pub use reset::ResetReport;
pub use schema::{SchemaOrigin, SchemaReport};
pub use seed::{DifferingRow, SeedReport, SeedSummary, Stopped, TableCounts};
pub use tenant_list::TenantList;
pub use verify::{CampaignBreakdown, VerifyReport, Violation, ViolationKind};
