//! `runner secret rm NAME [--project P]`: remove a secret; grants to it deny.

use clap::Args;

use crate::audit::Event;
use crate::cli::Global;
use crate::commands::secret_rotate::pick_project;
use crate::commands::secret_set::{applied, finish, open_for_change, record_write};
use crate::names::{ProjectName, SecretName};

#[derive(Debug, Args)]
pub struct SecretRm {
    /// Secret name
    pub name: SecretName,
    /// Project of the secret (needed only when several projects hold the name)
    #[arg(long, short)]
    pub project: Option<ProjectName>,
}

impl SecretRm {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.open_home()?;
        let mut store = open_for_change(&dir)?;
        let project = pick_project(&store, &self.name, self.project.as_ref())?;
        let before = store.find(&project, &self.name).cloned();
        let outcome = store.remove(&project, &self.name);
        let (entry, unfinished) = applied(outcome, before.as_ref())?;
        let event = Event::SecretRemove {
            project: entry.project.clone(),
            secret: entry.name.clone(),
            version: entry.version,
        };
        record_write(&dir, &store, Some(event))?;
        println!(
            "removed {}/{} (was version {})",
            entry.project, entry.name, entry.version
        );
        finish(unfinished)
    }
}
