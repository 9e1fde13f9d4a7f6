//! The host memory a run's HTTP traffic may hold at once.
//!
//! The gate buffers whole request bodies (to scan them before sending) and
//! whole responses it masks. Those bytes are the host's, not the task's
//! linear memory, so they are counted here against a budget equal to the
//! agent's `memory` limit, shared by every request in flight. Bytes are
//! reserved as they are read and given back when the request is sent or
//! the masked response is dropped; a reservation past the budget stops the
//! task as over its memory limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::policy::Limit;
use crate::sandbox::limits::Tripwire;

/// Bytes still free for the run's buffered HTTP bodies.
#[derive(Clone)]
pub(crate) struct HostBytes {
    left: Arc<AtomicU64>,
    tripwire: Tripwire,
}

/// Bytes taken from a [`HostBytes`]; given back on drop.
pub(crate) struct Reserved {
    bytes: u64,
    from: HostBytes,
}

impl HostBytes {
    pub fn new(bytes: u64, tripwire: Tripwire) -> HostBytes {
        HostBytes {
            left: Arc::new(AtomicU64::new(bytes)),
            tripwire,
        }
    }

    /// An empty reservation to grow with [`Reserved::grow`].
    pub fn reserve(&self) -> Reserved {
        Reserved {
            bytes: 0,
            from: self.clone(),
        }
    }
}

impl Reserved {
    /// Takes `n` more bytes; `Err` (and the task stopped) past the budget.
    pub fn grow(&mut self, n: usize) -> Result<(), ()> {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        let taken = self
            .from
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(n)
            });
        if taken.is_err() {
            self.from.tripwire.trip(Limit::Memory);
            return Err(());
        }
        self.bytes += n;
        Ok(())
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.from.left.fetch_add(self.bytes, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_one_budget_and_give_it_back() {
        let tripwire = Tripwire::default();
        let budget = HostBytes::new(100, tripwire.clone());
        let mut a = budget.reserve();
        let mut b = budget.reserve();
        a.grow(60).unwrap();
        assert!(b.grow(50).is_err());
        assert_eq!(tripwire.tripped(), Some(Limit::Memory));
        drop(a);
        b.grow(100).unwrap();
    }
}
