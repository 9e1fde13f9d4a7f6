//! Enforcement of an agent's limits inside one run.
//!
//! Guarantees:
//! - memory is counted across *all* linear memories and tables of the run's
//!   store, not per memory (wasmtime's `StoreLimits` only bounds each memory
//!   on its own, so a task could spread its allocation over many);
//! - growing past a limit traps the task at once rather than failing the
//!   allocation, so a task cannot catch the failure and carry on;
//! - the first limit hit is remembered in a [`Tripwire`] shared by every
//!   enforcer (limiter, output streams, broker, clock), so the run's outcome
//!   names the limit whatever error wasmtime wraps it in;
//! - host-side resources a task creates (wasi:http header sets, requests,
//!   bodies, responses, streams: every entry of its resource table) have a
//!   cap of their own tied to its `memory` limit: at most
//!   `memory / RESOURCE_BYTES` entries, each header set at most
//!   [`RESOURCE_BYTES`]. A task that passes it is stopped as over its memory
//!   limit ([`classify`]).

use std::sync::{Arc, Mutex};

use wasmtime::component::{ResourceTable, ResourceTableError};
use wasmtime::{Engine, ResourceLimiter};

use crate::policy::{Limit, Limits};

/// The error a limit traps a task with.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the task exceeded its {0} limit")]
pub struct LimitExceeded(pub Limit);

/// Remembers the first limit a run hit, and stops the task when one is.
#[derive(Clone, Default)]
pub struct Tripwire {
    first: Arc<Mutex<Option<Limit>>>,
    /// The run's engine: the store's epoch deadline is one tick away, so
    /// bumping the epoch traps the task at its next function entry or loop
    /// back-edge, even if it ignores the error that reported the limit.
    engine: Option<Engine>,
}

impl Tripwire {
    pub fn new(engine: &Engine) -> Tripwire {
        Tripwire {
            first: Arc::default(),
            engine: Some(engine.clone()),
        }
    }

    /// Records `limit` (unless an earlier one was), stops the task and
    /// returns the error to trap it with.
    pub fn trip(&self, limit: Limit) -> wasmtime::Error {
        let mut first = self
            .first
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        first.get_or_insert(limit);
        if let Some(engine) = &self.engine {
            engine.increment_epoch();
        }
        wasmtime::Error::new(LimitExceeded(limit))
    }

    pub fn tripped(&self) -> Option<Limit> {
        *self
            .first
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Size wasmtime gives a table element; tables count towards memory at this
/// many bytes per element.
const TABLE_ELEMENT_BYTES: usize = 16;

/// The store's resource limiter: one budget for all memories and tables.
pub struct StoreLimiter {
    budget: usize,
    used: usize,
    counts: usize,
    tripwire: Tripwire,
}

impl StoreLimiter {
    pub fn new(limits: &Limits, tripwire: Tripwire) -> StoreLimiter {
        StoreLimiter {
            budget: usize::try_from(limits.memory).unwrap_or(usize::MAX),
            used: 0,
            counts: usize::try_from(limits.instances).unwrap_or(usize::MAX),
            tripwire,
        }
    }

    /// Bytes of memory and tables in use.
    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used
    }

    fn grow(&mut self, current: usize, desired: usize) -> wasmtime::Result<bool> {
        let more = desired.saturating_sub(current);
        let total = self.used.saturating_add(more);
        if total > self.budget {
            return Err(self.tripwire.trip(Limit::Memory));
        }
        self.used = total;
        Ok(true)
    }
}

impl ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(current, desired)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let bytes = |elements: usize| elements.saturating_mul(TABLE_ELEMENT_BYTES);
        self.grow(bytes(current), bytes(desired))
    }

    fn instances(&self) -> usize {
        self.counts
    }

    fn memories(&self) -> usize {
        self.counts
    }

    fn tables(&self) -> usize {
        self.counts
    }
}

/// Host memory one wasi:http header set may take (wasmtime counts its
/// names and values plus their in-memory overhead); also what each entry of
/// a run's resource table is budgeted at.
pub const RESOURCE_BYTES: usize = 32 * 1024;

/// Fewest resource-table entries any run gets, whatever its memory limit.
const MIN_RESOURCES: usize = 256;

/// The resource table of a run with `limits`: its capacity is the memory
/// limit divided by [`RESOURCE_BYTES`].
pub fn resource_table(limits: &Limits) -> ResourceTable {
    let memory = usize::try_from(limits.memory).unwrap_or(usize::MAX);
    let mut table = ResourceTable::new();
    table.set_max_capacity((memory / RESOURCE_BYTES).max(MIN_RESOURCES));
    table
}

/// The wasi:http context of a run: header sets capped at [`RESOURCE_BYTES`].
pub fn http_ctx() -> wasmtime_wasi_http::WasiHttpCtx {
    let mut ctx = wasmtime_wasi_http::WasiHttpCtx::new();
    ctx.set_field_size_limit(RESOURCE_BYTES);
    ctx
}

/// Which limit, if any, an error from a run stands for (limits that trip
/// the [`Tripwire`] are taken from it first).
pub fn classify(error: &wasmtime::Error) -> Option<Limit> {
    if let Some(LimitExceeded(limit)) = error.downcast_ref::<LimitExceeded>() {
        return Some(*limit);
    }
    if error.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
        return Some(Limit::Timeout);
    }
    // A full resource table: the task created more host resources than its
    // memory limit pays for.
    let full = error
        .chain()
        .any(|cause| matches!(cause.downcast_ref(), Some(ResourceTableError::Full)));
    if full {
        return Some(Limit::Memory);
    }
    // wasmtime checks the instance, memory and table counts itself and says
    // so only in its message ("resource limit exceeded: instance count too
    // high at 33"); tests/e2e/hostile.rs pins this down.
    let counted = error.chain().any(|cause| {
        let text = cause.to_string();
        text.starts_with("resource limit exceeded") && text.contains("count too high")
    });
    counted.then_some(Limit::Instances)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_summed_across_memories_and_tables() {
        let limits = Limits {
            memory: 64 << 20,
            ..Limits::default()
        };
        let tripwire = Tripwire::default();
        let mut limiter = StoreLimiter::new(&limits, tripwire.clone());
        for _ in 0..3 {
            assert!(limiter.memory_growing(0, 20 << 20, None).unwrap());
        }
        assert!(limiter.table_growing(0, 1000, None).unwrap());
        assert_eq!(tripwire.tripped(), None);
        let err = limiter.memory_growing(0, 4 << 20, None).unwrap_err();
        assert_eq!(tripwire.tripped(), Some(Limit::Memory));
        assert_eq!(classify(&err), Some(Limit::Memory));
        assert_eq!(limiter.used(), 60 * (1 << 20) + 16_000);
    }

    #[test]
    fn the_first_limit_hit_wins() {
        let tripwire = Tripwire::default();
        tripwire.trip(Limit::Output);
        tripwire.trip(Limit::Timeout);
        assert_eq!(tripwire.tripped(), Some(Limit::Output));
        assert_eq!(classify(&wasmtime::Error::msg("unreachable")), None);
    }
}
