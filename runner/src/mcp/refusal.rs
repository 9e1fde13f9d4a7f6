//! The `tool.refused` record: a call that did not run (an unknown tool, a
//! tool that may not run now, bad arguments, an unreadable tasks.toml, a run
//! the exec operation refused or failed) still leaves a record, so every
//! call is in the log: `tool.call` with its run, or this.
//!
//! Recording is best effort, as for `exec.refused`: the call is answered
//! with an error either way, and a state dir without a log (no `init`) has
//! nowhere to record it; a failure to record is a line on stderr. The
//! record holds the tool name as sent, the client's self-description and
//! the error the client was given: nothing was resolved, so no secret.

use rmcp::model::ErrorData;

use super::Setup;
use crate::audit::{AuditLog, Event, Token};
use crate::exec::{ToolCaller, clip_field};

/// Why a call did not run, as the record's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    /// tasks.toml could not be loaded.
    BadPolicy,
    UnknownTool,
    /// The tool may not run now (unpinned, unknown agent, a code tool whose
    /// agent takes no script, no interpreter).
    Unavailable,
    BadInput,
    /// The exec operation refused the run (an `exec.refused` precedes).
    NotStarted,
    /// The runner failed the call.
    Failed,
}

impl Reason {
    fn token(self) -> &'static str {
        match self {
            Reason::BadPolicy => "bad-policy",
            Reason::UnknownTool => "unknown-tool",
            Reason::Unavailable => "unavailable",
            Reason::BadInput => "bad-input",
            Reason::NotStarted => "not-started",
            Reason::Failed => "failed",
        }
    }
}

/// A call answered with an error, and why.
pub(super) struct Refusal {
    pub reason: Reason,
    /// The tool's agent; empty when the tool is unknown.
    pub agent: String,
    pub error: ErrorData,
}

impl Refusal {
    /// Records the refusal of `caller`'s call and gives back its error.
    pub(super) fn record(self, setup: &Setup, caller: &ToolCaller) -> ErrorData {
        let event = Event::ToolRefused {
            tool: clip_field(&caller.tool),
            as_agent: clip_field(&self.agent),
            client: clip_field(&caller.client),
            client_version: clip_field(&caller.client_version),
            reason: Token::new(self.reason.token()).expect("refusal reasons are valid tokens"),
            detail: clip_field(&self.error.message),
        };
        let append = || -> anyhow::Result<()> {
            let dir = crate::home::locate(setup.home.as_deref())?;
            crate::home::open(&dir)?;
            AuditLog::open(&dir)?.append_unsynced(event)?;
            Ok(())
        };
        if let Err(failure) = append() {
            eprintln!(
                "scopehold: warning: the refused tool call could not be recorded: {failure:#}"
            );
        }
        self.error
    }
}
