//! What a run needs before its task starts: the pin check, the run's broker
//! and the compiled-code cache it may load from.

use std::path::Path;

use anyhow::Context;

use crate::audit;
use crate::broker::{Broker, RunIdentity};
use crate::policy::{Agent, AuditSync, ComponentDigest, Policy};
use crate::sandbox::{CacheKey, CodeCache};
use crate::state::Place;
use crate::store::Store;

/// The run's broker: its identity, the agent, the audit chain of `place`;
/// the store is not opened yet.
pub(super) fn broker_for(place: &Place, agent: &Agent, policy: &Policy) -> anyhow::Result<Broker> {
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
    Ok(broker)
}

/// The compiled-code cache for this run. An agent that is pinned or holds
/// grants (or a run whose records are all anchored) loads only artifacts
/// authenticated with a key derived from the store's, so the store is opened
/// first; when it cannot be, the component is compiled (the run reports the
/// store's failure where it matters). Agents that hold nothing keep the cheap
/// warm path: checksum only, store never opened.
pub(super) fn cache_for(
    dir: &Path,
    agent: &Agent,
    policy: &Policy,
    broker: &mut Broker,
) -> Option<CodeCache> {
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
