//! What a refused request leaves behind: the audit record's secret, reason
//! code and detail, what the task is told, and the tasks.toml change that
//! would allow it; and how the broker records and reports a refusal
//! (synced, masked) and the secrets it had to withhold; and how a policy
//! denial is refined with what the store knows.

use super::{Broker, Refusal, RunIdentity, StoreUnusable};
use crate::audit::{Event, Token};
use crate::names::{AgentName, SecretName};
use crate::policy::DenyReason;

/// Why a request was refused, for the audit log and the operator.
pub(super) struct Denial {
    /// What to record as the secret: the name, or a placeholder for names that
    /// must not be written verbatim.
    pub secret: String,
    pub code: &'static str,
    pub detail: String,
    pub refusal: Refusal,
}

impl Denial {
    /// The tasks.toml change that would allow the request, where one would.
    pub(crate) fn grant_hint(&self, agent: &AgentName) -> Option<String> {
        match self.code {
            "not-granted" => Some(format!(
                "to allow it: runner grant {secret} --agent {agent} (or add {{ secret = \"{secret}\" }} \
                 to grants of [agents.{agent}] in tasks.toml)",
                secret = self.secret
            )),
            "expired" => Some(format!(
                "the grant of {secret} to {agent} has expired; renew it: runner grant {secret} \
                 --agent {agent} --expires 30d (or edit its `expires` in tasks.toml)",
                secret = self.secret
            )),
            _ => None,
        }
    }
}

pub(super) fn denial(
    secret: &SecretName,
    code: &'static str,
    detail: String,
    refusal: Refusal,
) -> Denial {
    Denial {
        secret: secret.to_string(),
        code,
        detail,
        refusal,
    }
}

/// A request that cannot be answered because the store cannot be opened.
pub(super) fn unusable(secret: &SecretName, failure: &StoreUnusable) -> Denial {
    let detail = failure.to_string();
    denial(secret, "store-error", detail, Refusal::StoreUnusable)
}

/// A denial recorded under a placeholder rather than the name asked for.
pub(super) fn denial_raw(secret: String, code: &'static str, detail: String) -> Denial {
    Denial {
        secret,
        code,
        detail,
        refusal: Refusal::Denied,
    }
}

impl Broker {
    /// Tells the operator, in one line on stderr, which granted secrets the
    /// task was refused because the runner could not serve them (a full
    /// disk, an unreadable store): the task may have exited 0 without them.
    pub fn warn_withheld(&self) {
        if !self.withheld.is_empty() {
            super::notice::say(&format!(
                "scopehold: warning: withheld from the task (unavailable, see above): {}",
                self.withheld.join(", ")
            ));
        }
    }

    pub(super) fn refuse(&mut self, denial: Denial) -> Refusal {
        self.denials += 1;
        let RunIdentity {
            run,
            agent,
            project,
        } = self.identity.clone();
        // Names and details hold no value already (see `decide`); masked
        // again in case a detail quotes something the task chose.
        let secret = self.resolved.scrub(&denial.secret);
        let detail = self.resolved.scrub(&denial.detail);
        super::notice::say(&format!(
            "scopehold: {secret} denied to agent {agent}: {detail}"
        ));
        if let Some(hint) = denial.grant_hint(&self.identity.agent) {
            super::notice::say(&format!("scopehold: hint: {}", self.resolved.scrub(&hint)));
        }
        let event = Event::SecretDeny {
            run,
            agent,
            project,
            secret: secret.clone(),
            reason: Token::new(denial.code).expect("reason codes are valid tokens"),
            detail,
        };
        // A denial is a security event: durable (and anchored once the store
        // is open) before the task hears of it, like a resolution.
        self.anchor_if_possible();
        if let Err(error) = self.audit.append(event) {
            super::notice::say(&format!(
                "scopehold: the denial could not be recorded: {error}"
            ));
            self.withhold(secret);
            return Refusal::Unavailable;
        }
        if denial.refusal == Refusal::Unavailable {
            self.withhold(secret);
        }
        denial.refusal
    }

    pub(super) fn withhold(&mut self, secret: String) {
        if !self.withheld.contains(&secret) {
            self.withheld.push(secret);
        }
    }
}

impl Broker {
    /// Turns the policy's reason into the most precise one the store allows.
    pub(super) fn explain(&self, requested: &str, reason: DenyReason) -> Denial {
        let secret = match &reason {
            DenyReason::InvalidName => {
                let placeholder = format!("<invalid name: {} bytes>", requested.len());
                return denial_raw(placeholder, reason.code(), reason.detail());
            }
            DenyReason::NotGranted { secret } => secret.clone(),
            DenyReason::OtherProject { secret, .. } | DenyReason::Expired { secret, .. } => {
                return denial(secret, reason.code(), reason.detail(), Refusal::Denied);
            }
        };
        let project = &self.identity.project;
        // The store only refines the reason; a request the policy already
        // refuses does not stop the task when the store cannot be opened.
        let Ok(store) = self.store.get() else {
            return denial(&secret, reason.code(), reason.detail(), Refusal::Denied);
        };
        if store.find(project, &secret).is_some() {
            return denial(&secret, reason.code(), reason.detail(), Refusal::Denied);
        }
        let holders = store.projects_holding(&secret);
        if holders.is_empty() {
            let detail = format!("no secret named {secret} is stored in any project");
            return denial(&secret, "unknown-secret", detail, Refusal::Denied);
        }
        let holders: Vec<String> = holders.iter().map(ToString::to_string).collect();
        let detail = format!(
            "{secret} belongs to project {}, agent {} is in project {project}",
            holders.join(", "),
            self.identity.agent
        );
        denial(&secret, "other-project", detail, Refusal::Denied)
    }
}
