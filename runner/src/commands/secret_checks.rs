//! Checks `secret set`, `rotate` and `rm` make before changing the store:
//! the project is declared in tasks.toml, a removed secret is no longer
//! granted, a value is text unless `--binary` says otherwise. Each refusal
//! can be overridden (`--force`, `--binary`); none ever shows a value.
//!
//! When tasks.toml cannot be loaded, the policy checks are skipped with a
//! warning on stderr: the store does not depend on the policy, and a user
//! may store secrets before writing one.

use crate::cli::Global;
use crate::names::{ProjectName, SecretName};
use crate::policy::Policy;
use crate::report::Refused;

/// The policy, or `None` after a warning saying why it is not checked.
fn policy_or_warn(global: &Global) -> Option<Policy> {
    let path = global.config();
    match Policy::load(&path) {
        Ok(policy) => Some(policy),
        Err(err) => {
            eprintln!(
                "warning: projects and grants not checked: cannot load {}: {err}",
                path.display()
            );
            None
        }
    }
}

/// Refuses a project tasks.toml does not declare, unless `force`.
pub fn require_declared(global: &Global, project: &ProjectName, force: bool) -> anyhow::Result<()> {
    let Some(policy) = (!force).then(|| policy_or_warn(global)).flatten() else {
        return Ok(());
    };
    if policy.project(project).is_some() {
        return Ok(());
    }
    let declared: Vec<String> = policy.projects().map(|p| p.name.to_string()).collect();
    let listed = match declared.is_empty() {
        true => "none".to_owned(),
        false => declared.join(", "),
    };
    Err(Refused {
        message: format!(
            "project {project} is not declared in {}",
            policy.path().display()
        ),
        hint: Some(format!(
            "declared projects: {listed}; add `[projects.{project}]` to tasks.toml, \
             or pass --force to store it anyway"
        )),
    }
    .into())
}

/// Refuses to remove a secret agents are still granted, unless `force`.
pub fn require_ungranted(
    global: &Global,
    project: &ProjectName,
    name: &SecretName,
    force: bool,
) -> anyhow::Result<()> {
    let Some(policy) = (!force).then(|| policy_or_warn(global)).flatten() else {
        return Ok(());
    };
    let holders: Vec<String> = policy
        .agents()
        .filter(|agent| &agent.project == project && agent.grant(name).is_some())
        .map(|agent| agent.name.to_string())
        .collect();
    if holders.is_empty() {
        return Ok(());
    }
    Err(Refused {
        message: format!(
            "{project}/{name} is still granted to agent(s): {}",
            holders.join(", ")
        ),
        hint: Some(format!(
            "remove the grants from {} first, or pass --force (their runs will be denied)",
            policy.path().display()
        )),
    }
    .into())
}

/// Refuses a value that is not UTF-8 text unless `binary`: tasks read
/// secrets as strings, so such a value would only ever answer `unavailable`.
pub fn require_text(value: &[u8], binary: bool) -> anyhow::Result<()> {
    if binary || std::str::from_utf8(value).is_ok() {
        return Ok(());
    }
    Err(Refused {
        message: "the value is not UTF-8 text (nothing was stored)".into(),
        hint: Some(
            "tasks receive secrets as text; store its base64 or hex form, \
             or pass --binary to store the bytes as they are"
                .into(),
        ),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_accepted_and_bytes_need_binary() {
        assert!(require_text(b"phc_abc", false).is_ok());
        assert!(require_text(b"\xff\xfe", false).is_err());
        assert!(require_text(b"\xff\xfe", true).is_ok());
    }
}
