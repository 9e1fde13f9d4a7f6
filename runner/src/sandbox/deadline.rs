//! The wall-clock timeout of a run.
//!
//! Two mechanisms, because neither alone holds: epoch interruption stops
//! guest code (a loop, however tight, traps at its next back-edge) but cannot
//! interrupt a host call, and a tokio timeout cancels a host call that waits
//! (a sleep, a poll) but cannot preempt guest code running on the same
//! thread. A [`Watchdog`] bumps the epoch from another thread when time is
//! up; `sandbox::Task::run` wraps the whole run in `tokio::time::timeout` too.
//!
//! One clock thread per process keeps every run's deadline (`runner serve`
//! runs many; starting a thread per run cost more than a hot run itself).
//! Guarantees: a run's tripwire is tripped once its deadline passes unless
//! its watchdog was dropped first, and never after the drop returned (the
//! clock trips under the lock the drop takes). Registering a deadline wakes
//! the clock only when it is earlier than the one the clock sleeps until.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::limits::Tripwire;
use crate::policy::Limit;

/// The longest the clock sleeps with no deadline due sooner.
const IDLE_SLEEP: Duration = Duration::from_secs(3600);

/// Trips [`Limit::Timeout`] after the timeout unless dropped first.
pub struct Watchdog {
    key: Option<(Instant, u64)>,
}

impl Watchdog {
    pub fn start(timeout: Duration, tripwire: Tripwire) -> Watchdog {
        let Some(due) = Instant::now().checked_add(timeout) else {
            // Beyond what the clock can tell: it never comes.
            return Watchdog { key: None };
        };
        let clock = clock();
        let mut state = clock.lock();
        state.next_id += 1;
        let key = (due, state.next_id);
        state.deadlines.insert(key, tripwire);
        if due < state.sleeping_until {
            clock.wake.notify_one();
        }
        Watchdog { key: Some(key) }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            clock().lock().deadlines.remove(&key);
        }
    }
}

/// The process's deadlines and the thread that trips them.
struct Clock {
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    /// By deadline, then by registration (two runs may share an instant).
    deadlines: BTreeMap<(Instant, u64), Tripwire>,
    next_id: u64,
    /// When the clock thread wakes up on its own next.
    sleeping_until: Instant,
}

fn clock() -> &'static Clock {
    static CLOCK: OnceLock<Clock> = OnceLock::new();
    CLOCK.get_or_init(|| {
        // Started with the first watchdog; a thread that cannot be started
        // is a process out of resources, like a failed spawn before.
        let spawned = std::thread::Builder::new()
            .name("scopehold-deadlines".into())
            .spawn(|| clock().run());
        if let Err(error) = spawned {
            panic!("cannot start the timeout thread: {error}");
        }
        Clock {
            state: Mutex::new(State {
                deadlines: BTreeMap::new(),
                next_id: 0,
                sleeping_until: Instant::now(),
            }),
            wake: Condvar::new(),
        }
    })
}

impl Clock {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Trips what is due, then sleeps until the next deadline.
    fn run(&self) {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            while let Some(entry) = state.deadlines.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                entry.remove().trip(Limit::Timeout);
            }
            let next = state.deadlines.first_key_value().map(|(key, _)| key.0);
            let until = next.unwrap_or(now + IDLE_SLEEP);
            state.sleeping_until = until;
            let wait = until.saturating_duration_since(now);
            state = match self.wake.wait_timeout(state, wait) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_ends_in_time_is_not_tripped_and_one_that_does_not_is() {
        let tripwire = Tripwire::default();
        drop(Watchdog::start(Duration::from_secs(3600), tripwire.clone()));
        assert_eq!(tripwire.tripped(), None);
        let late = Tripwire::default();
        let _long = Watchdog::start(Duration::from_secs(3600), Tripwire::default());
        let _short = Watchdog::start(Duration::from_millis(20), late.clone());
        let waited = Instant::now();
        while late.tripped().is_none() && waited.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(late.tripped(), Some(Limit::Timeout));
    }
}
