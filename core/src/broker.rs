//! The secret broker: the one object through which a running task reaches a
//! secret.
//!
//! A broker is made for one run of one agent. It holds the agent's grants, the
//! store (opened on the first request that needs it: see `lazy_store`) and
//! the audit log, and answers `get-secret` by the fixed path policy → store →
//! audit → release. It guarantees:
//! - a value is released only for a valid grant in the agent's own project,
//!   as tasks.toml and the store are at the moment of the request: both
//!   files are re-read when they changed (`live_policy`, `lazy_store`), so a
//!   revoke, an expiry or a `secret rm` denies the next call of a running
//!   task;
//! - every answer, granted or denied, is recorded in the audit log first, and
//!   a record that cannot be written turns the answer into `Unavailable`;
//!   the one exception is a repeat: the same version of a secret resolved
//!   again in the same run is counted (the count goes into `exec.end`), not
//!   recorded again, since its first durable record already covers it;
//! - the task learns only `Denied` or `Unavailable`; the precise reason goes to
//!   the audit log and to the operator's stderr;
//! - a denial is a security event: recorded synced (and anchored once the
//!   store is open), like a resolution, so cutting it off the log's end is
//!   detected;
//! - nothing the task sends is written to the log verbatim unless it is a valid
//!   secret name that holds no value resolved in this run (as a substring);
//!   every recorded or printed denial is masked once more as a last defence.

mod approval;
mod denial;
mod lazy_store;
mod live_policy;
pub mod notice;
pub mod readiness;
mod released;
mod stamp;
mod tally;
mod tty_approver;

pub use approval::{Answer, Answerer, Approver, Question, Verdict};
pub use approval::{
    DEFAULT_TIMEOUT, TIMEOUT_ENV, TerminalApprover, timeout_from_env as approval_timeout,
};
pub use lazy_store::{Reopen, StoreUnusable};
pub use released::Released;
pub use stamp::FileStamp;

use denial::{Denial, denial, unusable};
use lazy_store::LazyStore;
use live_policy::LivePolicy;

use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::audit::{Event, Hash, RunId};
use crate::names::{AgentName, ProjectName, SecretName};
use crate::policy::{Agent, AuditSync, GrantCheck, HostPattern, InjectAt};
use crate::state::Chain;

pub use lazy_store::StorePlace;

/// What the guest is told when it gets no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Denied,
    Unavailable,
    /// The store cannot be opened: the task is stopped
    /// ([`Broker::store_failure`] says why).
    StoreUnusable,
}

/// The identity of one run, as written into every record of it.
#[derive(Debug, Clone)]
pub struct RunIdentity {
    pub run: RunId,
    pub agent: AgentName,
    pub project: ProjectName,
}

pub struct Broker {
    identity: RunIdentity,
    agent: Agent,
    /// Where the agent's grants come from, re-read when it changes.
    live: Option<LivePolicy>,
    store: LazyStore,
    audit: Chain,
    /// Whether `audit` advances the checkpoint yet: its key comes from the
    /// store, so only once the store is open.
    anchored: bool,
    /// Whether records that release nothing are synced too (`[audit] sync`).
    sync: AuditSync,
    /// Values and placeholders handed out in this run: kept out of the log,
    /// redacted from output, checked in outgoing requests.
    resolved: Released,
    resolutions: u64,
    /// Versions already recorded as resolved in this run, and how many
    /// times one of them was resolved again.
    recorded: std::collections::HashSet<(SecretName, u32)>,
    repeats: u64,
    denials: u64,
    /// Lookups (get-secret and placeholder calls) so far, for `secret_calls`.
    calls: u64,
    /// Outgoing HTTP requests so far, allowed or denied, for `requests`.
    requests: u64,
    /// Who is asked about approval grants, and what they answered in this
    /// run (an answer holds for the run).
    approver: Box<dyn Approver + Send>,
    approvals: std::collections::HashMap<SecretName, Verdict>,
    /// blake3 of the component, shown in approval questions.
    component: Hash,
    /// No approval question waits past this: the run's `timeout` limit,
    /// counted from before the task starts (so it is never later).
    deadline: std::time::Instant,
    /// Secrets answered `Unavailable` (not recorded, store unreadable), for
    /// the warning at the end of the run.
    withheld: Vec<String>,
}

impl Broker {
    /// A broker for one run; the store at `place` is opened on first use.
    pub fn new(
        identity: RunIdentity,
        agent: Agent,
        place: StorePlace,
        audit: Chain,
        sync: AuditSync,
    ) -> Self {
        let resolved = Released::default();
        let deadline = std::time::Instant::now() + agent.confinement.limits.timeout;
        Broker {
            identity,
            agent,
            live: None,
            store: LazyStore::new(place),
            audit,
            anchored: false,
            sync,
            resolved,
            resolutions: 0,
            recorded: Default::default(),
            repeats: 0,
            denials: 0,
            calls: 0,
            requests: 0,
            approver: Box::new(TerminalApprover::new(approval::timeout_from_env())),
            approvals: Default::default(),
            component: Hash::ZERO,
            deadline,
            withheld: Vec::new(),
        }
    }

    /// Takes the store from one held open elsewhere (`runner serve`)
    /// instead of opening it from the files.
    pub fn hold_store(&mut self, reopen: Reopen) {
        self.store.hold(reopen);
    }

    /// Follows the policy file at `path` (whose bytes hash to `digest`
    /// and gave the agent's grants): every request is then checked against
    /// the grants as the file holds them at that moment.
    pub fn watch_policy(&mut self, path: std::path::PathBuf, digest: blake3::Hash) {
        self.live = Some(LivePolicy::new(path, digest));
    }

    pub fn identity(&self) -> &RunIdentity {
        &self.identity
    }

    pub fn audit(&self) -> &Chain {
        &self.audit
    }

    /// Opens the store now rather than on the first request, asking for a
    /// passphrase at the terminal if it needs one (so that every record can
    /// be anchored from the first one on, or so nobody is asked mid-run).
    pub fn open_store_now(&mut self) -> Result<(), StoreUnusable> {
        self.store.open_now().map_err(Clone::clone)?;
        self.anchor_audit();
        Ok(())
    }

    /// The store, if it has been opened (for keys derived from it, such as
    /// the compiled-code cache's).
    pub fn store_if_open(&self) -> Option<&crate::store::Store> {
        self.store.if_open()
    }

    /// Appends a record that releases nothing and is no security event (a
    /// run's start and end): synced only under `[audit] sync = "every-record"`.
    pub fn record(&self, event: Event) -> Result<crate::audit::Record, crate::audit::AuditError> {
        match self.sync {
            AuditSync::Releases => self.audit.append_unsynced(event),
            AuditSync::EveryRecord => self.audit.append(event),
        }
    }

    /// The `[audit] sync` setting of the run.
    pub fn audit_sync(&self) -> AuditSync {
        self.sync
    }

    /// Secrets answered `Unavailable` in this run, masked, in order.
    pub fn withheld(&self) -> &[String] {
        &self.withheld
    }

    /// Opens the store if that needs nobody to type a passphrase, so that
    /// a denial about to be recorded is anchored; a store that cannot be
    /// opened only leaves it unanchored (and is reported when a secret is
    /// asked for).
    pub fn anchor_if_possible(&mut self) {
        let _ = self.store.get();
        self.anchor_audit();
    }

    /// Once the store is open, appends also advance the log's checkpoint
    /// (its key is derived from the store's).
    fn anchor_audit(&mut self) {
        if self.anchored {
            return;
        }
        if let Some(store) = self.store.if_open() {
            let key = crate::audit::CheckpointKey::from_store(store);
            self.audit = self.audit.clone().anchored(key);
            self.anchored = true;
        }
    }

    /// Why the store could not be opened, once a request has found out.
    pub fn store_failure(&self) -> Option<&StoreUnusable> {
        self.store.failure()
    }

    /// Answers one `get-secret` call.
    pub fn resolve(&mut self, requested: &str) -> Result<SecretString, Refusal> {
        let outcome = self.decide(requested, OffsetDateTime::now_utc());
        self.anchor_audit();
        match outcome {
            Ok((secret, version, value)) => self.release(secret, version, value),
            Err(denial) => Err(self.refuse(denial)),
        }
    }

    /// Takes up changes to tasks.toml and the store file since the last
    /// request (one `stat` each when there are none).
    fn refresh(&mut self) {
        if let Some(live) = &mut self.live
            && let Some(grants) = live.refresh(&self.identity)
        {
            self.agent.grants = grants;
        }
        self.store.refresh();
    }

    fn decide(
        &mut self,
        requested: &str,
        now: OffsetDateTime,
    ) -> Result<(SecretName, u32, SecretString), Denial> {
        self.refresh();
        if let Some(owner) = self.resolved.owner_within(requested) {
            return Err(Denial {
                secret: format!("<value of {owner}>"),
                code: "value-as-name",
                detail: format!("the task asked for a secret named by the value of {owner}"),
                refusal: Refusal::Denied,
            });
        }
        let (secret, grant) = match self.agent.check(requested, now) {
            GrantCheck::Granted { secret, grant } => (secret, grant),
            GrantCheck::Denied(reason) => return Err(self.explain(requested, reason)),
        };
        if let Some(fault) = self.live.as_ref().and_then(LivePolicy::fault) {
            let detail = fault.detail.clone();
            return Err(denial(&secret, fault.code, detail, Refusal::Denied));
        }
        if grant.approve {
            self.approved(&secret)?;
        }
        self.unseal(secret)
    }

    fn unseal(&self, secret: SecretName) -> Result<(SecretName, u32, SecretString), Denial> {
        let project = &self.identity.project;
        let store = self
            .store
            .get()
            .map_err(|failure| unusable(&secret, failure))?;
        if store.find(project, &secret).is_none() {
            let detail = format!("granted, but no secret {project}/{secret} is stored");
            return Err(denial(&secret, "not-stored", detail, Refusal::Denied));
        }
        let (entry, bytes) = store.decrypt(project, &secret).map_err(|error| {
            denial(
                &secret,
                "store-error",
                error.to_string(),
                Refusal::Unavailable,
            )
        })?;
        match std::str::from_utf8(bytes.expose_secret()) {
            Ok(text) => Ok((secret, entry.version, SecretString::from(text.to_owned()))),
            Err(_) => {
                let detail = "the stored value is not UTF-8 text; get-secret can only return text";
                Err(denial(
                    &secret,
                    "not-text",
                    detail.into(),
                    Refusal::Unavailable,
                ))
            }
        }
    }

    /// Counts one lookup; `false` once the agent's `secret_calls` limit is
    /// passed (the caller then stops the task, nothing is looked up).
    pub fn count_call(&mut self) -> bool {
        self.calls = self.calls.saturating_add(1);
        self.calls <= self.agent.confinement.limits.secret_calls
    }

    /// The agent this run is for (its egress allowlist, its grants).
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// A handle on what this run has released, shared with the egress gate
    /// and the output filter.
    pub fn released(&self) -> Released {
        self.resolved.clone()
    }

    /// Answers one `placeholder` call: the same checks as [`Broker::resolve`]
    /// (a denial is recorded the same way), but the value stays here; the
    /// task gets a token the egress gate swaps for the value on the way out.
    pub fn placeholder(&mut self, requested: &str) -> Result<String, Refusal> {
        let decided = self.decide(requested, OffsetDateTime::now_utc());
        self.anchor_audit();
        let (secret, _, value) = match decided {
            Ok(decided) => decided,
            Err(denial) => return Err(self.refuse(denial)),
        };
        drop(value);
        self.resolved.new_placeholder(secret).map_err(|error| {
            notice::say(&format!("scopehold: cannot make a placeholder: {error}"));
            Refusal::Unavailable
        })
    }

    /// The destinations the grant of `secret` binds it to (empty: none).
    pub(crate) fn hosts_of(&self, secret: &SecretName) -> Vec<HostPattern> {
        let grant = self.agent.grant(secret);
        grant.map(|grant| grant.hosts.clone()).unwrap_or_default()
    }

    /// Where the grant of `secret` lets its value go, as tasks.toml says
    /// now: the destinations and the position in a request (no grant, or a
    /// tasks.toml that cannot be used: nowhere).
    pub fn injection_of(&mut self, secret: &SecretName) -> (Vec<HostPattern>, InjectAt) {
        self.refresh();
        let usable = self.live.as_ref().is_none_or(|live| live.fault().is_none());
        match self.agent.grant(secret) {
            Some(grant) if usable => (grant.hosts.clone(), grant.inject.clone()),
            _ => (Vec::new(), InjectAt::default()),
        }
    }

    fn release(
        &mut self,
        secret: SecretName,
        version: u32,
        value: SecretString,
    ) -> Result<SecretString, Refusal> {
        let key = (secret, version);
        if self.recorded.contains(&key) {
            // Still checked against the policy and the store (in `decide`);
            // only the durable record is skipped.
            self.repeats += 1;
            return Ok(value);
        }
        let (secret, version) = key;
        let RunIdentity {
            run,
            agent,
            project,
        } = self.identity.clone();
        let event = Event::SecretResolve {
            run,
            agent,
            project,
            secret: secret.clone(),
            version,
        };
        if let Err(error) = self.audit.append(event) {
            notice::say(&format!(
                "scopehold: withholding {secret}: the access could not be recorded: {error}"
            ));
            self.withhold(secret.to_string());
            return Err(Refusal::Unavailable);
        }
        tracing::debug!(%secret, version, "secret released");
        self.resolutions += 1;
        self.recorded.insert((secret.clone(), version));
        let hosts = self.hosts_of(&secret);
        self.resolved.push(secret, value.clone(), hosts);
        Ok(value)
    }
}
