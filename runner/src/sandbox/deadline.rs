//! The wall-clock timeout of a run.
//!
//! Two mechanisms, because neither alone holds: epoch interruption stops
//! guest code (a loop, however tight, traps at its next back-edge) but cannot
//! interrupt a host call, and a tokio timeout cancels a host call that waits
//! (a sleep, a poll) but cannot preempt guest code running on the same
//! thread. The [`Watchdog`] bumps the epoch from its own thread when time is
//! up; `sandbox::Task::run` wraps the whole run in `tokio::time::timeout` too.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use super::limits::Tripwire;
use crate::policy::Limit;

/// Trips [`Limit::Timeout`] after the timeout unless dropped first.
pub struct Watchdog {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    pub fn start(timeout: Duration, tripwire: Tripwire) -> Watchdog {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            // A message or a hang-up both mean the run ended in time.
            if let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(timeout) {
                tripwire.trip(Limit::Timeout);
            }
        });
        Watchdog {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread only waits on the channel; it cannot panic.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_ends_in_time_is_not_tripped_and_the_watchdog_stops() {
        let tripwire = Tripwire::default();
        drop(Watchdog::start(Duration::from_secs(3600), tripwire.clone()));
        assert_eq!(tripwire.tripped(), None);
    }
}
