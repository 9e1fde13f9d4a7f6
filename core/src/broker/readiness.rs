//! What would fail a run and can be known before its task starts: a
//! granted directory that does not exist, a store that cannot be opened
//! (key file missing, wrong or unreadable; a wrong passphrase; a file that
//! does not decrypt), a granted secret that is not stored.
//!
//! Guarantees: `runner explain` reports and `runner exec` acts on the same
//! list, made by [`check`], so the two always agree. A missing directory or
//! an unusable store refuses the run before its task runs, so nothing the
//! task would do (a file written, a request sent) happens before a failure
//! that was knowable. A granted secret that is not stored is a warning
//! ([`Unready::refuses`]): the task runs and is denied it if it asks.
//!
//! The store is looked at only when the run needs it ([`needs_store`]):
//! every record is to be anchored, or the component imports the secrets
//! interface and its agent holds grants. An agent that holds no grants, or
//! a component that cannot ask for a secret, never pays for opening it.
//! Whether a secret is stored is a lookup in the store's index, read at
//! open; nothing is decrypted.

use time::OffsetDateTime;

use super::{Broker, StoreUnusable};
use crate::names::{AgentName, ProjectName, SecretName};
use crate::policy::{Agent, AuditSync, DirError};
use crate::store::Store;

/// One reason a run would fail.
#[derive(Debug, thiserror::Error)]
pub enum Unready {
    #[error(transparent)]
    MissingDir(#[from] DirError),
    #[error(transparent)]
    Store(#[from] StoreUnusable),
    #[error("the granted secret {project}/{secret} is not stored")]
    NotStored {
        agent: AgentName,
        project: ProjectName,
        secret: SecretName,
    },
}

impl Unready {
    /// Whether it refuses the run. A granted secret that is not stored
    /// does not: the run fails only if the task asks for it, and it may
    /// never (an agent granted several keys, a task that uses one), so
    /// both commands warn with the fix instead.
    pub fn refuses(&self) -> bool {
        !matches!(self, Unready::NotStored { .. })
    }

    /// Short code, recorded as the `exec.refused` reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Unready::MissingDir(_) => "missing-dir",
            Unready::Store(_) => "store-unusable",
            Unready::NotStored { .. } => "not-stored",
        }
    }

    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Unready::MissingDir(error) => error.hint(),
            Unready::Store(error) => error.hint(),
            Unready::NotStored {
                agent,
                project,
                secret,
            } => Some(format!(
                "store it with `runner secret set {secret} --project {project}` (value on \
                 stdin), or remove the grant: `runner revoke {secret} --agent {agent}`"
            )),
        }
    }
}

/// A run refused because of what [`check`] found; one line per reason.
#[derive(Debug, thiserror::Error)]
#[error("the task was not started: {}", list(.0))]
pub struct NotReady(pub Vec<Unready>);

impl NotReady {
    /// The reasons' hints, each once, in order.
    pub fn hint(&self) -> Option<String> {
        let mut hints: Vec<String> = Vec::new();
        for hint in self.0.iter().filter_map(Unready::hint) {
            if !hints.contains(&hint) {
                hints.push(hint);
            }
        }
        (!hints.is_empty()).then(|| hints.join("; "))
    }

    /// The first reason's code.
    pub fn reason(&self) -> &'static str {
        self.0.first().map_or("refused", Unready::reason)
    }
}

fn list(problems: &[Unready]) -> String {
    let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

/// Whether a run of `agent` needs its store before the task starts: every
/// record is to be anchored (the key comes from the store), or the task
/// can ask for secrets (`asks_for_secrets`) and the agent holds grants.
pub fn needs_store(agent: &Agent, sync: AuditSync, asks_for_secrets: bool) -> bool {
    sync == AuditSync::EveryRecord || (asks_for_secrets && !agent.grants.is_empty())
}

/// Every reason a run of `agent` would fail, in order: missing directories,
/// then the store (`None`: the run does not need it), then each granted
/// secret, valid at `now`, that the store does not hold.
pub fn check(
    agent: &Agent,
    store: Option<Result<&Store, &StoreUnusable>>,
    now: OffsetDateTime,
) -> Vec<Unready> {
    let mut problems = Vec::new();
    if let Err(error) = agent.confinement.check_dirs() {
        problems.push(Unready::MissingDir(error));
    }
    match store {
        None => {}
        Some(Err(failure)) => problems.push(Unready::Store(failure.clone())),
        Some(Ok(store)) => problems.extend(unstored(agent, store, now)),
    }
    problems
}

/// [`check`] for `runner explain`: opens the store at `place` itself when
/// the run needs it (asking for a passphrase as `exec` would).
pub fn check_opening(
    agent: &Agent,
    place: Result<&crate::state::Place, StoreUnusable>,
    needs_store: bool,
    now: OffsetDateTime,
) -> Vec<Unready> {
    let ask = &crate::store::passphrase::current;
    let opened = needs_store.then(|| place.and_then(|place| Ok(place.open_store(ask)?)));
    check(agent, opened.as_ref().map(Result::as_ref), now)
}

impl Broker {
    /// [`check`] for the run this broker serves, before its task starts:
    /// opens the store first when the run needs it (asking at the terminal
    /// if it must; then every record can be anchored). `Err` with what
    /// refuses the run, else the warnings.
    pub fn check_ready(&mut self, needs_store: bool) -> Result<Vec<Unready>, NotReady> {
        if needs_store {
            // A failure is kept by the store and reported by `check`.
            let _ = self.open_store_now();
        }
        let store = needs_store.then(|| self.store.open_now());
        let problems = check(&self.agent, store, OffsetDateTime::now_utc());
        let (refusals, warnings) = problems
            .into_iter()
            .partition::<Vec<_>, _>(Unready::refuses);
        match refusals.is_empty() {
            true => Ok(warnings),
            false => Err(NotReady(refusals)),
        }
    }
}

/// The agent's grants, valid at `now`, whose secret is not in `store`.
/// Expired grants are left out: the task is denied them either way, and
/// `explain` marks them expired.
fn unstored<'a>(
    agent: &'a Agent,
    store: &'a Store,
    now: OffsetDateTime,
) -> impl Iterator<Item = Unready> + 'a {
    let project = &agent.project;
    agent
        .grants
        .iter()
        .filter(move |grant| grant.expires.is_none_or(|t| t > now))
        .filter(move |grant| store.find(project, &grant.secret).is_none())
        .map(move |grant| Unready::NotStored {
            agent: agent.name.clone(),
            project: project.clone(),
            secret: grant.secret.clone(),
        })
}
