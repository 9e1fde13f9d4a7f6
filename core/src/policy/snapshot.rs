//! Who could resolve what: the agents and grants of a policy as a plain
//! map, and the difference between two of them, for `policy.change`
//! records (a hand edit of tasks.toml found when the runner loads it).
//!
//! Guarantees: two policies have an empty difference exactly when every
//! agent has the same project and the same grants (secret, expiry, hosts,
//! injection, approval); comments, order and descriptions do not count.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Policy;
use super::edit::Expiry;

/// Agent name -> its project and its grants (secret -> terms).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub agents: BTreeMap<String, AgentState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AgentState {
    pub project: String,
    /// Secret -> `expires ... hosts ... [approve] [inject ...]`.
    pub grants: BTreeMap<String, String>,
}

impl Snapshot {
    pub fn of(policy: &Policy) -> Snapshot {
        let agents = policy.agents().map(|agent| {
            let grants = agent.grants.iter().map(|g| {
                let expires = match g.expires {
                    Some(at) => Expiry::At(at).text(),
                    None => Expiry::Never.text(),
                };
                let hosts: Vec<String> = g.hosts.iter().map(|h| h.to_string()).collect();
                let mut terms = format!("expires {expires} hosts [{}]", hosts.join(","));
                if g.approve {
                    terms.push_str(" approve");
                }
                if g.inject != Default::default() {
                    terms.push_str(&format!(" inject {}", g.inject));
                }
                (g.secret.to_string(), terms)
            });
            let state = AgentState {
                project: agent.project.to_string(),
                grants: grants.collect(),
            };
            (agent.name.to_string(), state)
        });
        Snapshot {
            agents: agents.collect(),
        }
    }

    /// What changed from `self` to `new`, one entry per agent or grant
    /// added (`+`), removed (`-`) or changed (`~`), joined by `; `.
    pub fn diff(&self, new: &Snapshot) -> String {
        let mut out = Vec::new();
        for (name, old) in &self.agents {
            match new.agents.get(name) {
                None => out.push(format!("-agent {name} (project {})", old.project)),
                Some(now) => agent_diff(name, old, now, &mut out),
            }
        }
        for (name, now) in &new.agents {
            if self.agents.contains_key(name) {
                continue;
            }
            out.push(format!("+agent {name} (project {})", now.project));
            for (secret, terms) in &now.grants {
                out.push(format!("+grant {name}/{secret} {terms}"));
            }
        }
        out.join("; ")
    }
}

fn agent_diff(name: &str, old: &AgentState, now: &AgentState, out: &mut Vec<String>) {
    if old.project != now.project {
        out.push(format!(
            "~agent {name} project {} -> {}",
            old.project, now.project
        ));
    }
    for (secret, terms) in &old.grants {
        match now.grants.get(secret) {
            None => out.push(format!("-grant {name}/{secret}")),
            Some(new) if new != terms => {
                out.push(format!("~grant {name}/{secret} {terms} -> {new}"))
            }
            Some(_) => {}
        }
    }
    for (secret, terms) in &now.grants {
        if !old.grants.contains_key(secret) {
            out.push(format!("+grant {name}/{secret} {terms}"));
        }
    }
}
