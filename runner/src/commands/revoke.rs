//! `runner revoke SECRET --agent A`: removes the agent's grant of the
//! secret from tasks.toml, recorded (`grant.revoke`) first. Revoking a
//! grant that does not exist is an error.

use clap::Args;

use crate::audit::Event;
use crate::cli::Global;
use crate::names::{AgentName, SecretName};
use crate::operator::Operator;
use crate::policy::{Edit, EditError, LockedPolicy, known_agent};
use crate::policy_history::{command_line, commit};

#[derive(Debug, Args)]
pub struct Revoke {
    /// The granted secret
    pub secret: SecretName,
    /// The agent that holds the grant
    #[arg(long)]
    pub agent: AgentName,
}

impl Revoke {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let (dir, place) = global.open_place()?;
        let file = LockedPolicy::open(&global.config())?;
        let agent = known_agent(file.policy(), &self.agent)?;
        if agent.grant(&self.secret).is_none() {
            return Err(EditError::NoGrant {
                agent: self.agent.clone(),
                secret: self.secret.clone(),
            }
            .into());
        }
        let by = Operator::current();
        let event = Event::GrantRevoke {
            user: by.user,
            uid: by.uid,
            hostname: by.host,
            command: command_line(),
            agent: self.agent.clone(),
            project: agent.project.clone(),
            secret: self.secret.clone(),
        };
        let edit = Edit::Revoke {
            agent: self.agent.clone(),
            secret: self.secret.clone(),
        };
        commit(&dir, &file, &edit, event, &place.chain(None)?)?;
        println!("revoked {} from {}", self.secret, self.agent);
        Ok(crate::exit_code::OK)
    }
}
