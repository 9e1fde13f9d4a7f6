//! What a refused request leaves behind: the audit record's secret, reason
//! code and detail, what the task is told, and the tasks.toml change that
//! would allow it.

use super::{Refusal, StoreUnusable};
use crate::names::{AgentName, SecretName};

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
    pub fn grant_hint(&self, agent: &AgentName) -> Option<String> {
        match self.code {
            "not-granted" => Some(format!(
                "to allow it, add {{ secret = \"{}\" }} to grants of [agents.{agent}] in tasks.toml",
                self.secret
            )),
            "expired" => Some(format!(
                "the grant of {} to {agent} has expired; renew its `expires` in tasks.toml",
                self.secret
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
