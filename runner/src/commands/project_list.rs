//! `runner project list [--json]`: the projects of tasks.toml and how many
//! agents each has.

use clap::Args;
use serde_json::json;

use crate::cli::Global;
use crate::commands::secret_list::print_table;
use crate::policy::Policy;

#[derive(Debug, Args)]
pub struct ProjectList {
    /// Print one JSON object per project (JSON Lines)
    #[arg(long)]
    pub json: bool,
}

impl ProjectList {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let policy = Policy::load(&global.config())?;
        let rows: Vec<[String; 3]> = policy
            .projects()
            .map(|p| {
                let agents = policy.agents().filter(|a| a.project == p.name).count();
                let description = p.description.as_deref().unwrap_or_default();
                let description = crate::report::escape_for_terminal(description).into_owned();
                [p.name.to_string(), agents.to_string(), description]
            })
            .collect();
        if self.json {
            for p in policy.projects() {
                let agents = policy.agents().filter(|a| a.project == p.name).count();
                let description = p.description.as_deref().unwrap_or_default();
                let line =
                    json!({"name": p.name.as_str(), "agents": agents, "description": description});
                println!("{line}");
            }
        } else if rows.is_empty() {
            println!("no projects; add one with `runner project add NAME`");
        } else {
            print_table(&["PROJECT", "AGENTS", "DESCRIPTION"], &rows);
        }
        Ok(crate::exit_code::OK)
    }
}
