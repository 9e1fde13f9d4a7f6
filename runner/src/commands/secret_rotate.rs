//! `runner secret rotate NAME [--project P]`: store a new version read from stdin.

use clap::Args;
use secrecy::ExposeSecret;

use crate::cli::Global;
use crate::commands::secret_checks;
use crate::commands::secret_set::{finish, read_stdin_value};
use crate::names::{ProjectName, SecretName};
use crate::state::Change;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct SecretRotate {
    /// Secret name
    pub name: SecretName,
    /// Project of the secret (needed only when several projects hold the name)
    #[arg(long, short)]
    pub project: Option<ProjectName>,
    /// Accept a value that is not UTF-8 text (tasks read secrets as text)
    #[arg(long)]
    pub binary: bool,
}

impl SecretRotate {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let (_, place) = global.open_place()?;
        let mut state = place.open_for_change()?;
        let project = pick_project(state.store(), &self.name, self.project.as_ref())?;
        let value = read_stdin_value()?;
        secret_checks::require_text(value.expose_secret(), self.binary)?;
        let written = state.write_store(Change::Rotate {
            project: &project,
            name: &self.name,
            value: &value,
        })?;
        if let Some(entry) = &written.entry {
            println!(
                "rotated {}/{} to version {}",
                entry.project, entry.name, entry.version
            );
        }
        finish(written.unfinished)
    }
}

/// The project a secret command means: the flag, else the only project that
/// holds the name.
pub fn pick_project(
    store: &Store,
    name: &SecretName,
    flag: Option<&ProjectName>,
) -> anyhow::Result<ProjectName> {
    if let Some(project) = flag {
        return Ok(project.clone());
    }
    let holders = store.projects_holding(name);
    match holders.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(crate::report::Refused {
            message: format!("no secret named {name} is stored"),
            hint: Some("see `runner secret list`".into()),
        }
        .into()),
        many => Err(crate::report::Refused {
            message: format!(
                "{name} exists in several projects: {}",
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            hint: Some("choose one with --project".into()),
        }
        .into()),
    }
}
