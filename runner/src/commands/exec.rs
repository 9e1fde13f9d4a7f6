//! `runner exec TASK.wasm --agent NAME [-- ARGS...]`: run a task as an agent.
//!
//! Order matters: the agent is checked and the component compiled before
//! anything is recorded, so a refused task never starts; `exec.start` is in
//! the log before any task code runs; `exec.end` records how it ended.
//!
//! Neither of the two releases anything, so by default neither waits for
//! `fdatasync` ([`AuditLog::append_unsynced`]): they survive a crash of this
//! process and become durable with the run's first resolution (which is
//! synced before its value is released) or the next synced append of any
//! run. A run that needs no secret thus pays no sync, and never opens the
//! store unless its agent is pinned or holds grants: then the store is
//! opened before compiled code is taken from the cache, to authenticate it
//! (docs/cache.md). `[audit] sync = "every-record"` syncs and anchors them too.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Args;

use super::exec_summary::{Summary, millis};
use crate::audit::{self, AuditLog, Event, Hash, Token};
use crate::broker::{Broker, RunIdentity};
use crate::cli::Global;
use crate::exit_code;
use crate::policy::{Agent, AuditSync, ComponentDigest, Confinement, Policy};
use crate::sandbox::{CacheKey, CodeCache, Grants, Interrupts, Outcome, Task};
use crate::script::ScriptRun;
use crate::store::Store;

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: the task's own (0, or 1 for any failure); 118 the audit log \
    refused the append; 119-124 a limit passed (requests, memory, instances, secret_calls, \
    output, timeout); 125 the runner failed (policy, store, audit log, I/O); 126 refused before \
    the task started; 130/143 SIGINT/SIGTERM; 134 the task trapped. README.md, \"Exit codes\"."
)]
pub struct Exec {
    /// The task: a WASI 0.2 command component (.wasm), or a script (.py,
    /// .js, .mjs) run in its language's interpreter (docs/scripts.md)
    pub task: PathBuf,
    /// The agent the task runs as (an [agents.NAME] table in tasks.toml)
    #[arg(long)]
    pub agent: String,
    /// Arguments passed to the task
    #[arg(last = true)]
    pub args: Vec<String>,
    /// At the end, write one JSON object about the run (run id, component,
    /// exit code, outcome, secrets resolved by name, counts, durations) to
    /// stderr, or with =FILE to FILE (docs/exec-summary.md)
    #[arg(
        long,
        value_name = "FILE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "-"
    )]
    pub json_summary: Option<PathBuf>,
}

impl Exec {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let mut summary = Summary::new(&self.agent, &self.task);
        let result = Policy::load_trusted(&global.config())
            .map_err(anyhow::Error::from)
            .and_then(|policy| {
                let mut wasm = None;
                let result = self.run(global, &policy, &mut wasm, &mut summary);
                if let Err(error) = &result
                    && crate::report::exec_exit_code(error) == exit_code::REFUSED
                {
                    super::exec_refused::record(global, self, wasm.as_deref(), error);
                }
                result
            });
        let Some(target) = &self.json_summary else {
            return result;
        };
        summary.end(&result);
        // The summary is the last line on stderr: an error goes before it.
        if let Err(error) = &result {
            crate::report::print_error(error);
        }
        summary.write(target);
        Ok(summary.exit_code)
    }

    /// The run; `wasm` is filled in as soon as the task file is read, so a
    /// refusal can record its digest.
    fn run(
        &self,
        global: &Global,
        policy: &Policy,
        wasm: &mut Option<Vec<u8>>,
        summary: &mut Summary,
    ) -> anyhow::Result<u8> {
        let agent = policy.agent(&self.agent)?.clone();
        summary.project = Some(agent.project.to_string());
        let (code, script) = self.code(global, &agent)?;
        let wasm: &[u8] = wasm.insert(code);
        // Hashed once: a script's interpreter is tens of megabytes.
        let digest = ComponentDigest::of(wasm);
        summary.component = Some(digest.to_string());
        check_pinned(&agent, &digest)?;
        // A missing state dir is reported after the component (a refused
        // task is the more useful error), and only costs the cache.
        let mut prepared = global
            .open_home()
            .and_then(|dir| Ok((broker_for(&dir, &agent, policy)?, dir)));
        let cache = match &mut prepared {
            Ok((broker, dir)) => cache_for(dir, &agent, policy, broker),
            Err(_) => None,
        };
        let loading = Instant::now();
        let mut task = Task::load_cached(wasm, cache.as_ref())?;
        summary.load_ms = Some(millis(loading.elapsed()));
        if let Some(script) = &script {
            task = task.with_input(script.script.text.clone());
        }
        let confinement = agent.confinement.clone();
        Grants(&confinement).check()?;
        let (mut broker, dir) = prepared?;
        broker.set_component(digest.0.into());
        summary.run = Some(broker.identity().run.to_string());
        if let Some(script) = &script {
            script
                .keep(&dir)
                .context("cannot keep the script for review; it was not started")?;
        }
        let start = start_event(broker.identity(), digest.0.into(), policy, script.as_ref());
        if opens_store_first(policy, &agent, &dir) {
            broker.open_store_now()?;
        }
        // From the start record on, SIGINT and SIGTERM stop the task and
        // the run records its end (not earlier: a passphrase prompt stays
        // interruptible the usual way).
        let interrupts = Interrupts::watch()
            .inspect_err(|error| {
                eprintln!("scopehold: warning: cannot handle SIGINT/SIGTERM: {error}")
            })
            .ok();
        broker
            .record(start)
            .context("cannot record the start of the run; the task was not started")?;
        let argv = argv(&self.task, &self.args);
        let (outcome, broker, elapsed) =
            run_task(&task, &argv, &confinement, broker, interrupts.as_ref())?;
        summary.tally(&broker, outcome.token(), elapsed);
        finish(&broker, &outcome, elapsed)
    }
}

impl Exec {
    /// The code to run: the task component, or for a script (.py, .js,
    /// .mjs) its language's interpreter, with the script to give it.
    fn code(&self, global: &Global, agent: &Agent) -> anyhow::Result<(Vec<u8>, Option<ScriptRun>)> {
        match ScriptRun::prepare(&self.task, &global.home()?, agent) {
            Some(prepared) => {
                let mut script = prepared?;
                let wasm = std::mem::take(&mut script.interpreter.wasm);
                Ok((wasm, Some(script)))
            }
            None => Ok((read_component(&self.task)?, None)),
        }
    }
}

/// The run's broker: its identity, the agent, the audit log; the store is
/// not opened yet.
fn broker_for(dir: &Path, agent: &Agent, policy: &Policy) -> anyhow::Result<Broker> {
    let audit = AuditLog::open(dir)?;
    // A hand edit of tasks.toml goes into the log before this run's start.
    crate::policy_history::note_hand_edits(dir, policy, &audit)
        .context("the task was not started")?;
    let identity = RunIdentity {
        run: audit::new_run_id()?,
        agent: agent.name.clone(),
        project: agent.project.clone(),
    };
    let home = dir.to_path_buf();
    let mut broker = Broker::new(identity, agent.clone(), home, audit, policy.audit_sync());
    // Grants are checked as the file holds them at each request.
    broker.watch_policy(policy.path().to_owned(), policy.digest());
    Ok(broker)
}

/// The compiled-code cache for this run. An agent that is pinned or holds
/// grants (or a run whose records are all anchored) loads only artifacts
/// authenticated with a key derived from the store's, so the store is opened
/// first; when it cannot be, the component is compiled (the run reports the
/// store's failure where it matters). Agents that hold nothing keep the cheap
/// warm path: checksum only, store never opened.
fn cache_for(dir: &Path, agent: &Agent, policy: &Policy, broker: &mut Broker) -> Option<CodeCache> {
    let cache = code_cache(dir)?;
    let anchored = policy.audit_sync() == AuditSync::EveryRecord;
    if agent.confinement.components.is_empty() && agent.grants.is_empty() && !anchored {
        return Some(cache);
    }
    // Compiling beats asking a person for a passphrase only to check the cache.
    if !opens_store_first(policy, agent, dir) && Store::asks_at_terminal(dir) {
        return None;
    }
    broker.open_store_now().ok()?;
    Some(cache.keyed(CacheKey::from_store(broker.store_if_open()?)))
}

/// The state dir's compiled-code cache; an unsafe cache dir only costs a
/// compilation (with a warning).
fn code_cache(home: &Path) -> Option<CodeCache> {
    CodeCache::open(home)
        .inspect_err(|error| {
            eprintln!("scopehold: warning: not using the compiled-code cache: {error}");
        })
        .ok()
}

/// The task file: a regular file within the size cap, read through one
/// handle (a FIFO or a device is refused, never waited on), whose header
/// says it is a component ([`crate::task_file`]).
pub(crate) fn read_component(path: &Path) -> anyhow::Result<Vec<u8>> {
    Ok(crate::task_file::read(path)?)
}

/// Refuses a component the agent is not pinned to, before it is compiled.
fn check_pinned(agent: &Agent, digest: &ComponentDigest) -> anyhow::Result<()> {
    if agent.confinement.allows(digest) {
        return Ok(());
    }
    Err(crate::report::Refused {
        message: format!(
            "this component may not run as agent {}: its digest is not pinned",
            agent.name
        ),
        hint: Some(format!(
            "the component's digest is {digest}; if this is the code you mean to trust, add \
             \"{digest}\" to components of [agents.{}] in tasks.toml",
            agent.name
        )),
    }
    .into())
}

/// Whether the store is opened before the task starts rather than on its
/// first request: when every record is to be anchored (the checkpoint key
/// comes from the store), or when opening it means asking a person for the
/// passphrase and the agent holds grants (better now than mid-run).
fn opens_store_first(policy: &Policy, agent: &Agent, home: &Path) -> bool {
    policy.audit_sync() == AuditSync::EveryRecord
        || (!agent.grants.is_empty() && Store::asks_at_terminal(home))
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

fn argv(path: &Path, args: &[String]) -> Vec<String> {
    let argv0 = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::iter::once(argv0).chain(args.iter().cloned()).collect()
}

fn run_task(
    task: &Task,
    argv: &[String],
    confinement: &Confinement,
    broker: Broker,
    interrupts: Option<&Interrupts>,
) -> anyhow::Result<(Outcome, Broker, std::time::Duration)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(task.run(argv, confinement, broker, interrupts)))
}

/// Records how the run ended and picks the process exit code.
fn finish(broker: &Broker, outcome: &Outcome, elapsed: std::time::Duration) -> anyhow::Result<u8> {
    let RunIdentity {
        run,
        agent,
        project,
    } = broker.identity().clone();
    let exit_code = match outcome {
        Outcome::Exited(code) => *code,
        Outcome::Trapped(message) => {
            eprintln!("scopehold: task (agent {agent}) trapped: {message}");
            i32::from(exit_code::TRAPPED)
        }
        Outcome::Limit(limit) => {
            let value = broker.agent().confinement.limits.show(*limit);
            eprintln!(
                "scopehold: task (agent {agent}) stopped: it exceeded its {limit} limit ({value})"
            );
            eprintln!(
                "scopehold: hint: raise `{limit}` in [agents.{agent}.limits] in tasks.toml if the task needs more"
            );
            i32::from(exit_code::for_limit(*limit))
        }
        Outcome::Interrupted(signal) => {
            eprintln!(
                "scopehold: task (agent {agent}) stopped: the runner received {}",
                signal.name()
            );
            i32::from(signal.exit_code())
        }
        Outcome::StoreUnusable(failure) => {
            eprintln!("error: the task (agent {agent}) was stopped: {failure}");
            if let Some(hint) = failure.hint() {
                eprintln!("hint: {hint}");
            }
            i32::from(exit_code::RUNNER_ERROR)
        }
    };
    broker.warn_withheld();
    let event = Event::ExecEnd {
        run,
        agent,
        project,
        exit_code,
        duration_ms: millis(elapsed),
        outcome: Token::new(outcome.token()).expect("outcome tokens are valid"),
        repeats: broker.repeats(),
    };
    broker
        .record(event)
        .context("the task finished, but its end could not be recorded")?;
    // Exit statuses are 8 bits on Unix; keep the low byte as a shell would.
    Ok((exit_code & 0xff) as u8)
}
