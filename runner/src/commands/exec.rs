//! `runner exec TASK.wasm --agent NAME [-- ARGS...]`: run a task as an agent.
//!
//! The run itself is the exec operation ([`crate::exec::run_anywhere`]:
//! through `runner serve` when one runs for the state dir, else in this
//! process); this prints the JSON summary when asked, and exits with the
//! run's status. The task's stdout and stderr are the runner's own.

use std::path::PathBuf;

use clap::Args;

use super::exec_summary::Summary;
use crate::cli::Global;
use crate::exec::{Request, TaskSource};
use crate::policy::Policy;
use crate::sandbox::TaskIo;

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: the task's own (0, or 1 for any failure); 118 the audit log \
    refused the append; 119-124 a limit passed (requests, memory, instances, secret_calls, \
    output, timeout); 125 the runner failed (policy, store, audit log, I/O); 126 refused before \
    the task started; 130/143 SIGINT/SIGTERM; 134 the task trapped. README.md, \"Exit codes\"."
)]
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
    /// At the end, write one JSON object about the run (run id, component,
    /// exit code, outcome, secrets resolved by name, counts, durations) to
    /// stderr, or with =FILE to FILE (docs/exec-summary.md)
    #[arg(
        long,
        value_name = "FILE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "-"
    )]
    pub json_summary: Option<PathBuf>,
}

impl Exec {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        let mut summary = Summary::new(&self.agent, &self.task);
        let result = Policy::load_trusted(&global.config())
            .map_err(anyhow::Error::from)
            .and_then(|policy| self.run(global, &policy, &mut summary));
        let Some(target) = &self.json_summary else {
            return result;
        };
        summary.end(&result);
        // The summary is the last line on stderr: an error goes before it.
        if let Err(error) = &result {
            crate::report::print_error(error);
        }
        summary.write(target);
        Ok(summary.exit_code)
    }

    fn run(&self, global: &Global, policy: &Policy, summary: &mut Summary) -> anyhow::Result<u8> {
        crate::exec::run_anywhere(Request {
            policy,
            home: global.home.as_deref(),
            database_url: global
                .database_url
                .as_ref()
                .map(crate::cli::DatabaseUrl::secret),
            agent: &self.agent,
            task: TaskSource::File(&self.task),
            args: &self.args,
            io: TaskIo::Inherit,
            watch_signals: true,
            tool: None,
            summary: Some(summary),
            served: None,
        })
    }
}
