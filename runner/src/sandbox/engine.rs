//! The wasmtime engines tasks run on.
//!
//! A one-shot `runner exec` makes one engine for its one task, with
//! wasmtime's default (on-demand) allocator. `runner serve` keeps one engine
//! for all its runs, with the pooling allocator: memories, tables and
//! instances come from slots reserved once, so instantiating a hot
//! component costs microseconds. A slot is reset (its pages decommitted)
//! when the instance using it is dropped, so nothing a task left in its
//! memory reaches the next task. Both engines compile the same code (the
//! allocator changes no codegen), so the compiled-code cache serves both.
//!
//! Engines are shared by concurrent runs, so no run may stop another: the
//! epoch, which limits and signals bump to stop a task, is checked per
//! store against that run's own tripwire (`Task::call_run_limited`).

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::LoadError;

/// Most component instances a daemon runs at once (each run is one).
pub const POOL_INSTANCES: u32 = 256;
/// Most core instances, linear memories and tables across those runs: an
/// agent's `instances` limit is 32 by default.
const POOL_CORE: u32 = 1_024;

/// The engine of a one-shot run.
pub fn engine() -> Result<Engine, LoadError> {
    Engine::new(&base_config()).map_err(LoadError::Invalid)
}

/// The engine of `runner serve`: pooled instances, shared by every run.
///
/// Also stops wasmtime from capturing a backtrace for each error it makes:
/// dropping a run's store unwinds a fiber it keeps with an error made for
/// the purpose, and under `RUST_BACKTRACE=1` each cost a stack walk per
/// run. The runner shows wasmtime's errors by their messages only, never
/// a backtrace. (A hidden wasmtime function: should it go, the build says
/// so; the `backtrace` feature it stands for is shared by the workspace.)
pub fn pooled_engine() -> Result<Engine, LoadError> {
    wasmtime::error::disable_backtrace();
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_CORE)
        .total_memories(POOL_CORE)
        .total_tables(POOL_CORE)
        // A task's own `instances` limit (at most 1000) is the tighter one.
        .max_memories_per_component(1_000)
        .max_tables_per_component(1_000)
        .max_core_instances_per_component(1_000)
        // Interpreters built as components (Python, JavaScript) have large
        // function tables; the default of 20,000 elements is too few.
        .table_elements(200_000)
        // Up to the ceiling of an agent's `memory` limit; the run's own
        // limiter (limits.rs) stops a task at its limit first.
        .max_memory_size(4 << 30);
    let mut config = base_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(LoadError::Invalid)
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // The run's timeout stops guest code through epochs (see deadline.rs).
    config.epoch_interruption(true);
    config
}
