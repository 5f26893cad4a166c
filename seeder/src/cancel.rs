//! Cancelling a run from outside: a [`Cancel`] token the caller keeps and
//! the run checks between batches. A cancelled seeding run stops at the
//! next batch boundary, rolls the open tenant back whole, and reports
//! what was committed before it ([`SeedReport::stopped`]).
//!
//! The run also says which phase it is in ([`Phase`]), so that a caller's
//! signal handler can tell "nothing is being written" (stop at once) from
//! "migrations are running" (MySQL/MariaDB and SQLite cannot roll DDL back:
//! wait for them).
//!
//! [`SeedReport::stopped`]: crate::SeedReport::stopped

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use sea_orm::DbErr;

/// What a run is doing, as far as stopping it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Reading = 0,
    Seeding = 1,
    Migrating = 2,
}

impl Phase {
    pub(crate) fn from_u8(n: u8) -> Phase {
        match n {
            1 => Phase::Seeding,
            2 => Phase::Migrating,
            _ => Phase::Reading,
        }
    }
}

/// Whether a stop was asked for; cheap to clone (clones share the state)
/// and to check.
#[derive(Clone, Default, Debug)]
pub struct Cancel {
    requested: Arc<AtomicBool>,
    phase: Arc<AtomicU8>,
}

/// Restores the previous phase when dropped.
pub(crate) struct PhaseGuard {
    phase: Arc<AtomicU8>,
    previous: u8,
}

impl Drop for PhaseGuard {
    fn drop(&mut self) {
        self.phase.store(self.previous, Ordering::SeqCst);
    }
}

impl Cancel {
    /// A token nobody has cancelled yet.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// The phase the run holding this token is in.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::SeqCst))
    }

    /// Enters `phase` until the guard is dropped.
    pub(crate) fn enter(&self, phase: Phase) -> PhaseGuard {
        let previous = self.phase.swap(phase as u8, Ordering::SeqCst);
        PhaseGuard {
            phase: self.phase.clone(),
            previous,
        }
    }

    /// Asks the run to stop (see the module docs for where it stops).
    pub fn cancel(&self) {
        self.requested.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Err when a stop was asked for: called between batches, so that the
    /// step returns and its transaction is rolled back.
    pub(crate) fn check(&self) -> Result<(), DbErr> {
        if self.is_cancelled() {
            Err(DbErr::Custom("interrupted".to_owned()))
        } else {
            Ok(())
        }
    }
}
