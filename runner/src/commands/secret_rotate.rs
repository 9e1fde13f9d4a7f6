//! `runner secret rotate NAME [--project P]`: store a new version read from stdin.

use clap::Args;

use crate::audit::Event;
use crate::cli::Global;
use crate::commands::secret_set::{
    applied, finish, open_for_change, read_stdin_value, record_write,
};
use crate::names::{ProjectName, SecretName};
use crate::store::Store;

#[derive(Debug, Args)]
pub struct SecretRotate {
    /// Secret name
    pub name: SecretName,
    /// Project of the secret (needed only when several projects hold the name)
    #[arg(long, short)]
    pub project: Option<ProjectName>,
}

impl SecretRotate {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.open_home()?;
        let mut store = open_for_change(&dir)?;
        let project = pick_project(&store, &self.name, self.project.as_ref())?;
        let value = read_stdin_value()?;
        let outcome = store.rotate(&project, &self.name, &value);
        let (entry, unfinished) = applied(outcome, store.find(&project, &self.name))?;
        let event = Event::SecretRotate {
            project: entry.project.clone(),
            secret: entry.name.clone(),
            version: entry.version,
        };
        record_write(&dir, &store, Some(event))?;
        println!(
            "rotated {}/{} to version {}",
            entry.project, entry.name, entry.version
        );
        finish(unfinished)
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
