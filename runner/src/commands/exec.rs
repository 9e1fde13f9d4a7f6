//! `runner exec TASK.wasm --agent NAME [-- ARGS...]`: run a task as an agent.
//!
//! The run itself is the exec operation ([`crate::exec::run`]); this prints
//! the runner's words about how it ended and exits with its status. The
//! task's stdout and stderr are the runner's own.

use std::path::PathBuf;

use clap::Args;

use crate::cli::Global;
use crate::exec::Request;
use crate::policy::Policy;
use crate::sandbox::TaskIo;

#[derive(Debug, Args)]
pub struct Exec {
    /// The task: a WASI 0.2 command component (.wasm), or a script (.py,
    /// .js, .mjs) run in its language's interpreter (docs/scripts.md)
    pub task: PathBuf,
    /// The agent the task runs as (an [agents.NAME] table in tasks.toml)
    #[arg(long)]
    pub agent: String,
    /// Arguments passed to the task
    #[arg(last = true)]
    pub args: Vec<String>,
}

impl Exec {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let policy = Policy::load_trusted(&global.config())?;
        let ended = crate::exec::run(Request {
            policy: &policy,
            home: global.home.as_deref(),
            agent: &self.agent,
            task: &self.task,
            args: &self.args,
            io: TaskIo::Inherit,
            watch_signals: true,
            tool: None,
        })?;
        for line in &ended.reason {
            eprintln!("{line}");
        }
        Ok(ended.exit_code)
    }
}
