//! The database side of a run, one job per module: the caller's
//! connection as the seeder uses it (`connect`); the
//! transactions every statement runs in, with the run's settings (`txn`);
//! the schema: where it is, whose, whether it can be seeded as it stands,
//! and migrating ours (`schema`, `inspect`); and the checks made
//! before the first write (`preflight`).

mod connect;
mod inspect;
mod preflight;
mod schema;
mod txn;

pub use connect::Db;
pub use preflight::refuse_read_only;
pub use schema::{SchemaUse, prepare_schema};
pub use txn::{Access, Session, Txn};
