//! `runner agent rm NAME`: removes `[agents.NAME]` (and its grants) from
//! tasks.toml, recorded (`agent.rm`) first.

use clap::Args;

use crate::audit::Event;
use crate::cli::Global;
use crate::names::AgentName;
use crate::operator::Operator;
use crate::policy::{Edit, EditError, LockedPolicy, known_agent};
use crate::policy_history::{command_line, commit};

#[derive(Debug, Args)]
pub struct AgentRm {
    /// The agent to remove
    pub name: AgentName,
}

impl AgentRm {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let (dir, place) = global.open_place()?;
        let file = LockedPolicy::open(&global.config())?;
        let agent = known_agent(file.policy(), &self.name).map_err(no_such_agent)?;
        let by = Operator::current();
        let event = Event::AgentRemove {
            user: by.user,
            uid: by.uid,
            hostname: by.host,
            command: command_line(),
            agent: self.name.clone(),
            project: agent.project.clone(),
        };
        let edit = Edit::RemoveAgent {
            name: self.name.clone(),
        };
        commit(&dir, &file, &edit, event, &place.chain(None)?)?;
        println!("removed agent {}", self.name);
        Ok(crate::exit_code::OK)
    }
}

fn no_such_agent(error: EditError) -> anyhow::Error {
    crate::report::Refused {
        message: error.to_string(),
        hint: Some("see the agents with `runner agent list`".into()),
    }
    .into()
}
