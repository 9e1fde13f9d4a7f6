//! Approval grants (`approve = true`): the first resolution of such a
//! secret in a run waits for a person to allow it.
//!
//! Guarantees:
//! - The question goes through the [`Approver`] trait; the runner's own is
//!   [`TerminalApprover`] (the controlling terminal), and a daemon can route
//!   the question elsewhere by implementing the trait
//!   ([`Broker::set_approver`]).
//! - Nothing is decrypted or released before the answer; a request with no
//!   one to ask is denied (`approval-unavailable`), a refusal or a timeout
//!   denies it (`approval-refused`, `approval-timed-out`).
//! - Every answer a person gave (or failed to give in time) is recorded as
//!   `secret.approve`, with who answered, durable before the value is
//!   released or the denial recorded; an answer that cannot be recorded
//!   releases nothing.
//! - Nobody waits past the run's own `timeout` limit ([`Question::deadline`]):
//!   a task stopped mid-question never gets a value released to it.
//! - An answer holds for the rest of the run: the task cannot ask again
//!   after a refusal, so it cannot pester the person into a yes.

use std::time::{Duration, Instant};

use super::denial::{Denial, denial};
use super::{Broker, Refusal, RunIdentity};
use crate::audit::{Event, Hash, Token};
use crate::names::SecretName;

pub use super::tty_approver::{DEFAULT_TIMEOUT, TIMEOUT_ENV, TerminalApprover};

/// What a person is asked: everything they need to decide, no value.
#[derive(Debug, Clone)]
pub struct Question {
    pub identity: RunIdentity,
    pub secret: SecretName,
    /// blake3 of the component that asks.
    pub component: Hash,
    /// When the run's `timeout` limit stops the task: an answer after it
    /// would come too late, so no approver waits past it.
    pub deadline: Instant,
}

/// How a person answered a question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Refused,
    /// Nobody answered within the approver's timeout.
    TimedOut,
}

impl Verdict {
    /// The `outcome` of `secret.approve`.
    pub fn token(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Refused => "refused",
            Verdict::TimedOut => "timed-out",
        }
    }

    /// The `secret.deny` reason when the answer is not a yes.
    fn deny_code(self) -> &'static str {
        match self {
            Verdict::Allowed => "approved",
            Verdict::Refused => "approval-refused",
            Verdict::TimedOut => "approval-timed-out",
        }
    }
}

/// Who answered a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answerer {
    pub uid: u32,
    pub user: String,
}

/// An approver's answer.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Nobody could be asked (no terminal): denied, nothing to record, and
    /// asked again at the next request.
    Unavailable,
    /// A person was asked: the verdict, and who answered.
    Given { verdict: Verdict, by: Answerer },
}

/// Asks a person whether a run may use a secret. Blocks until an answer or
/// the approver's own timeout.
pub trait Approver: Send {
    fn ask(&self, question: &Question) -> Answer;
}

impl Broker {
    /// Routes approval questions to `approver` instead of the terminal.
    pub fn set_approver(&mut self, approver: Box<dyn Approver + Send>) {
        self.approver = approver;
    }

    /// The blake3 of the running component, shown in approval questions.
    pub fn set_component(&mut self, component: Hash) {
        self.component = component;
    }

    /// `Ok` once a person allowed `secret` in this run (asking them the
    /// first time); else the denial to record.
    pub(super) fn approved(&mut self, secret: &SecretName) -> Result<(), Denial> {
        let verdict = match self.approvals.get(secret) {
            Some(verdict) => *verdict,
            None => self.ask(secret)?,
        };
        if verdict == Verdict::Allowed {
            return Ok(());
        }
        let detail = format!(
            "the approval of {secret} was {} in this run",
            verdict.token()
        );
        Err(denial(secret, verdict.deny_code(), detail, Refusal::Denied))
    }

    /// Asks the approver and records the answer.
    fn ask(&mut self, secret: &SecretName) -> Result<Verdict, Denial> {
        let question = Question {
            identity: self.identity.clone(),
            secret: secret.clone(),
            component: self.component,
            deadline: self.deadline,
        };
        let Answer::Given { verdict, by } = self.approver.ask(&question) else {
            let detail = format!(
                "the grant of {secret} needs a person's approval and there is no terminal to ask at"
            );
            return Err(denial(
                secret,
                "approval-unavailable",
                detail,
                Refusal::Denied,
            ));
        };
        self.record_answer(&question, verdict, by)?;
        self.approvals.insert(secret.clone(), verdict);
        Ok(verdict)
    }

    fn record_answer(
        &mut self,
        q: &Question,
        verdict: Verdict,
        by: Answerer,
    ) -> Result<(), Denial> {
        let RunIdentity {
            run,
            agent,
            project,
        } = q.identity.clone();
        let event = Event::SecretApprove {
            run,
            agent,
            project,
            secret: q.secret.clone(),
            component: q.component,
            outcome: Token::new(verdict.token()).expect("verdict tokens are valid"),
            by_uid: by.uid,
            by_user: by.user,
        };
        self.anchor_if_possible();
        self.audit.append(event).map_err(|error| {
            let detail = format!("the approval could not be recorded: {error}");
            denial(&q.secret, "audit-error", detail, Refusal::Unavailable)
        })?;
        Ok(())
    }
}

/// The approval timeout: `SCOPEHOLD_APPROVAL_TIMEOUT` seconds, else
/// [`DEFAULT_TIMEOUT`].
pub fn timeout_from_env() -> Duration {
    std::env::var(TIMEOUT_ENV)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .filter(|secs| (1..=3600).contains(secs))
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs)
}
