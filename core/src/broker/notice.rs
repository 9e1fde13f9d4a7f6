//! The operator's lines about a run (a denial and its hint, a request the
//! egress gate blocked): on this process's stderr, or wherever the run's
//! caller routes them for the current thread ([`redirect`]), so a run in
//! `runner serve` shows them on its client's stderr as a one-shot run
//! would on its own.
//!
//! Lines printed from another thread than the run's (none today but some
//! HTTP answers, which wasmtime may poll elsewhere) go to this process's
//! stderr.

use std::cell::RefCell;
use std::sync::Arc;

/// Takes one line (without its newline).
pub type Lines = Arc<dyn Fn(&str) + Send + Sync>;

thread_local! {
    static ROUTE: RefCell<Option<Lines>> = const { RefCell::new(None) };
}

/// Prints one of the runner's lines for the operator.
pub fn say(line: &str) {
    let routed = ROUTE.with(|route| route.borrow().clone());
    match routed {
        Some(lines) => lines(line),
        None => eprintln!("{line}"),
    }
}

/// Routes this thread's lines to `lines` until the guard is dropped.
pub fn redirect(lines: Lines) -> Redirected {
    let previous = ROUTE.with(|route| route.borrow_mut().replace(lines));
    Redirected(previous)
}

/// Restores the previous route when dropped.
pub struct Redirected(Option<Lines>);

impl Drop for Redirected {
    fn drop(&mut self) {
        let previous = self.0.take();
        ROUTE.with(|route| *route.borrow_mut() = previous);
    }
}
