//! ota-seed: fills a Pulse database with coherent OTA demo data.
//!
//! Three parts, kept apart: [`dataset`] (pure generation: which rows should
//! exist), [`steps`] (one seeding step per table, per tenant transaction)
//! and [`verify`] (read-only checks of the invariants). [`run`] wires them
//! for the command line.

pub mod cli;
pub mod dataset;
pub mod db;
pub mod dry_run;
pub mod error;
pub mod interrupt;
pub mod progress;
pub mod queries;
pub mod report;
pub mod retry;
pub mod run;
pub mod selection;
pub mod steps;
pub mod table;
pub mod verify;
