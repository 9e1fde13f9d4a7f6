//! `runner explain --json`: the same facts as the readable view, as one JSON
//! object for scripts. Env values are masked exactly as in the readable view.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::policy::{Agent, ComponentDigest, Limit, Limits};

/// What `explain` found, as one JSON object.
pub struct Facts<'a> {
    pub component: &'a str,
    pub digest: &'a ComponentDigest,
    pub imports: &'a [String],
    pub agent: &'a Agent,
    /// Why the component may not run as the agent; `None` when it may.
    pub verdict: Option<&'a str>,
}

impl Facts<'_> {
    pub fn to_json(&self, now: OffsetDateTime) -> Value {
        let agent = self.agent;
        let c = &agent.confinement;
        let hosts = agent.allowed_hosts.as_deref().unwrap_or_default();
        json!({
            "component": self.component,
            "digest": self.digest.to_string(),
            "imports": self.imports,
            "agent": agent.name.as_str(),
            "project": agent.project.as_str(),
            "components": c.components.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "secrets": agent.grants.iter().map(|g| grant(g, now)).collect::<Vec<_>>(),
            "egress": hosts.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "dirs": c.dirs.iter().map(|d| json!({
                "guest": d.guest,
                "host": d.host.display().to_string(),
                "mode": d.mode.as_str(),
            })).collect::<Vec<_>>(),
            "env": c.env.iter()
                .map(|(k, v)| (k.clone(), Value::from(crate::policy::masked_env(v))))
                .collect::<serde_json::Map<_, _>>(),
            "limits": limits(&c.limits),
            "may_run": self.verdict.is_none(),
            "refused_because": self.verdict,
        })
    }
}

fn grant(grant: &crate::policy::Grant, now: OffsetDateTime) -> Value {
    json!({
        "secret": grant.secret.as_str(),
        "expires": grant.expires.map(crate::age::show),
        "expired": grant.expires.is_some_and(|t| t <= now),
        "hosts": grant.hosts.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "inject": grant.inject.to_string(),
    })
}

fn limits(limits: &Limits) -> Value {
    Limit::ALL
        .into_iter()
        .map(|limit| (limit.key().to_owned(), Value::from(limits.show(limit))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}
