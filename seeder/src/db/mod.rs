//! The database side of a run, one job per module: the caller's
//! connection as the seeder uses it (`connect`); the
//! transactions every statement runs in, with the run's settings (`txn`);
//! the schema: where it is, whose, whether it can be seeded as it stands,
//! and migrating ours (`schema`, `inspect`); the checks made
//! before the first write (`preflight`); and what a MariaDB Galera node
//! changes (`galera`).

mod connect;
mod galera;
mod inspect;
mod preflight;
mod schema;
mod txn;

pub use connect::{Db, Session, without_pool_maintenance};
pub(crate) use galera::{certified_lock_sql, rolled_back_by_cluster};
pub use galera::{refuse_unreplicated_tables, refuse_unsafe_node};
pub use preflight::refuse_read_only;
pub use schema::{SchemaUse, prepare_schema};
pub use txn::{Access, NoAnswer, Txn};
