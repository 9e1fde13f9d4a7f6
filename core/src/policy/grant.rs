//! "May this agent have this secret now?": the policy's half of every
//! `get-secret` call.
//!
//! [`Agent::check`] takes the raw name a guest asked for. That string is
//! untrusted (any length, any bytes), so it is bounded and validated before
//! anything else, and it is never echoed back: a [`DenyReason`] carries only
//! validated names, which are safe to log and print.

use std::fmt;

use time::OffsetDateTime;

use super::{Agent, Grant};
use crate::names::{MAX_NAME_LEN, ProjectName, SecretName};

/// The policy's answer for one requested secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantCheck {
    /// The agent holds a valid grant for `secret` (in the agent's project).
    Granted {
        secret: SecretName,
        grant: Grant,
    },
    Denied(DenyReason),
}

/// Why a request was denied. For the operator (audit log, stderr) only: the
/// task is told no more than "denied".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// Not a valid secret name nor `project/name`.
    InvalidName,
    /// Qualified with a project other than the agent's.
    OtherProject {
        project: ProjectName,
        secret: SecretName,
    },
    /// A valid name in the agent's project, but not granted.
    NotGranted { secret: SecretName },
    /// Granted, but the grant expired at `at`.
    Expired {
        secret: SecretName,
        at: OffsetDateTime,
    },
}

impl DenyReason {
    /// The audit log's reason code.
    pub fn code(&self) -> &'static str {
        match self {
            DenyReason::InvalidName => "invalid-name",
            DenyReason::OtherProject { .. } => "other-project",
            DenyReason::NotGranted { .. } => "not-granted",
            DenyReason::Expired { .. } => "expired",
        }
    }

    /// An operator-facing sentence. Never contains the raw requested string.
    pub fn detail(&self) -> String {
        match self {
            DenyReason::InvalidName => "the requested name is not a valid secret name".to_owned(),
            DenyReason::OtherProject { project, secret } => format!(
                "secret \"{secret}\" of project \"{project}\" is outside the agent's project"
            ),
            DenyReason::NotGranted { secret } => {
                format!("secret \"{secret}\" is not granted to this agent")
            }
            DenyReason::Expired { secret, at } => {
                format!(
                    "the grant of secret \"{secret}\" expired at {}",
                    crate::age::show(*at)
                )
            }
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail())
    }
}

impl Grant {
    /// Expired when `expires` is at or before `now`.
    pub(crate) fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires.is_some_and(|at| at <= now)
    }
}

impl Agent {
    /// Decides whether `requested` (the raw string a guest passed to
    /// get-secret; untrusted, may be anything) may be resolved at `now`.
    /// Accepts `name` or `project/name` where project is the agent's own.
    pub fn check(&self, requested: &str, now: OffsetDateTime) -> GrantCheck {
        let secret = match self.resolve(requested) {
            Ok(secret) => secret,
            Err(reason) => return GrantCheck::Denied(reason),
        };
        let Some(grant) = self.grant(&secret) else {
            return GrantCheck::Denied(DenyReason::NotGranted { secret });
        };
        match grant.expires {
            Some(at) if grant.is_expired(now) => {
                GrantCheck::Denied(DenyReason::Expired { secret, at })
            }
            _ => GrantCheck::Granted {
                secret,
                grant: grant.clone(),
            },
        }
    }

    /// The grant of `secret`, if any (whether or not expired).
    pub fn grant(&self, secret: &SecretName) -> Option<&Grant> {
        self.grants.iter().find(|g| &g.secret == secret)
    }

    /// Turns a requested name into a secret of this agent's project.
    fn resolve(&self, requested: &str) -> Result<SecretName, DenyReason> {
        // Longest valid form is `project/name`; refuse anything longer before
        // validation copies it into an error.
        if requested.len() > 2 * MAX_NAME_LEN + 1 {
            return Err(DenyReason::InvalidName);
        }
        let Some((qualifier, name)) = requested.split_once('/') else {
            return SecretName::new(requested).map_err(|_| DenyReason::InvalidName);
        };
        let project = ProjectName::new(qualifier).map_err(|_| DenyReason::InvalidName)?;
        let secret = SecretName::new(name).map_err(|_| DenyReason::InvalidName)?;
        if project != self.project {
            return Err(DenyReason::OtherProject { project, secret });
        }
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::AgentName;
    use time::macros::datetime;

    fn agent() -> Agent {
        let grant = |name: &str, expires| Grant {
            secret: SecretName::new(name).unwrap(),
            expires,
            hosts: Vec::new(),
            inject: Default::default(),
            approve: false,
        };
        Agent {
            name: AgentName::new("support-analysis").unwrap(),
            project: ProjectName::new("analytics").unwrap(),
            description: None,
            grants: vec![
                grant("posthog-read", Some(datetime!(2027-01-01 0:00 UTC))),
                grant("forever", None),
            ],
            confinement: Default::default(),
            allowed_hosts: None,
        }
    }

    fn denied(requested: &str, now: OffsetDateTime) -> DenyReason {
        match agent().check(requested, now) {
            GrantCheck::Denied(reason) => reason,
            granted => panic!("{requested:?} was {granted:?}"),
        }
    }

    const NOW: OffsetDateTime = datetime!(2026-06-01 12:00 UTC);

    #[test]
    fn granted_before_expiry_and_without_expiry() {
        for (requested, name) in [
            ("posthog-read", "posthog-read"),
            ("analytics/posthog-read", "posthog-read"),
            ("forever", "forever"),
        ] {
            let GrantCheck::Granted { secret, grant } = agent().check(requested, NOW) else {
                panic!("{requested} denied");
            };
            assert_eq!(secret.as_str(), name);
            assert_eq!(grant.secret, secret);
        }
        let just_before = datetime!(2026-12-31 23:59:59.999 UTC);
        assert!(matches!(
            agent().check("posthog-read", just_before),
            GrantCheck::Granted { .. }
        ));
    }

    #[test]
    fn expired_at_and_after_expiry() {
        let at = datetime!(2027-01-01 0:00 UTC);
        for now in [at, datetime!(2030-01-01 0:00 UTC)] {
            let reason = denied("posthog-read", now);
            assert_eq!(reason.code(), "expired");
            assert_eq!(
                reason,
                DenyReason::Expired {
                    secret: SecretName::new("posthog-read").unwrap(),
                    at
                }
            );
            assert!(
                reason.detail().contains("2027-01-01T00:00:00Z"),
                "{}",
                reason.detail()
            );
        }
    }

    #[test]
    fn not_granted_and_other_project() {
        let reason = denied("stripe-live", NOW);
        assert_eq!(reason.code(), "not-granted");
        assert!(reason.detail().contains("\"stripe-live\""));
        let reason = denied("billing/posthog-read", NOW);
        assert_eq!(reason.code(), "other-project");
        assert!(
            matches!(&reason, DenyReason::OtherProject { project, .. } if project.as_str() == "billing")
        );
    }

    #[test]
    fn invalid_names_are_denied_without_echo() {
        let huge = "a".repeat(10 * 1024);
        let qualified_huge = format!("analytics/{huge}");
        let inputs = [
            "",
            "/",
            "analytics/",
            "/posthog-read",
            "a/b/c",
            "Posthog-Read",
            "posthog read",
            "posthog-read\n",
            "\u{1b}[31mx",
            "x\0",
            "posthog-read\u{202E}",
            "../etc/passwd",
            huge.as_str(),
            qualified_huge.as_str(),
        ];
        for input in inputs {
            let reason = denied(input, NOW);
            assert_eq!(reason, DenyReason::InvalidName, "{input:?}");
            assert_eq!(reason.code(), "invalid-name");
            let echoed = !input.is_empty() && reason.detail().contains(input);
            assert!(!echoed, "{input:?} echoed in the detail");
        }
    }
}
