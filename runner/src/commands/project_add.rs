//! `runner project add NAME [--description D]`: a new `[projects.NAME]`
//! in tasks.toml, recorded in the audit log (`project.add`) first.

use clap::Args;

use crate::audit::Event;
use crate::cli::Global;
use crate::names::ProjectName;
use crate::operator::Operator;
use crate::policy::{Edit, LockedPolicy};
use crate::policy_history::{command_line, commit};

#[derive(Debug, Args)]
pub struct ProjectAdd {
    /// Project name, e.g. analytics
    pub name: ProjectName,
    /// Free text shown in listings
    #[arg(long)]
    pub description: Option<String>,
}

impl ProjectAdd {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let (dir, place) = global.open_place()?;
        let file = LockedPolicy::open(&global.config())?;
        let by = Operator::current();
        let event = Event::ProjectAdd {
            user: by.user,
            uid: by.uid,
            hostname: by.host,
            command: command_line(),
            project: self.name.clone(),
            description: self.description.clone().unwrap_or_default(),
        };
        let edit = Edit::AddProject {
            name: self.name.clone(),
            description: self.description.clone(),
        };
        commit(&dir, &file, &edit, event, &place.chain(None)?)?;
        println!("added project {}", self.name);
        Ok(crate::exit_code::OK)
    }
}
