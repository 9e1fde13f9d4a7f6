//! `runner agent list [--json]`: the agents of tasks.toml, their project
//! and the secrets they are granted.

use clap::Args;
use serde_json::json;

use crate::cli::Global;
use crate::commands::secret_list::print_table;
use crate::policy::Policy;

#[derive(Debug, Args)]
pub struct AgentList {
    /// Print one JSON object per agent (JSON Lines)
    #[arg(long)]
    pub json: bool,
}

impl AgentList {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let policy = Policy::load(&global.config())?;
        if self.json {
            for agent in policy.agents() {
                let grants: Vec<&str> = agent.grants.iter().map(|g| g.secret.as_str()).collect();
                let line = json!({
                    "name": agent.name.as_str(), "project": agent.project.as_str(),
                    "description": agent.description.as_deref().unwrap_or_default(),
                    "grants": grants,
                });
                println!("{line}");
            }
            return Ok(crate::exit_code::OK);
        }
        let rows: Vec<[String; 4]> = policy
            .agents()
            .map(|agent| {
                let grants: Vec<&str> = agent.grants.iter().map(|g| g.secret.as_str()).collect();
                let description = agent.description.as_deref().unwrap_or_default();
                let description = crate::report::escape_for_terminal(description).into_owned();
                [
                    agent.name.to_string(),
                    agent.project.to_string(),
                    grants.join(","),
                    description,
                ]
            })
            .collect();
        match rows.is_empty() {
            true => println!("no agents; add one with `runner agent add NAME --project P`"),
            false => print_table(&["AGENT", "PROJECT", "GRANTS", "DESCRIPTION"], &rows),
        }
        Ok(crate::exit_code::OK)
    }
}
