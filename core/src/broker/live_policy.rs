//! The agent's grants as tasks.toml says they are now, for a task that is
//! already running.
//!
//! Guarantees:
//! - Before every resolution the broker asks [`LivePolicy::refresh`]; when
//!   the file's [`FileStamp`] is unchanged that is one `stat`, nothing more.
//! - A file modified less than a second before it was read is read and
//!   hashed again at each request until it is older ([`FileStamp::is_recent`]).
//! - When it moved, the file goes through the same checks as at the start
//!   of the run: opened through [`open_trusted`] (ownership, mode, the
//!   directories above it), then the strict parser ([`Policy::from_bytes`]),
//!   then the run's agent must still exist in the
//!   run's project. Identical bytes (same blake3) are not parsed again.
//! - It fails closed: a file that is gone, unsafe, no longer parses, or no
//!   longer holds the agent in its project leaves a [`PolicyFault`] that
//!   denies every request until the file is fixed; the grants of before
//!   are never used in the meantime.
//! - Only the grants are live. Limits, directories, egress allowlist and
//!   component pins were applied when the sandbox was built and stay as
//!   they were for the run.

use std::path::PathBuf;

use super::RunIdentity;
use super::stamp::FileStamp;
use crate::policy::{Grant, Policy, open_trusted};

/// Why the current tasks.toml cannot be used: every request is denied.
#[derive(Debug, Clone)]
pub(super) struct PolicyFault {
    pub code: &'static str,
    pub detail: String,
}

pub(super) struct LivePolicy {
    path: PathBuf,
    /// The stamp of the file when it was last read; `None` before the
    /// first check, so that one reads it (a change between the run's load
    /// and its first resolution is not missed).
    stamp: Option<FileStamp>,
    /// blake3 of the bytes the broker's grants come from.
    digest: blake3::Hash,
    fault: Option<PolicyFault>,
}

impl LivePolicy {
    /// Watches `path`, whose bytes (hashing to `digest`) gave the run's grants.
    pub fn new(path: PathBuf, digest: blake3::Hash) -> Self {
        LivePolicy {
            path,
            stamp: None,
            digest,
            fault: None,
        }
    }

    /// Why requests are denied now, if the file cannot be used.
    pub fn fault(&self) -> Option<&PolicyFault> {
        self.fault.as_ref()
    }

    /// The agent's new grants if the file changed to another valid policy;
    /// `None` if nothing changed or the file cannot be used ([`Self::fault`]).
    pub(crate) fn refresh(&mut self, identity: &RunIdentity) -> Option<Vec<Grant>> {
        if self.stamp.is_some() && FileStamp::of(&self.path) == self.stamp {
            return None;
        }
        match self.reload(identity) {
            Ok(grants) => {
                self.fault = None;
                grants
            }
            Err(fault) => {
                self.fault = Some(fault);
                None
            }
        }
    }

    fn reload(&mut self, identity: &RunIdentity) -> Result<Option<Vec<Grant>>, PolicyFault> {
        // A file that cannot be opened keeps no stamp: it is tried again.
        self.stamp = None;
        let opened = open_trusted(&self.path).map_err(|e| fault("policy-unsafe", &e))?;
        // The stamp of the file actually read: one replaced after this
        // open differs from it and is read on the next request.
        let stamp = FileStamp::from_meta(&opened.meta);
        let bytes = opened.read_all().map_err(|e| fault("policy-invalid", &e))?;
        // A file written less than a second ago is read (and hashed) again
        // at the next request: a same-size rewrite in the same mtime tick
        // would not move its stamp.
        self.stamp = Some(stamp).filter(|stamp| !stamp.is_recent());
        let digest = blake3::hash(&bytes);
        if digest == self.digest {
            return Ok(None);
        }
        let policy = Policy::from_bytes(&bytes, &self.path).map_err(|e| {
            let detail = format!("tasks.toml changed and no longer loads: {e}");
            fault("policy-invalid", &detail)
        })?;
        let agent = match policy.agent(identity.agent.as_str()) {
            Ok(agent) if agent.project == identity.project => agent,
            _ => {
                let detail = format!(
                    "tasks.toml changed and no longer holds agent {} in project {}",
                    identity.agent, identity.project
                );
                return Err(fault("agent-removed", &detail));
            }
        };
        self.digest = digest;
        Ok(Some(agent.grants.clone()))
    }
}

/// A fault whose detail is the first line of `error` (a parse error's
/// source snippet stays out of the audit log).
fn fault(code: &'static str, error: &dyn std::fmt::Display) -> PolicyFault {
    let text = error.to_string();
    let detail = text.lines().next().unwrap_or_default().to_owned();
    PolicyFault { code, detail }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::audit::RunId;
    use crate::names::{AgentName, ProjectName};

    fn policy(grants: &str) -> String {
        format!("[projects.p]\n[agents.a]\nproject = \"p\"\ngrants = [{grants}]\n")
    }

    fn write(path: &std::path::Path, text: &str) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn secrets(grants: Option<Vec<Grant>>) -> Option<Vec<String>> {
        grants.map(|g| g.iter().map(|g| g.secret.to_string()).collect())
    }

    #[test]
    fn follows_the_file_and_fails_closed_until_it_is_fixed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.toml");
        let first = policy(r#"{ secret = "k" }"#);
        write(&path, &first);
        let identity = RunIdentity {
            run: RunId::from_bytes([1; 16]),
            agent: AgentName::new("a").unwrap(),
            project: ProjectName::new("p").unwrap(),
        };
        let mut live = LivePolicy::new(path.clone(), blake3::hash(first.as_bytes()));
        // The bytes the run started with: nothing new, nothing wrong.
        assert_eq!(live.refresh(&identity), None);
        assert!(live.fault().is_none());
        write(&path, &policy(r#"{ secret = "k" }, { secret = "j" }"#));
        let now = secrets(live.refresh(&identity));
        assert_eq!(now, Some(vec!["k".to_owned(), "j".to_owned()]));
        write(&path, "[projects.p");
        assert_eq!(live.refresh(&identity), None);
        assert_eq!(live.fault().unwrap().code, "policy-invalid");
        write(&path, &policy(""));
        assert_eq!(secrets(live.refresh(&identity)), Some(vec![]));
        assert!(live.fault().is_none());
        write(
            &path,
            "[projects.p]\n[projects.q]\n[agents.a]\nproject = \"q\"\n",
        );
        assert_eq!(live.refresh(&identity), None);
        assert_eq!(live.fault().unwrap().code, "agent-removed");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(live.refresh(&identity), None);
        assert_eq!(live.fault().unwrap().code, "policy-unsafe");
    }
}
