//! The audit trail of outgoing requests: `http.request` records and the
//! operator's stderr lines.
//!
//! Guarantees:
//! - An allowed request is recorded (`reason = "sending"`) before it is
//!   sent; if that record cannot be written the request is not sent. Its
//!   answer is recorded once it arrives (`sent` with the status,
//!   `no-response`, or `encoded-response`).
//! - A denial is a security event: written and synced (and anchored once
//!   the store is open), like a resolution.
//! - Every recorded or printed field has each released value and
//!   placeholder masked as a substring (`[REDACTED:name]`,
//!   `[PLACEHOLDER:name]`), then is cut to its cap (`caps.rs`); never
//!   header values or bodies.

use crate::audit::{AuditError, Event, Token};
use crate::broker::{Released, RunIdentity};
use crate::policy::AuditSync;
use crate::state::Chain;

use super::caps::{RECORD_METHOD_BYTES, RECORD_PATH_BYTES, RECORD_TARGET_BYTES, cut};
use super::{Attempt, Denied};

/// What a stderr line shows of a request's method, target and path.
const RECORD_LINE_BYTES: usize = RECORD_METHOD_BYTES + RECORD_TARGET_BYTES + RECORD_PATH_BYTES;

/// Writes a run's `http.request` records; cheap to clone into a request's
/// future.
#[derive(Clone)]
pub(crate) struct Recorder {
    pub audit: Chain,
    pub who: RunIdentity,
    pub sync: AuditSync,
    pub released: Released,
}

impl Recorder {
    /// Tells the operator and records a denial, synced.
    pub fn denied(&self, attempt: &Attempt, denied: &Denied) {
        let scrub = |text: &str| self.released.scrub(text);
        crate::broker::notice::say(&format!(
            "scopehold: HTTP request denied to agent {}: {}: {}",
            self.who.agent,
            cut(&scrub(&attempt.line()), RECORD_LINE_BYTES),
            scrub(&denied.detail)
        ));
        if let Some(hint) = &denied.hint {
            crate::broker::notice::say(&format!("scopehold: hint: {}", scrub(hint)));
        }
        let event = self.event(attempt, "denied", denied.reason, 0);
        if let Err(error) = self.audit.append(event) {
            crate::broker::notice::say(&format!(
                "scopehold: the denied HTTP request could not be recorded: {error}"
            ));
        }
    }

    /// Records a request about to be sent; `Err` (and a line on stderr) if
    /// it cannot be, and then it must not be sent.
    pub fn sending(&self, attempt: &Attempt) -> Result<(), AuditError> {
        let event = self.event(attempt, "allowed", "sending", 0);
        // A request carrying a key is synced like the key's resolution.
        let written = match (self.sync, attempt.injected.is_empty()) {
            (AuditSync::Releases, true) => self.audit.append_unsynced(event),
            _ => self.audit.append(event),
        };
        written.map(drop).inspect_err(|error| {
            crate::broker::notice::say(&format!(
                "scopehold: HTTP request not sent: it could not be recorded first: {error}"
            ));
        })
    }

    /// Records what came back for a request recorded as `sending`.
    pub fn answered(&self, attempt: &Attempt, decision: &str, reason: &str, status: u16) {
        let event = self.event(attempt, decision, reason, status);
        // A refused answer is a denial: synced like one.
        let written = match (self.sync, decision) {
            (AuditSync::Releases, "allowed") => self.audit.append_unsynced(event),
            _ => self.audit.append(event),
        };
        if let Err(error) = written {
            crate::broker::notice::say(&format!(
                "scopehold: the answer to an HTTP request could not be recorded: {error}"
            ));
        }
    }

    fn event(&self, attempt: &Attempt, decision: &str, reason: &str, status: u16) -> Event {
        let scrub = |text: &str, max| cut(&self.released.scrub(text), max);
        let injected: Vec<&str> = attempt.injected.iter().map(|s| s.as_str()).collect();
        Event::HttpRequest {
            run: self.who.run,
            agent: self.who.agent.clone(),
            project: self.who.project.clone(),
            method: scrub(&attempt.method, RECORD_METHOD_BYTES),
            target: scrub(&attempt.to.to_string(), RECORD_TARGET_BYTES),
            path: scrub(&attempt.path, RECORD_PATH_BYTES),
            decision: Token::new(decision).expect("decisions are valid tokens"),
            reason: Token::new(reason).expect("reason codes are valid tokens"),
            injected: injected.join(","),
            status,
        }
    }
}
