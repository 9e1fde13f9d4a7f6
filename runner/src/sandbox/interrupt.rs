//! SIGINT and SIGTERM during a run: the task is stopped and the run ends
//! with [`Outcome::Interrupted`](super::Outcome), so `exec` still records
//! `exec.end` (outcome `interrupted`) and exits 130 or 143 as a shell would.
//!
//! Like the timeout (`deadline.rs`), two mechanisms: a thread waiting for
//! the signal bumps the engine's epoch, which traps guest code at its next
//! back-edge however tight its loop, and wakes the run's future, which
//! cancels a host call that waits (a sleep, a poll). A second signal while
//! the first is handled gets the default action: an operator who presses
//! Ctrl-C twice means it.
//!
//! In `runner serve` the signal is the client's: [`Interrupts::manual`]
//! watches no signal, and the connection [`raise`](Interrupts::raise)s the
//! one the client caught (or SIGTERM when the client went away), with the
//! same effect on the run.

use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};
use tokio::sync::Notify;
use wasmtime::Engine;

/// The signal that stopped a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    /// 128 + the signal number, the status a shell reports.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Interrupt => crate::exit_code::INTERRUPTED,
            Signal::Terminate => crate::exit_code::TERMINATED,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
}

/// Watches for SIGINT and SIGTERM while it lives. Started by `exec` just
/// before it records `exec.start`, so a signal from then on is the run's.
pub struct Interrupts {
    handle: Option<Handle>,
    thread: Option<JoinHandle<()>>,
    caught: Arc<OnceLock<Signal>>,
    wake: Arc<Notify>,
    /// The running task's engine, once it runs: its epoch is bumped.
    engine: Arc<Mutex<Option<Engine>>>,
}

impl Interrupts {
    pub fn watch() -> std::io::Result<Interrupts> {
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let handle = signals.handle();
        let caught = Arc::new(OnceLock::new());
        let wake = Arc::new(Notify::new());
        let engine: Arc<Mutex<Option<Engine>>> = Arc::default();
        let (seen, waker, running) = (caught.clone(), wake.clone(), engine.clone());
        let thread = std::thread::spawn(move || {
            for number in signals.forever() {
                let signal = match number {
                    SIGINT => Signal::Interrupt,
                    _ => Signal::Terminate,
                };
                if seen.set(signal).is_err() {
                    let _ = signal_hook::low_level::emulate_default_handler(number);
                }
                stop(&running);
                waker.notify_one();
            }
        });
        Ok(Interrupts {
            handle: Some(handle),
            thread: Some(thread),
            caught,
            wake,
            engine,
        })
    }

    /// Watches no signal: the run stops when [`Interrupts::raise`] is called.
    pub fn manual() -> Interrupts {
        Interrupts {
            handle: None,
            thread: None,
            caught: Arc::default(),
            wake: Arc::default(),
            engine: Arc::default(),
        }
    }

    /// Stops the run as `signal` would (the first one raised counts).
    pub fn raise(&self, signal: Signal) {
        let _ = self.caught.set(signal);
        stop(&self.engine);
        self.wake.notify_one();
    }

    /// The flag a caught signal sets, for the store's epoch check.
    pub(super) fn flag(&self) -> Arc<OnceLock<Signal>> {
        self.caught.clone()
    }

    /// The task now runs on `engine` (its epoch deadline is set): a signal
    /// stops it, and one that came before stops it at once.
    pub(super) fn attach(&self, engine: &Engine) {
        *lock(&self.engine) = Some(engine.clone());
        if self.signal().is_some() {
            stop(&self.engine);
        }
    }

    /// The signal received so far, if any.
    pub fn signal(&self) -> Option<Signal> {
        self.caught.get().copied()
    }

    /// Resolves once a signal has arrived.
    pub async fn caught(&self) -> Signal {
        loop {
            if let Some(signal) = self.signal() {
                return signal;
            }
            // `notify_one` stores a permit when nobody waits yet, so a
            // signal between the check and this await is not missed.
            self.wake.notified().await;
        }
    }
}

fn lock(engine: &Mutex<Option<Engine>>) -> std::sync::MutexGuard<'_, Option<Engine>> {
    engine
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn stop(engine: &Mutex<Option<Engine>>) {
    if let Some(engine) = lock(engine).as_ref() {
        engine.increment_epoch();
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            handle.close();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
