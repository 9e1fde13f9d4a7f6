//! The exec operation: run one task as an agent, audited. `runner exec`,
//! `runner mcp` and `runner serve` all run tasks through [`run`]; only where
//! the task's streams go differs ([`TaskIo`]). `runner exec` goes through
//! [`run_anywhere`]: to the daemon serving the state dir when one runs
//! (which calls [`run`] itself with its hot engine and unlocked store,
//! [`Served`]), else [`run`] here; the checks, records, output and exit
//! code are the same either way.
//!
//! Order matters: the agent is checked and the component compiled before
//! anything is recorded, so a refused task never starts (and leaves an
//! `exec.refused` record, `refused.rs`); `exec.start` (and, for a call over
//! MCP, `tool.call`) is in the log before any task code runs; `exec.end`
//! records how it ended.
//!
//! Neither of the two releases anything, so by default neither waits for
//! `fdatasync` ([`crate::state::Chain::append_unsynced`]): they survive a crash of this
//! process and become durable with the run's first resolution (which is
//! synced before its value is released) or the next synced append of any
//! run. A run that needs no secret thus pays no sync, and never opens the
//! store unless its agent is pinned or holds grants: then the store is
//! opened before compiled code is taken from the cache, to authenticate it
//! (docs/cache.md). `[audit] sync = "every-record"` syncs and anchors them too.

mod ended;
mod prepare;
mod refused;

use std::path::Path;

use anyhow::Context;

use crate::audit::{Event, Hash};
use crate::broker::notice::say;
use crate::broker::{Broker, RunIdentity, readiness};
use crate::commands::exec_summary::{Summary, millis};
use crate::policy::{Agent, ComponentDigest, Confinement, Policy};
use crate::sandbox::{Interrupts, Outcome, Task, TaskIo};
use crate::script::{Language, Script, ScriptRun};
use crate::state::Place;
use crate::state_dir::StateDir;

pub use ended::Ended;
pub use prepare::check_pinned;
pub(crate) use prepare::code_cache;
pub use refused::clip as clip_field;

/// One run to make.
pub struct Request<'a> {
    pub policy: &'a Policy,
    /// `--home`, if given (else `$SCOPEHOLD_HOME`, ...). A state dir that
    /// cannot be used is reported after the component is checked: a
    /// refused task is the more useful error.
    pub home: Option<&'a Path>,
    /// `--database-url`, if given (`[state] backend = "postgres"`).
    pub database_url: Option<&'a secrecy::SecretString>,
    /// The agent name as asked for (not necessarily a known agent).
    pub agent: &'a str,
    /// A component, or a script run in its language's interpreter.
    pub task: TaskSource<'a>,
    /// Arguments after argv[0] (the task's name).
    pub args: &'a [String],
    pub io: TaskIo,
    /// Stop the task on SIGINT/SIGTERM and record its end (`runner exec`);
    /// a long-lived server handles its own signals instead.
    pub watch_signals: bool,
    /// Who asked over MCP, recorded as `tool.call` with the run.
    pub tool: Option<ToolCaller>,
    /// Filled in as the run goes (`runner exec --json-summary`).
    pub summary: Option<&'a mut Summary>,
    /// Set for a run inside `runner serve`.
    pub served: Option<Served<'a>>,
}

/// A run inside `runner serve` (`crate::serve`): the daemon's compiled
/// components and unlocked store, the task as its client sent it (the
/// daemon never reads the client's file), stopped by the client's signals.
pub struct Served<'a> {
    pub hot: &'a crate::serve::Hot,
    pub interrupts: &'a Interrupts,
    /// The task file's bytes: a component, or a script's text.
    pub bytes: Vec<u8>,
}

/// What to run.
#[derive(Debug, Clone, Copy)]
pub enum TaskSource<'a> {
    /// A component file, or a script file (.py, .js, .mjs, by extension).
    File(&'a Path),
    /// A script given as text (code an MCP client sent): `name` is what the
    /// script sees as its file name (argv[0], tracebacks).
    Script {
        language: Language,
        name: &'a str,
        text: &'a [u8],
    },
}

impl TaskSource<'_> {
    /// The task's name as argv[0] and the records show it.
    fn name(&self) -> String {
        match self {
            TaskSource::File(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            TaskSource::Script { name, .. } => (*name).to_owned(),
        }
    }
}

/// A call of an MCP tool: the tool and the client that called it (as the
/// client named itself in the protocol's handshake).
#[derive(Debug, Clone)]
pub struct ToolCaller {
    pub tool: String,
    pub client: String,
    pub client_version: String,
}

/// Runs the task; `Err` when it was refused or the runner failed before or
/// after it (a refusal is recorded as `exec.refused` first).
pub fn run(mut request: Request<'_>) -> anyhow::Result<Ended> {
    let (agent, task, home) = (request.agent, request.task, request.home);
    let (backend, url) = (request.policy.backend(), request.database_url);
    let mut wasm = request
        .served
        .as_mut()
        .map(|s| std::mem::take(&mut s.bytes));
    let result = run_inner(request, &mut wasm);
    if let Err(error) = &result
        && crate::report::exec_exit_code(error) == crate::exit_code::REFUSED
        && let Ok(home) = state_dir(home)
        && let Ok(place) = Place::of(backend, &home, url)
    {
        refused::record(&place, agent, task, wasm.as_deref(), error);
    }
    result
}

/// `runner exec`'s run: through the `runner serve` of the state dir when
/// one runs, the task is a file and its streams are this process's own,
/// else [`run`] here. The runner's lines about how the run ended go to stderr (the
/// daemon's come as its output); returns the exit code.
pub fn run_anywhere(request: Request<'_>) -> anyhow::Result<u8> {
    // `runner serve` holds a store of the file backend.
    let inherit = matches!(request.io, TaskIo::Inherit)
        && request.served.is_none()
        && request.policy.backend() == crate::policy::StateBackend::File;
    let file = match request.task {
        TaskSource::File(path) if inherit => Some(path),
        _ => None,
    };
    // A task file this process cannot read is refused here, as it would be
    // without a daemon.
    if let Some(path) = file
        && let Some(daemon) = crate::serve::client::for_home(request.home)
        && let Some(bytes) = crate::serve::client::task_bytes(path)
    {
        return daemon.exec(request, &bytes);
    }
    let ended = run(request)?;
    for line in &ended.reason {
        eprintln!("{line}");
    }
    Ok(ended.exit_code)
}

/// The state dir, checked to exist and be private.
fn state_dir(flag: Option<&Path>) -> anyhow::Result<StateDir> {
    let dir = crate::home::locate(flag)?;
    crate::home::open(&dir)?;
    Ok(StateDir::new(dir))
}

/// The code to run: the task component, or for a script (.py, .js, .mjs)
/// its language's interpreter, with the script to give it. `given` is the
/// task file's bytes as a client of `runner serve` read and sent them.
fn code(
    request: &Request<'_>,
    agent: &Agent,
    given: Option<&[u8]>,
) -> anyhow::Result<(Vec<u8>, Option<ScriptRun>)> {
    let home = crate::home::locate(request.home)?;
    let script = match (request.task, given) {
        (TaskSource::File(path), None) => match Script::read(path) {
            Some(script) => script?,
            None => return Ok((crate::task_file::read(path)?, None)),
        },
        (TaskSource::File(path), Some(bytes)) => match Language::of(path) {
            Some(language) => Script::from_text(language, request.task.name(), bytes.to_vec())?,
            None => {
                crate::task_file::check(path, bytes)?;
                return Ok((bytes.to_vec(), None));
            }
        },
        (
            TaskSource::Script {
                language,
                name,
                text,
            },
            _,
        ) => Script::from_text(language, name.to_owned(), text.to_vec())?,
    };
    let mut script = ScriptRun::prepare(script, &home, agent)?;
    let wasm = std::mem::take(&mut script.interpreter.wasm);
    Ok((wasm, Some(script)))
}

/// The run; `wasm` is filled in as soon as the task file is read, so a
/// refusal can record its digest.
fn run_inner(mut request: Request<'_>, wasm: &mut Option<Vec<u8>>) -> anyhow::Result<Ended> {
    let policy = request.policy;
    let mut summary = request.summary.take();
    let agent = policy.agent(request.agent)?.clone();
    note(&mut summary, |s| {
        s.project = Some(agent.project.to_string())
    });
    let (code, script) = code(&request, &agent, wasm.as_deref())?;
    let wasm: &[u8] = wasm.insert(code);
    // Hashed once: a script's interpreter is tens of megabytes.
    let digest = ComponentDigest::of(wasm);
    note(&mut summary, |s| s.component = Some(digest.to_string()));
    check_pinned(&agent, &digest)?;
    let served = request.served.as_ref();
    if let Some(served) = served {
        served.hot.check_unlocked()?;
    }
    let mut prepared = state_dir(request.home).and_then(|dir| {
        let place = Place::of(policy.backend(), &dir, request.database_url)?;
        Ok((prepare::broker_for(&place, &agent, policy, served)?, dir))
    });
    let loading = std::time::Instant::now();
    let mut task = prepare::load((wasm, &digest), &agent, policy, &mut prepared, served)?;
    note(&mut summary, |s| {
        s.load_ms = Some(millis(loading.elapsed()))
    });
    if let Some(script) = &script {
        task = task.with_input(script.script.text.clone());
    }
    let confinement = agent.confinement.clone();
    let (mut broker, dir) = prepared?;
    // What would fail the run is found now, before the task can act.
    let needs_store = readiness::needs_store(&agent, policy.audit_sync(), task.asks_for_secrets());
    for warning in broker.check_ready(needs_store)? {
        say(&format!("scopehold: warning: {warning}"));
        if let Some(hint) = warning.hint() {
            say(&format!("scopehold: hint: {hint}"));
        }
    }
    broker.set_component(digest.0.into());
    note(&mut summary, |s| {
        s.run = Some(broker.identity().run.to_string())
    });
    if let Some(script) = &script {
        script
            .keep(&dir)
            .context("cannot keep the script for review; it was not started")?;
    }
    let start = start_event(broker.identity(), digest.0.into(), policy, script.as_ref());
    // From the start record on, SIGINT and SIGTERM stop the task and the
    // run records its end (not earlier: a passphrase prompt stays
    // interruptible the usual way).
    let watched = request.watch_signals.then(watch_signals).flatten();
    let interrupts = match &request.served {
        Some(served) => Some(served.interrupts),
        None => watched.as_ref(),
    };
    broker
        .record(start)
        .context("cannot record the start of the run; the task was not started")?;
    if let Some(caller) = &request.tool {
        broker
            .record(tool_event(broker.identity(), caller))
            .context("cannot record the tool call; the task was not started")?;
    }
    let argv = argv(request.task.name(), request.args);
    let run = (&task, &confinement, interrupts, &request.io);
    let (outcome, broker, elapsed) = run_task(run, &argv, broker)?;
    note(&mut summary, |s| s.tally(&broker, outcome.token(), elapsed));
    ended::finish(&broker, outcome, elapsed, request.io)
}

/// Fills in the JSON summary, when one is kept.
fn note(summary: &mut Option<&mut Summary>, fill: impl FnOnce(&mut Summary)) {
    if let Some(summary) = summary.as_deref_mut() {
        fill(summary);
    }
}

fn watch_signals() -> Option<Interrupts> {
    Interrupts::watch()
        .inspect_err(|error| {
            say(&format!(
                "scopehold: warning: cannot handle SIGINT/SIGTERM: {error}"
            ))
        })
        .ok()
}

fn start_event(
    identity: &RunIdentity,
    component: Hash,
    policy: &Policy,
    script: Option<&ScriptRun>,
) -> Event {
    let (script, script_bytes) = script.map(ScriptRun::recorded).unzip();
    Event::ExecStart {
        run: identity.run,
        agent: identity.agent.clone(),
        project: identity.project.clone(),
        component,
        policy: policy.digest().into(),
        policy_path: policy.path().display().to_string(),
        script,
        script_bytes,
    }
}

fn tool_event(identity: &RunIdentity, caller: &ToolCaller) -> Event {
    Event::ToolCall {
        run: identity.run,
        agent: identity.agent.clone(),
        project: identity.project.clone(),
        tool: refused::clip(&caller.tool),
        client: refused::clip(&caller.client),
        client_version: refused::clip(&caller.client_version),
    }
}

fn argv(argv0: String, args: &[String]) -> Vec<String> {
    std::iter::once(argv0).chain(args.iter().cloned()).collect()
}

type TaskRun<'a> = (
    &'a Task,
    &'a Confinement,
    Option<&'a Interrupts>,
    &'a TaskIo,
);

fn run_task(
    (task, confinement, interrupts, io): TaskRun<'_>,
    argv: &[String],
    broker: Broker,
) -> anyhow::Result<(Outcome, Broker, std::time::Duration)> {
    let runtime = match RUNTIME.take() {
        Some(runtime) => runtime,
        None => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?,
    };
    let ran = runtime.block_on(task.run(argv, confinement, broker, interrupts, io));
    // Kept for this thread's next run (a worker of `runner serve` runs
    // many) only when the run left nothing behind; otherwise dropped here,
    // which cancels what it left, as it always did.
    if runtime.metrics().num_alive_tasks() == 0 {
        RUNTIME.set(Some(runtime));
    }
    Ok(ran)
}

thread_local! {
    /// The async runtime of this thread's last run.
    static RUNTIME: std::cell::Cell<Option<tokio::runtime::Runtime>> =
        const { std::cell::Cell::new(None) };
}
