//! `runner explain TASK.wasm --agent NAME`: what a run would get, without
//! running it.
//!
//! Shows the component's digest and imports, the agent's secrets (expired
//! grants marked), egress, directories, environment and limits, and whether
//! this component may run as the agent (pinning, linking, and what `exec`
//! would refuse the run on before it starts: a missing directory, a store
//! that cannot be opened; and a granted secret not stored, a warning in
//! both; one check for both, [`readiness`]). The component is compiled to read its imports and to check
//! it links, but never instantiated, so no task code runs. Exits 0 when the
//! component may run as the agent, 1 when it may not.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use time::OffsetDateTime;

use crate::broker::StoreUnusable;
use crate::broker::readiness::{self, Unready};
use crate::cli::Global;
use crate::policy::{Agent, ComponentDigest, Limit, Limits, Policy};
use crate::report::hint_for;
use crate::sandbox::{Task, asks_for_secrets, imports};

#[derive(Debug, Args)]
pub struct Explain {
    /// The task: a WASI 0.2 command component (.wasm)
    pub task: PathBuf,
    /// The agent to explain the run as
    #[arg(long)]
    pub agent: String,
    /// Print one JSON object instead of the readable view
    #[arg(long)]
    pub json: bool,
}

impl Explain {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let policy = Policy::load_trusted(&global.config())?;
        let agent = policy.agent(&self.agent)?;
        let wasm = crate::task_file::read(&self.task)?;
        let imports = imports(&wasm)?;
        let digest = ComponentDigest::of(&wasm);
        let links = Task::load(&wasm).err().map(|error| error.to_string());
        let problems = would_fail(global, &policy, agent, &imports);
        let verdict = verdict(agent, &digest, links.as_deref(), &problems);
        let name = self.task.file_name().unwrap_or_default().to_string_lossy();
        if self.json {
            let facts = super::explain_json::Facts {
                component: &name,
                digest: &digest,
                imports: &imports,
                agent,
                verdict: verdict.as_deref(),
                problems: &problems,
            };
            println!("{}", facts.to_json(OffsetDateTime::now_utc()));
            return Ok(exit_for(verdict.is_some()));
        }
        let mut out = String::new();
        let _ = writeln!(out, "component {name}\n  digest   {digest}\n  imports");
        for import in &imports {
            let line = format!(
                "    {import:<40}{}",
                what_it_gets(import).unwrap_or_default()
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
        explain_agent(&mut out, agent, OffsetDateTime::now_utc());
        let _ = writeln!(
            out,
            "may run as {}: {}",
            agent.name,
            verdict.as_deref().unwrap_or("yes")
        );
        for problem in &problems {
            let label = match problem.refuses() {
                true => "would fail",
                false => "warning",
            };
            let _ = writeln!(out, "  {label}: {problem}");
            if let Some(hint) = problem.hint() {
                let _ = writeln!(out, "  hint: {hint}");
            }
        }
        let _ = writeln!(out, "(dry run: no task code was run)");
        print!("{out}");
        Ok(exit_for(verdict.is_some()))
    }
}

fn exit_for(refused: bool) -> u8 {
    match refused {
        true => crate::exit_code::FAILURE,
        false => crate::exit_code::OK,
    }
}

/// What would fail a run, as `exec` checks it before the task starts
/// ([`readiness`]): the store is opened only if the run needs it.
fn would_fail(global: &Global, policy: &Policy, agent: &Agent, imports: &[String]) -> Vec<Unready> {
    let asks = asks_for_secrets(imports.iter().map(String::as_str));
    let needs_store = readiness::needs_store(agent, policy.audit_sync(), asks);
    let place = global
        .open_place()
        .map(|(_, place)| place)
        .map_err(|error| StoreUnusable::new(format!("{error:#}"), hint_for(&error)));
    let now = OffsetDateTime::now_utc();
    readiness::check_opening(
        agent,
        place.as_ref().map_err(Clone::clone),
        needs_store,
        now,
    )
}

/// Why the component may not run as the agent; `None` when it may.
fn verdict(
    agent: &Agent,
    digest: &ComponentDigest,
    link_error: Option<&str>,
    problems: &[Unready],
) -> Option<String> {
    if !agent.confinement.allows(digest) {
        return Some(format!(
            "no: its digest is not in components of [agents.{}]",
            agent.name
        ));
    }
    if let Some(error) = link_error {
        return Some(format!("no: {error}"));
    }
    match problems.iter().filter(|p| p.refuses()).count() {
        0 => None,
        1 => Some("no: the run would fail (below)".to_owned()),
        n => Some(format!("no: the run would fail for {n} reasons (below)")),
    }
}

/// What the sandbox gives an import, where that is less than the name says.
fn what_it_gets(import: &str) -> Option<&'static str> {
    let notes = [
        ("wasi:sockets/", "denied: no network"),
        ("wasi:http/", "only to allowed_hosts"),
        ("wasi:filesystem/", "only the granted dirs"),
        ("wasi:cli/environment", "only the listed env"),
        ("wasi:cli/stdin", "empty"),
        ("wasi:cli/stdout", "counted against output"),
        ("wasi:cli/stderr", "counted against output"),
        (
            "scopehold:task/secrets",
            "only granted secrets, each call audited",
        ),
    ];
    notes
        .iter()
        .find(|(prefix, _)| import.starts_with(prefix))
        .map(|(_, note)| *note)
}

fn explain_agent(out: &mut String, agent: &Agent, now: OffsetDateTime) {
    let c = &agent.confinement;
    let _ = writeln!(out, "agent {} (project {})", agent.name, agent.project);
    let pins = match c.components.len() {
        0 => "any (no components pinned)".to_owned(),
        n => format!(
            "{n} pinned: {}",
            join(c.components.iter().map(ToString::to_string))
        ),
    };
    let _ = writeln!(out, "  components {pins}");
    explain_secrets(out, agent, now);
    explain_access(out, agent);
    explain_limits(out, &c.limits);
}

/// Each grant, with its expiry (expired ones marked) and destinations.
fn explain_secrets(out: &mut String, agent: &Agent, now: OffsetDateTime) {
    let _ = writeln!(out, "  secrets{}", none_if(agent.grants.is_empty()));
    for grant in &agent.grants {
        let at = crate::age::show;
        let when = match grant.expires {
            None => "no expiry".to_owned(),
            Some(t) if t <= now => format!("EXPIRED {}", at(t)),
            Some(t) => format!("until {}", at(t)),
        };
        let hosts = match grant.hosts.len() {
            0 => String::new(),
            _ => format!(
                "; its value may go only to {}, injected only as {}",
                join(grant.hosts.iter().map(ToString::to_string)),
                grant.inject
            ),
        };
        let _ = writeln!(out, "    {:<24} {when}{hosts}", grant.secret.as_str());
    }
}

/// Egress, directories and environment.
fn explain_access(out: &mut String, agent: &Agent) {
    let c = &agent.confinement;
    let hosts = agent.allowed_hosts.as_deref().unwrap_or_default();
    let egress = match hosts.len() {
        0 => "none: no network".to_owned(),
        _ => format!(
            "HTTP(S) only, to {}",
            join(hosts.iter().map(ToString::to_string))
        ),
    };
    let _ = writeln!(out, "  egress {egress}");
    let _ = writeln!(out, "  dirs{}", none_if(c.dirs.is_empty()));
    for dir in &c.dirs {
        let (guest, host, mode) = (&dir.guest, dir.host.display(), dir.mode.as_str());
        let _ = writeln!(out, "    {guest} <- {host} ({mode})");
    }
    let env_none = if c.env.is_empty() {
        " none (nothing inherited)"
    } else {
        ""
    };
    let _ = writeln!(out, "  env{env_none}");
    for (name, value) in &c.env {
        let _ = writeln!(out, "    {name}={}", crate::policy::masked_env(value));
    }
}

fn none_if(empty: bool) -> &'static str {
    if empty { " none" } else { "" }
}

fn explain_limits(out: &mut String, limits: &Limits) {
    let defaults = Limits::default();
    let _ = writeln!(out, "  limits");
    for limit in Limit::ALL {
        let value = limits.show(limit);
        let note = if value == defaults.show(limit) {
            " (default)"
        } else {
            ""
        };
        let _ = writeln!(out, "    {:<13}{value}{note}", limit.key());
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}
