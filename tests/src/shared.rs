//! A server shared by the tests of one test binary that run at the same
//! time: started by the first test that asks, stopped when the last test
//! holding it lets go (its `Drop` runs then, also when that test panicked).
//! Tests that run one after another with none in between may each start
//! their own; nothing outlives the tests, as a server in a `static` would
//! (Rust runs no destructor of a `static` at exit).

use std::sync::{Arc, Mutex, Weak};

pub struct Shared<T> {
    slot: Mutex<Weak<T>>,
}

impl<T> Shared<T> {
    pub const fn new() -> Shared<T> {
        Shared {
            slot: Mutex::new(Weak::new()),
        }
    }

    /// The running server, or a new one from `start` (which runs while the
    /// other tests wait, so only one is started).
    pub fn get(&self, start: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<Arc<T>> {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(server) = slot.upgrade() {
            return Ok(server);
        }
        let server = Arc::new(start()?);
        *slot = Arc::downgrade(&server);
        Ok(server)
    }
}

impl<T> Default for Shared<T> {
    fn default() -> Self {
        Self::new()
    }
}
