//! How a run ended: the `exec.end` record, the exit status, and the
//! runner's own words about a run the task did not end by itself.

use anyhow::Context;

use crate::audit::{Event, RunId, Token};
use crate::broker::{Broker, RunIdentity};
use crate::exit_code;
use crate::sandbox::{Outcome, TaskIo};

/// A run that started and ended (however it ended).
#[derive(Debug)]
pub struct Ended {
    pub run: RunId,
    pub outcome: Outcome,
    /// The process exit status `runner exec` exits with.
    pub exit_code: u8,
    /// The runner's lines about why the task stopped (none when it exited
    /// by itself), as `runner exec` prints them on stderr.
    pub reason: Vec<String>,
    /// The run's streams; captured ones hold the task's redacted output.
    pub io: TaskIo,
}

/// Records how the run ended and picks the process exit code.
pub(super) fn finish(
    broker: &Broker,
    outcome: Outcome,
    elapsed: std::time::Duration,
    io: TaskIo,
) -> anyhow::Result<Ended> {
    let RunIdentity {
        run,
        agent,
        project,
    } = broker.identity().clone();
    let (code, reason) = described(broker, &outcome);
    broker.warn_withheld();
    let event = Event::ExecEnd {
        run,
        agent,
        project,
        exit_code: code,
        duration_ms: crate::commands::exec_summary::millis(elapsed),
        outcome: Token::new(outcome.token()).expect("outcome tokens are valid"),
        repeats: broker.repeats(),
    };
    broker
        .record(event)
        .context("the task finished, but its end could not be recorded")?;
    Ok(Ended {
        run,
        outcome,
        // Exit statuses are 8 bits on Unix; keep the low byte as a shell would.
        exit_code: (code & 0xff) as u8,
        reason,
        io,
    })
}

/// The exit code of the run and the runner's lines about it.
fn described(broker: &Broker, outcome: &Outcome) -> (i32, Vec<String>) {
    let agent = &broker.identity().agent;
    match outcome {
        Outcome::Exited(code) => (*code, Vec::new()),
        Outcome::Trapped(message) => (
            i32::from(exit_code::TRAPPED),
            vec![format!(
                "scopehold: task (agent {agent}) trapped: {message}"
            )],
        ),
        Outcome::Limit(limit) => {
            let value = broker.agent().confinement.limits.show(*limit);
            let lines = vec![
                format!(
                    "scopehold: task (agent {agent}) stopped: it exceeded its {limit} limit ({value})"
                ),
                format!(
                    "scopehold: hint: raise `{limit}` in [agents.{agent}.limits] in tasks.toml if the task needs more"
                ),
            ];
            (i32::from(exit_code::for_limit(*limit)), lines)
        }
        Outcome::Interrupted(signal) => (
            i32::from(signal.exit_code()),
            vec![format!(
                "scopehold: task (agent {agent}) stopped: the runner received {}",
                signal.name()
            )],
        ),
        Outcome::StoreUnusable(failure) => {
            let mut lines = vec![format!(
                "error: the task (agent {agent}) was stopped: {failure}"
            )];
            lines.extend(failure.hint().map(|hint| format!("hint: {hint}")));
            (i32::from(exit_code::RUNNER_ERROR), lines)
        }
    }
}
