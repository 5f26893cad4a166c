//! Ctrl-C and SIGTERM. The first signal asks the run to stop at the next
//! batch boundary: the open tenant transaction is rolled back, what was
//! committed is reported, and the process exits 130. A second signal stops
//! at once; the server rolls the open transaction back when the connection
//! drops, so even then nothing is half-written.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::DbErr;

/// Exit status after an interruption (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Whether a stop was asked for; cheap to clone and to check.
#[derive(Clone, Default, Debug)]
pub struct Interrupt {
    requested: Arc<AtomicBool>,
    /// Set while the run writes (migrations, seeding): a signal then waits
    /// for a batch boundary. Otherwise (connecting, reading, verifying)
    /// there is nothing to roll back and the first signal ends the process.
    writing: Arc<AtomicBool>,
}

/// Marks the run as writing until dropped.
pub struct WritingGuard(Arc<AtomicBool>);

impl Drop for WritingGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
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
                if !flag.writing.load(Ordering::SeqCst) {
                    eprintln!("interrupted: nothing was being written");
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
                if received > 1 {
                    eprintln!("error: interrupted twice; stopping now");
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
                eprintln!(
                    "interrupt: stopping at the next batch boundary (interrupt again to stop at once)"
                );
                flag.request();
            }
        });
        Ok(interrupt)
    }

    /// Until the guard is dropped, a signal stops the run at a batch
    /// boundary instead of ending the process.
    pub fn writing(&self) -> WritingGuard {
        self.writing.store(true, Ordering::SeqCst);
        WritingGuard(self.writing.clone())
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
