//! Ctrl-C and SIGTERM, by phase of the run (see [`seeder::Phase`]):
//! - reading (connecting, verifying, a dry run): nothing to roll back, so
//!   the first signal ends the process with exit 130;
//! - seeding: the first signal cancels the run, which stops at the next
//!   batch boundary: the open tenant transaction is rolled back, what was
//!   committed is reported, and the process exits 130. A second signal
//!   stops at once; the server rolls the open transaction back when the
//!   connection drops;
//! - migrating: MySQL/MariaDB and SQLite cannot roll DDL back, so signals
//!   only cancel the run once the migrations are done (before the first
//!   tenant).
//!
//! Either way nothing is left half-written.

use seeder::{Cancel, Phase};

/// Exit status after an interruption (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A cancellation token that SIGINT and SIGTERM set, for the rest of the
/// process.
pub fn cancel_on_signals() -> std::io::Result<Cancel> {
    let cancel = Cancel::new();
    let flag = cancel.clone();
    let mut signals = Signals::listen()?;
    tokio::spawn(async move {
        let mut received = 0;
        loop {
            signals.next().await;
            received += 1;
            match flag.phase() {
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
            flag.cancel();
        }
    });
    Ok(cancel)
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
