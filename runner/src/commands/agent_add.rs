//! `runner agent add NAME --project P [--description D]`: a new
//! `[agents.NAME]` in tasks.toml, recorded (`agent.add`) first.

use clap::Args;

use crate::audit::Event;
use crate::cli::Global;
use crate::names::{AgentName, ProjectName};
use crate::operator::Operator;
use crate::policy::{Edit, LockedPolicy};
use crate::policy_history::{command_line, commit};

#[derive(Debug, Args)]
pub struct AgentAdd {
    /// Agent name, e.g. support-analysis
    pub name: AgentName,
    /// The project the agent belongs to (its secrets are the only ones it can be granted)
    #[arg(long)]
    pub project: ProjectName,
    /// Free text shown in listings
    #[arg(long)]
    pub description: Option<String>,
}

impl AgentAdd {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let (dir, place) = global.open_place()?;
        let file = LockedPolicy::open(&global.config())?;
        let by = Operator::current();
        let event = Event::AgentAdd {
            user: by.user,
            uid: by.uid,
            hostname: by.host,
            command: command_line(),
            agent: self.name.clone(),
            project: self.project.clone(),
            description: self.description.clone().unwrap_or_default(),
        };
        let edit = Edit::AddAgent {
            name: self.name.clone(),
            project: self.project.clone(),
            description: self.description.clone(),
        };
        commit(&dir, &file, &edit, event, &place.chain(None)?)?;
        println!("added agent {} (project {})", self.name, self.project);
        Ok(crate::exit_code::OK)
    }
}
