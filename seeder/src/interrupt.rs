//! Ctrl-C and SIGTERM, by phase of the run:
//! - reading (connecting, verifying, a dry run): nothing to roll back, so
//!   the first signal ends the process with exit 130;
//! - seeding: the first signal asks the run to stop at the next batch
//!   boundary: the open tenant transaction is rolled back, what was
//!   committed is reported, and the process exits 130. A second signal
//!   stops at once; the server rolls the open transaction back when the
//!   connection drops;
//! - migrating: MySQL/MariaDB and SQLite cannot roll DDL back, so signals
//!   only ask the run to stop once the migrations are done (before the
//!   first tenant).
//!
//! Either way nothing is left half-written.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use sea_orm::DbErr;

/// Exit status after an interruption (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

/// What the run is doing, as far as a signal is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Reading = 0,
    Seeding = 1,
    Migrating = 2,
}

impl Phase {
    fn from_u8(n: u8) -> Phase {
        match n {
            1 => Phase::Seeding,
            2 => Phase::Migrating,
            _ => Phase::Reading,
        }
    }
}

/// Whether a stop was asked for; cheap to clone and to check.
#[derive(Clone, Default, Debug)]
pub struct Interrupt {
    requested: Arc<AtomicBool>,
    phase: Arc<AtomicU8>,
}

/// Restores the previous phase when dropped.
pub struct PhaseGuard {
    phase: Arc<AtomicU8>,
    previous: u8,
}

impl Drop for PhaseGuard {
    fn drop(&mut self) {
        self.phase.store(self.previous, Ordering::SeqCst);
    }
}

impl Interrupt {
    /// A handle that no signal sets (for library callers and tests).
    pub fn never() -> Interrupt {
        Interrupt::default()
    }

    /// Listens for SIGINT and SIGTERM for the rest of the process.
    pub fn on_signals() -> std::io::Result<Interrupt> {
        let interrupt = Interrupt::default();
        let flag = interrupt.clone();
        let mut signals = Signals::listen()?;
        tokio::spawn(async move {
            let mut received = 0;
            loop {
                signals.next().await;
                received += 1;
                match Phase::from_u8(flag.phase.load(Ordering::SeqCst)) {
                    Phase::Reading => {
                        eprintln!("interrupted: nothing was being written");
                        std::process::exit(i32::from(EXIT_INTERRUPTED));
                    }
                    Phase::Migrating => eprintln!(
                        "interrupt: stopping once the migrations are applied (they cannot be stopped half-way)"
                    ),
                    Phase::Seeding if received > 1 => {
                        eprintln!("error: interrupted twice; stopping now");
                        std::process::exit(i32::from(EXIT_INTERRUPTED));
                    }
                    Phase::Seeding => eprintln!(
                        "interrupt: stopping at the next batch boundary (interrupt again to stop at once)"
                    ),
                }
                flag.request();
            }
        });
        Ok(interrupt)
    }

    /// Enters `phase` until the guard is dropped.
    pub fn enter(&self, phase: Phase) -> PhaseGuard {
        let previous = self.phase.swap(phase as u8, Ordering::SeqCst);
        PhaseGuard {
            phase: self.phase.clone(),
            previous,
        }
    }

    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
    }

    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Err when a stop was asked for: called between batches, so that the
    /// step returns and its transaction is rolled back.
    pub fn check(&self) -> Result<(), DbErr> {
        if self.requested() {
            Err(DbErr::Custom("interrupted".to_owned()))
        } else {
            Ok(())
        }
    }
}

/// SIGINT and SIGTERM on Unix; Ctrl-C elsewhere.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    fn listen() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    #[cfg(unix)]
    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }

    #[cfg(not(unix))]
    fn listen() -> std::io::Result<Signals> {
        Ok(Signals {})
    }

    #[cfg(not(unix))]
    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
