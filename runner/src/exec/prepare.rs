//! What a run needs before its task starts: the pin check, the run's broker
//! and the compiled task (from the compiled-code cache it may load from, or
//! from the memory of `runner serve`).

use std::path::Path;

use anyhow::Context;

use super::Served;
use crate::audit;
use crate::broker::{Broker, RunIdentity};
use crate::policy::{Agent, AuditSync, ComponentDigest, Policy};
use crate::sandbox::{CacheKey, CodeCache, LoadError, Task};
use crate::state::Place;
use crate::state_dir::StateDir;
use crate::store::Store;

/// The run's broker: its identity, the agent, the audit chain of `place`;
/// the store is not opened yet. In `runner serve` it takes the daemon's
/// unlocked store (re-read and checked when first used) and asks approval
/// questions at the daemon's terminal.
pub(super) fn broker_for(
    place: &Place,
    agent: &Agent,
    policy: &Policy,
    served: Option<&Served<'_>>,
) -> anyhow::Result<Broker> {
    let audit = place.chain(None)?;
    // A hand edit of tasks.toml goes into the log before this run's start.
    crate::policy_history::note_hand_edits(place.home(), policy, &audit)
        .context("the task was not started")?;
    let identity = RunIdentity {
        run: audit::new_run_id()?,
        agent: agent.name.clone(),
        project: agent.project.clone(),
    };
    let at = place.store_place();
    let mut broker = Broker::new(identity, agent.clone(), at, audit, policy.audit_sync());
    // Grants are checked as the file holds them at each request.
    broker.watch_policy(policy.path().to_owned(), policy.digest());
    if let Some(served) = served {
        broker.hold_store(served.hot.reopen());
        broker.set_approver(served.hot.approver());
    }
    Ok(broker)
}

/// The compiled task: from the daemon's memory in `runner serve`, else
/// from the cache or compiled now. A daemon's run opens the store when a
/// one-shot run would open it for the cache, so its records are anchored
/// alike.
pub(super) fn load(
    (wasm, digest): (&[u8], &ComponentDigest),
    agent: &Agent,
    policy: &Policy,
    prepared: &mut anyhow::Result<(Broker, StateDir)>,
    served: Option<&Served<'_>>,
) -> Result<Task, LoadError> {
    let prepared = prepared.as_mut().ok();
    if let Some(served) = served {
        if let Some((broker, dir)) = prepared
            && opens_store_for_cache(dir, agent, policy)
        {
            let _ = broker.open_store_now();
        }
        return served.hot.task(digest, wasm);
    }
    let cache = prepared.and_then(|(broker, dir)| cache_for(dir, agent, policy, broker));
    Task::load_cached(wasm, digest, cache.as_ref())
}

/// The compiled-code cache for this run. An agent that is pinned or holds
/// grants (or a run whose records are all anchored) loads only artifacts
/// authenticated with a key derived from the store's, so the store is opened
/// first; when it cannot be, the component is compiled (the run reports the
/// store's failure where it matters). Agents that hold nothing keep the cheap
/// warm path: checksum only, store never opened.
fn cache_for(dir: &Path, agent: &Agent, policy: &Policy, broker: &mut Broker) -> Option<CodeCache> {
    let cache = code_cache(dir)?;
    if !loads_authenticated(agent, policy) {
        return Some(cache);
    }
    if !opens_store_for_cache(dir, agent, policy) {
        return None;
    }
    broker.open_store_now().ok()?;
    Some(cache.keyed(CacheKey::from_store(broker.store_if_open()?)))
}

/// Whether the run loads only compiled code authenticated with the store's
/// key: its agent is pinned or holds grants, or every record is anchored.
fn loads_authenticated(agent: &Agent, policy: &Policy) -> bool {
    let anchored = policy.audit_sync() == AuditSync::EveryRecord;
    !agent.confinement.components.is_empty() || !agent.grants.is_empty() || anchored
}

/// Whether the store is opened to key the cache: the run loads only
/// authenticated code, and opening asks nobody for a passphrase only to
/// check the cache (compiling beats that).
fn opens_store_for_cache(dir: &Path, agent: &Agent, policy: &Policy) -> bool {
    loads_authenticated(agent, policy)
        && (opens_store_first(policy, agent, dir) || !Store::asks_at_terminal(dir))
}

/// The state dir's compiled-code cache; an unsafe cache dir only costs a
/// compilation (with a warning).
pub(crate) fn code_cache(home: &Path) -> Option<CodeCache> {
    CodeCache::open(home)
        .inspect_err(|error| {
            eprintln!("scopehold: warning: not using the compiled-code cache: {error}");
        })
        .ok()
}

/// Refuses a component the agent is not pinned to, before it is compiled.
pub fn check_pinned(agent: &Agent, digest: &ComponentDigest) -> anyhow::Result<()> {
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

/// Whether the cache may ask a person for the store's passphrase: when every
/// record is to be anchored (the checkpoint key comes from the store), or
/// when the agent holds grants (its run will likely need the store before
/// the task starts: [`crate::broker::readiness::needs_store`]).
pub(super) fn opens_store_first(policy: &Policy, agent: &Agent, home: &Path) -> bool {
    policy.audit_sync() == AuditSync::EveryRecord
        || (!agent.grants.is_empty() && Store::asks_at_terminal(home))
}
