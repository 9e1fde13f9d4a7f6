//! The output limit: a [`Write`] layer that counts the bytes a task writes to
//! stdout and stderr together and stops the task when they pass its `output`
//! limit.
//!
//! Guarantees: nothing past the budget reaches the underlying stream; the
//! write that would pass it fails, trips the run's [`Tripwire`] (which stops
//! the task at its next instruction boundary even if it ignores write errors),
//! and so does every later write. It is a plain `Write` layer so it stacks
//! with the redaction layer (`redact.rs`) on the same stream.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::limits::{LimitExceeded, Tripwire};
use crate::policy::Limit;

/// The byte budget stdout and stderr share.
#[derive(Clone)]
pub struct OutputBudget {
    left: Arc<AtomicU64>,
    tripwire: Tripwire,
}

impl OutputBudget {
    pub fn new(bytes: u64, tripwire: Tripwire) -> OutputBudget {
        OutputBudget {
            left: Arc::new(AtomicU64::new(bytes)),
            tripwire,
        }
    }

    /// Takes `n` bytes from the budget; all or nothing.
    fn take(&self, n: usize) -> io::Result<()> {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        let taken = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(n)
            });
        if taken.is_err() {
            self.left.store(0, Ordering::SeqCst);
            self.tripwire.trip(Limit::Output);
            return Err(io::Error::other(LimitExceeded(Limit::Output)));
        }
        Ok(())
    }
}

/// Writes through to `inner` while the shared budget lasts.
pub struct Counted<W: Write> {
    inner: W,
    budget: OutputBudget,
}

impl<W: Write> Counted<W> {
    pub fn new(inner: W, budget: OutputBudget) -> Self {
        Counted { inner, budget }
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.budget.take(buf.len())?;
        self.inner.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_and_stderr_share_one_budget() {
        let tripwire = Tripwire::default();
        let budget = OutputBudget::new(10, tripwire.clone());
        let mut out = Counted::new(Vec::new(), budget.clone());
        let mut err = Counted::new(Vec::new(), budget);
        out.write_all(b"12345").unwrap();
        err.write_all(b"1234").unwrap();
        assert_eq!(tripwire.tripped(), None);
        assert!(out.write_all(b"67").is_err());
        assert_eq!(tripwire.tripped(), Some(Limit::Output));
        assert!(
            err.write_all(b"5").is_err(),
            "the budget stays spent after a trip"
        );
        assert_eq!((out.inner.len(), err.inner.len()), (5, 4));
    }
}
