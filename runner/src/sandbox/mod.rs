//! The wasmtime sandbox a task runs in.
//!
//! A task is a WASI command component. It gets exactly: its arguments, stdout
//! and stderr, clocks and randomness, and the `secrets` interface served by the
//! run's broker; environment variables and directories only as the agent's
//! `env` and `dirs` grant them (`wasi_ctx.rs`). It gets no inherited
//! environment, no stdin, no sockets and no network: wasmtime-wasi's defaults
//! deny them, and the context is built here with each one denied explicitly as
//! well, so a change of defaults upstream cannot open them. Outgoing HTTP
//! (wasi:http) is linked but goes only through the egress gate (`http.rs`),
//! which denies everything the agent's `allowed_hosts` does not allow. stdout
//! and stderr pass through the redaction filter (`redact.rs`) and the output
//! limit (`output.rs`).
//!
//! Every run is bounded by the agent's limits: the timeout (`deadline.rs`),
//! memory summed over all memories and tables, instance/memory/table counts
//! (`limits.rs`), output, and secret lookups (`secrets.rs`). The first limit
//! hit stops the task and becomes the run's [`Outcome::Limit`].

mod cache;
mod compile;
mod deadline;
mod http;
mod inspect;
mod interrupt;
mod io;
mod limits;
mod output;
mod redact;
mod sealed_code;
mod secrets;
mod wasi_ctx;

use std::time::{Duration, Instant};

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};

use crate::broker::{Broker, Released};
use crate::policy::{ComponentDigest, Confinement, Limit, Limits};

pub use cache::{CacheError, CacheKey, CodeCache};
pub use compile::{COMPILE_TIMEOUT, MAX_NESTING, MAX_PARTS};
pub use http::MAX_BODY_BYTES;
use redact::{Output, Redact};

pub use inspect::{SECRETS_INTERFACE, asks_for_secrets, imports};
pub use interrupt::{Interrupts, Signal};
pub use io::{Captured, TaskIo};
pub use limits::LimitExceeded;
use limits::{StoreLimiter, Tripwire};
use output::{Counted, OutputBudget, Terminal};
pub use wasi_ctx::{DirError, Grants};

/// The task's stdout or stderr: the redaction layer over the output limit
/// over the real stream (or a capture buffer, [`TaskIo`]).
type TaskOutput = Output<Redact<Counted<Terminal<io::Sink>>>>;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The task returned or called `exit`; the code is the task's own.
    Exited(i32),
    /// The task trapped; the message says where and why.
    Trapped(String),
    /// The task was stopped for exceeding one of its limits.
    Limit(Limit),
    /// The runner could not serve the task (its store cannot be opened);
    /// the task was stopped.
    StoreUnusable(crate::broker::StoreUnusable),
    /// SIGINT or SIGTERM reached the runner; the task was stopped.
    Interrupted(Signal),
}

impl Outcome {
    /// The short token recorded in the audit log.
    pub fn token(&self) -> &'static str {
        match self {
            Outcome::Exited(_) => "exited",
            Outcome::Trapped(_) => "trapped",
            Outcome::Limit(Limit::Timeout) => "limit-timeout",
            Outcome::Limit(Limit::Memory) => "limit-memory",
            Outcome::Limit(Limit::Instances) => "limit-instances",
            Outcome::Limit(Limit::SecretCalls) => "limit-secret-calls",
            Outcome::Limit(Limit::Output) => "limit-output",
            Outcome::Limit(Limit::Requests) => "limit-requests",
            Outcome::StoreUnusable(_) => "store-unusable",
            Outcome::Interrupted(_) => "interrupted",
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
    /// Over a fixed cap on what compiling it may cost (`compile.rs`).
    #[error("the component is refused before compiling: {0}")]
    TooCostly(String),
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
            LoadError::TooCostly(_) => "the caps on size, nesting and compile time are fixed: \
                 check that this is the component you meant, built with `--release` \
                 (docs/tasks-toml.md, \"Size limits\")"
                .into(),
        })
    }
}

/// The state a running task's store holds.
struct TaskState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Owns the run's broker; also serves wasi:http through its hooks.
    gate: http::Gate,
    http: wasmtime_wasi_http::WasiHttpCtx,
    /// Memory, table and instance limits, summed over the whole store.
    limiter: StoreLimiter,
}

impl wasmtime_wasi_http::WasiHttpView for TaskState {
    fn http(&mut self) -> wasmtime_wasi_http::WasiHttpCtxView<'_> {
        wasmtime_wasi_http::WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.gate,
        }
    }
}

impl WasiView for TaskState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A compiled, linked task, ready to instantiate.
pub struct Task {
    engine: Engine,
    pre: CommandPre<TaskState>,
    /// What the task reads on stdin (a script for an interpreter); none by
    /// default.
    input: Option<bytes::Bytes>,
}

/// Creates the engine every run uses.
fn engine() -> Result<Engine, LoadError> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // The run's timeout stops guest code through epochs (see deadline.rs).
    config.epoch_interruption(true);
    Engine::new(&config).map_err(LoadError::Invalid)
}

impl Task {
    /// Compiles `wasm` and links it against WASI and the secrets interface.
    pub fn load(wasm: &[u8]) -> Result<Task, LoadError> {
        Task::load_cached(wasm, &ComponentDigest::of(wasm), None)
    }

    /// Whether the task imports the secrets interface, i.e. can ask for a
    /// secret or a placeholder at all.
    pub fn asks_for_secrets(&self) -> bool {
        let component = self.pre.instance_pre().component();
        let types = component.component_type();
        asks_for_secrets(types.imports(&self.engine).map(|(name, _)| name))
    }

    /// Like [`Task::load`], but takes the compiled code from `cache` when it
    /// has it, and stores it there after compiling.
    /// `digest` is `wasm`'s (hashed once by the caller: an interpreter is
    /// tens of megabytes).
    pub fn load_cached(
        wasm: &[u8],
        digest: &ComponentDigest,
        cache: Option<&CodeCache>,
    ) -> Result<Task, LoadError> {
        let engine = engine()?;
        let component = match cache.and_then(|cache| cache.load(&engine, digest)) {
            Some(component) => component,
            None => {
                let component = compile::compile(&engine, wasm)?;
                cache.inspect(|cache| cache.store(&engine, digest, &component));
                component
            }
        };
        let mut linker = Linker::<TaskState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(LoadError::Unlinkable)?;
        // Always linked, so a task importing wasi:http loads; the gate
        // denies every request unless the agent has `allowed_hosts`.
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(LoadError::Unlinkable)?;
        secrets::add_to_linker(&mut linker, |state| &mut state.gate.broker)
            .map_err(LoadError::Unlinkable)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(LoadError::Unlinkable)?;
        let pre = CommandPre::new(pre).map_err(LoadError::Unlinkable)?;
        Ok(Task {
            engine,
            pre,
            input: None,
        })
    }

    /// This task with `input` on its stdin: an interpreter component reads
    /// the script to run there (`crate::script`).
    pub fn with_input(mut self, input: Vec<u8>) -> Task {
        self.input = Some(input.into());
        self
    }

    /// Runs the task to completion with `args` (argv[0] first).
    /// Returns the outcome, the broker (for the run's counts) and the duration.
    /// `grants` are the agent's limits, directories and environment; `io`
    /// says where its standard streams go.
    pub async fn run(
        &self,
        args: &[String],
        grants: &Confinement,
        broker: Broker,
        interrupts: Option<&Interrupts>,
        io: &TaskIo,
    ) -> (Outcome, Broker, Duration) {
        let started = Instant::now();
        let tripwire = Tripwire::new(&self.engine);
        let (stdout, stderr) = outputs(&grants.limits, &tripwire, broker.released(), io);
        // An interpreter reads its script on stdin; otherwise the caller's
        // input (a tool call's arguments), if any.
        let input = self
            .input
            .clone()
            .or_else(|| io.stdin().map(bytes::Bytes::copy_from_slice));
        let streams = (stdout.clone(), stderr.clone(), input);
        let wasi = match wasi_context(args, grants, streams) {
            Ok(wasi) => wasi,
            Err(error) => {
                return (
                    Outcome::Trapped(error.to_string()),
                    broker,
                    started.elapsed(),
                );
            }
        };
        let (table, http) = (limits::resource_table(&grants.limits), limits::http_ctx());
        let limiter = StoreLimiter::new(&grants.limits, tripwire.clone());
        let gate = http::Gate::new(broker, tripwire.clone());
        let state = TaskState {
            wasi,
            table,
            gate,
            http,
            limiter,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        let outcome = self
            .call_run_limited(&mut store, grants.limits.timeout, &tripwire, interrupts)
            .await;
        // Bytes held back as a possible partial secret are written now.
        for output in [&stdout, &stderr] {
            finish(output);
        }
        (outcome, store.into_data().gate.broker, started.elapsed())
    }

    /// Runs the task under its timeout; a limit it tripped decides the
    /// outcome over however the task itself ended.
    async fn call_run_limited(
        &self,
        store: &mut Store<TaskState>,
        timeout: Duration,
        tripwire: &Tripwire,
        interrupts: Option<&Interrupts>,
    ) -> Outcome {
        // One tick: the watchdog or any tripped limit bumps the epoch once.
        store.set_epoch_deadline(1);
        store.epoch_deadline_trap();
        let watchdog = deadline::Watchdog::start(timeout, tripwire.clone());
        // Without a signal handler (none could be installed) the run goes
        // on; the signal then ends the process as it would have before.
        if let Some(interrupts) = interrupts {
            interrupts.attach(&self.engine);
        }
        let run = tokio::time::timeout(timeout, self.call_run(store));
        let outcome = match interrupts {
            Some(interrupts) => tokio::select! {
                timed = run => timed,
                signal = interrupts.caught() => Ok(Outcome::Interrupted(signal)),
            },
            None => run.await,
        };
        // A host call was still waiting when time ran out.
        let outcome = outcome.unwrap_or(Outcome::Limit(Limit::Timeout));
        drop(watchdog);
        if let Some(signal) = interrupts.and_then(|watch| watch.signal()) {
            return Outcome::Interrupted(signal);
        }
        tripwire.tripped().map_or(outcome, Outcome::Limit)
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
                None => match limits::classify(&error) {
                    Some(limit) => Outcome::Limit(limit),
                    None => match error.downcast_ref::<crate::broker::StoreUnusable>() {
                        Some(failure) => Outcome::StoreUnusable(failure.clone()),
                        None => Outcome::Trapped(format!("{error:#}")),
                    },
                },
            },
        }
    }
}

/// The task's stdout and stderr: redacted, then counted against the output
/// budget they share, then (on a terminal) kept from imitating the runner.
fn outputs(
    limits: &Limits,
    tripwire: &Tripwire,
    released: Released,
    io: &TaskIo,
) -> (TaskOutput, TaskOutput) {
    let budget = OutputBudget::new(limits.output, tripwire.clone());
    let [(out, out_tty), (err, err_tty)] = io.sinks();
    let stdout = Terminal::new(out, out_tty);
    let stdout = Redact::new(Counted::new(stdout, budget.clone()), released.clone());
    let stderr = Terminal::new(err, err_tty);
    let stderr = Redact::new(Counted::new(stderr, budget), released);
    (Output::new(stdout, out_tty), Output::new(stderr, err_tty))
}

/// Ends an output stream at the end of a run.
fn finish(output: &TaskOutput) {
    // Output that cannot be written is lost as it would be on a closed pipe.
    let mut stack = output.lock();
    let _ = stack.finish();
    let _ = stack.inner_mut().inner_mut().finish();
}

/// The task's WASI context: arguments, (redacted, counted) output, the
/// agent's granted directories and environment variables, and stdin only
/// when the runner gives the task an input (an interpreter's script, a tool
/// call's arguments); closed otherwise.
fn wasi_context(
    args: &[String],
    grants: &Confinement,
    (stdout, stderr, input): (TaskOutput, TaskOutput, Option<bytes::Bytes>),
) -> Result<WasiCtx, DirError> {
    let mut builder = WasiCtx::builder();
    Grants(grants).apply(&mut builder)?;
    if let Some(input) = input {
        builder.stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(input));
    }
    builder
        .args(args)
        .stdout(stdout)
        .stderr(stderr)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .socket_addr_check(|_, _| Box::pin(async { false }));
    Ok(builder.build())
}
