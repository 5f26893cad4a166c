//! SeaORM entities of the Pulse OTA tables.
//!
//! `generated/` is the output of `cargo run -p entity-codegen` (sea-orm-cli
//! 2.0.4's generator run against the schema our migrations create on
//! PostgreSQL) and is never edited by hand. What the generator cannot know lives beside it:
//! - [`device_link`]: the relation between a status row and its device, over
//!   `(tenant_id, device_id)`, which the platform does not back with a
//!   foreign key;
//! - [`status`]: typed forms of the values the CHECK constraints allow;
//! - [`tenant_scope`]: scoping a transaction to one tenant, which
//!   PostgreSQL's row level security requires of the platform's
//!   application role (without it, queries return no rows).
//!
//! The crate enables no database driver and no async runtime; application
//! code chooses those through its own `sea-orm` features.

mod generated;

pub mod device_link;
pub mod status;
pub mod tenant_scope;

pub use generated::*;
