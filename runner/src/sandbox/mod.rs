//! The wasmtime sandbox a task runs in.
//!
//! A task is a WASI command component. It gets exactly: its arguments, stdout
//! and stderr, clocks and randomness, and the `secrets` interface served by the
//! run's broker. It gets no environment variables, no preopened directories,
//! no stdin, no sockets and no network: wasmtime-wasi's defaults deny them,
//! and the context is built here with each one denied explicitly as well, so a
//! change of defaults upstream cannot open them.

mod secrets;

use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};

use crate::broker::Broker;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The task returned or called `exit`; the code is the task's own.
    Exited(i32),
    /// The task trapped; the message says where and why.
    Trapped(String),
}

impl Outcome {
    /// The short token recorded in the audit log.
    pub fn token(&self) -> &'static str {
        match self {
            Outcome::Exited(_) => "exited",
            Outcome::Trapped(_) => "trapped",
        }
    }
}

/// Why a component could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a valid WebAssembly component: {0:#}")]
    Invalid(wasmtime::Error),
    #[error("the component cannot run as a ScopeHold task: {0:#}")]
    Unlinkable(wasmtime::Error),
}

impl LoadError {
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            LoadError::Invalid(_) => {
                "build the task with `cargo build --release --target wasm32-wasip2`".into()
            }
            LoadError::Unlinkable(_) => "a task must be a WASI 0.2 command component (`fn main`) \
                 importing only WASI and scopehold:task/secrets"
                .into(),
        })
    }
}

/// The state a running task's store holds.
struct TaskState {
    wasi: WasiCtx,
    table: ResourceTable,
    broker: Broker,
}

impl WasiView for TaskState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// A compiled, linked task, ready to instantiate.
pub struct Task {
    engine: Engine,
    pre: CommandPre<TaskState>,
}

/// Creates the engine every run uses.
fn engine() -> Result<Engine, LoadError> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    Engine::new(&config).map_err(LoadError::Invalid)
}

impl Task {
    /// Compiles `wasm` and links it against WASI and the secrets interface.
    pub fn load(wasm: &[u8]) -> Result<Task, LoadError> {
        let engine = engine()?;
        let component = Component::new(&engine, wasm).map_err(LoadError::Invalid)?;
        let mut linker = Linker::<TaskState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(LoadError::Unlinkable)?;
        secrets::add_to_linker(&mut linker, |state| &mut state.broker)
            .map_err(LoadError::Unlinkable)?;
        let pre = linker.instantiate_pre(&component).map_err(LoadError::Unlinkable)?;
        let pre = CommandPre::new(pre).map_err(LoadError::Unlinkable)?;
        Ok(Task { engine, pre })
    }

    /// Runs the task to completion with `args` (argv[0] first).
    /// Returns the outcome, the broker (for the run's counts) and the duration.
    pub async fn run(&self, args: &[String], broker: Broker) -> (Outcome, Broker, Duration) {
        let started = Instant::now();
        let state = TaskState { wasi: wasi_context(args), table: ResourceTable::new(), broker };
        let mut store = Store::new(&self.engine, state);
        let outcome = self.call_run(&mut store).await;
        (outcome, store.into_data().broker, started.elapsed())
    }

    async fn call_run(&self, store: &mut Store<TaskState>) -> Outcome {
        let result = match self.pre.instantiate_async(&mut *store).await {
            Ok(command) => command.wasi_cli_run().call_run(&mut *store).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(Ok(())) => Outcome::Exited(0),
            Ok(Err(())) => Outcome::Exited(1),
            Err(error) => match error.downcast_ref::<I32Exit>() {
                Some(I32Exit(code)) => Outcome::Exited(*code),
                None => Outcome::Trapped(format!("{error:#}")),
            },
        }
    }
}

/// The task's WASI context: arguments and output only.
fn wasi_context(args: &[String]) -> WasiCtx {
    let mut builder = WasiCtx::builder();
    builder
        .args(args)
        .inherit_stdout()
        .inherit_stderr()
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    builder.build()
}
