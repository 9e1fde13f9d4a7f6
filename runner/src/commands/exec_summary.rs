//! `runner exec --json-summary[=FILE]`: one JSON object describing the run,
//! written at its end (also when it was refused or failed) to stderr, or to
//! FILE, for scripts. Its fields are specified in docs/exec-summary.md.
//!
//! Secrets appear by name only, never by value: the summary is built from
//! the run's counters and names, never from anything the task received.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::broker::Broker;
use crate::exit_code;

/// The summary of one `runner exec`, filled in as the run goes (by
/// `runner serve` for a run it serves: it travels back to the client).
#[derive(Debug, Serialize, Deserialize)]
pub struct Summary {
    /// Version of this object's layout; raised when a field changes meaning.
    pub format: u32,
    pub run: Option<String>,
    pub agent: String,
    pub project: Option<String>,
    pub task: PathBuf,
    /// `blake3:...`, as `runner digest` prints it and `components` pins it.
    pub component: Option<String>,
    pub exit_code: u8,
    /// The `exec.end` outcome; for a run that never started: `refused`,
    /// `audit-refused` or `runner-error`.
    pub outcome: String,
    /// What stopped a run that never started or could not record its end.
    pub error: Option<String>,
    pub secrets_resolved: Vec<String>,
    pub repeats: u64,
    pub denials: u64,
    pub requests: u64,
    /// Compiling the component, or loading it from the cache.
    pub load_ms: Option<u64>,
    /// The task's run, as in `exec.end`.
    pub duration_ms: Option<u64>,
    /// The whole command.
    pub total_ms: u64,
    #[serde(skip, default = "Instant::now")]
    started: Instant,
}

impl Summary {
    pub fn new(agent: &str, task: &Path) -> Summary {
        Summary {
            format: 1,
            run: None,
            agent: agent.to_owned(),
            project: None,
            task: task.to_owned(),
            component: None,
            exit_code: exit_code::OK,
            outcome: String::new(),
            error: None,
            secrets_resolved: Vec::new(),
            repeats: 0,
            denials: 0,
            requests: 0,
            load_ms: None,
            duration_ms: None,
            total_ms: 0,
            started: Instant::now(),
        }
    }

    /// What the run's broker counted, once the task ended.
    pub fn tally(&mut self, broker: &Broker, outcome: &str, elapsed: Duration) {
        self.outcome = outcome.to_owned();
        self.secrets_resolved = broker
            .resolved_names()
            .iter()
            .map(ToString::to_string)
            .collect();
        self.repeats = broker.repeats();
        self.denials = broker.counts().1;
        self.requests = broker.requests();
        self.duration_ms = Some(millis(elapsed));
    }

    /// Takes what a daemon's run filled in; the command's own start stays
    /// (`total_ms` is the whole command, as the client saw it).
    pub fn adopt(&mut self, served: Summary) {
        *self = Summary {
            started: self.started,
            ..served
        };
    }

    /// The command's result: its exit code, and for an error its class
    /// and message (the outcome of a run that ended stays as recorded).
    pub fn end(&mut self, result: &anyhow::Result<u8>) {
        self.total_ms = millis(self.started.elapsed());
        match result {
            Ok(code) => self.exit_code = *code,
            Err(error) => {
                self.exit_code = crate::report::exec_exit_code(error);
                self.outcome = match self.exit_code {
                    exit_code::REFUSED => "refused",
                    exit_code::AUDIT_REFUSED => "audit-refused",
                    _ => "runner-error",
                }
                .into();
                self.error = Some(crate::serve::client::detail(error));
            }
        }
    }

    /// Writes the summary as one line to `target` (`-`: stderr). A failure
    /// is a warning: the run's exit code stays the run's.
    pub fn write(&self, target: &Path) {
        let line = serde_json::to_string(self).unwrap_or_default();
        let written = match target == Path::new("-") {
            true => writeln!(std::io::stderr(), "{line}"),
            false => std::fs::write(target, format!("{line}\n")),
        };
        if let Err(error) = written {
            let target = target.display();
            eprintln!("scopehold: warning: cannot write the JSON summary to {target}: {error}");
        }
    }
}

pub fn millis(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}
