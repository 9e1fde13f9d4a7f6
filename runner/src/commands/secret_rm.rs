//! `runner secret rm NAME [--project P]`: remove a secret; grants to it deny.

use clap::Args;

use crate::cli::Global;
use crate::commands::secret_checks;
use crate::commands::secret_rotate::pick_project;
use crate::commands::secret_set::finish;
use crate::names::{ProjectName, SecretName};
use crate::state::Change;

#[derive(Debug, Args)]
pub struct SecretRm {
    /// Secret name
    pub name: SecretName,
    /// Project of the secret (needed only when several projects hold the name)
    #[arg(long, short)]
    pub project: Option<ProjectName>,
    /// Remove it even though agents in tasks.toml are still granted it
    #[arg(long)]
    pub force: bool,
}

impl SecretRm {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let (_, place) = global.open_place()?;
        let mut state = place.open_for_change()?;
        let project = pick_project(state.store(), &self.name, self.project.as_ref())?;
        secret_checks::require_ungranted(global, &project, &self.name, self.force)?;
        let written = state.write_store(Change::Remove {
            project: &project,
            name: &self.name,
        })?;
        if let Some(entry) = &written.entry {
            println!(
                "removed {}/{} (was version {})",
                entry.project, entry.name, entry.version
            );
        }
        finish(written.unfinished)
    }
}
