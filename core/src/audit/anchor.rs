//! Verifying a log against checkpoints: the local one the writer keeps and an
//! exported one (an anchor) the operator kept elsewhere.
//!
//! Guarantees: a log with fewer records than a checkpoint is TRUNCATED; a log
//! whose record at the checkpoint's size hashes differently, or whose log id
//! differs, is REWRITTEN; a checkpoint whose MAC fails is FORGED. The verdict
//! is `Intact` only if the chain is intact *and* at least one trusted
//! checkpoint matches it; an intact chain with no trusted checkpoint is
//! `Unanchored`, never plain intact.

use std::path::Path;

use super::AuditError;
use super::checkpoint::{Checkpoint, CheckpointKey};
use super::ids::LogId;
use super::verify::{Problem, ProblemKind, VerifyReport, verify_keyed};

/// Where a checkpoint came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorSource {
    /// `audit.checkpoint` in the state dir: trusted only if its MAC checks.
    Local,
    /// Given with `--anchor`: trusted because the operator kept it elsewhere.
    Exported,
}

/// How the log relates to one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorOutcome {
    /// The log ends exactly at the checkpoint.
    Matches,
    /// The checkpoint's head is in the log, followed by `beyond` more records.
    Extends { beyond: u64 },
    /// The log holds `records` intact records, fewer than the checkpoint.
    Truncated { records: u64 },
    /// The record at the checkpoint's size hashes differently: rewritten or forked.
    Rewritten,
    /// The log has another log id (replaced by another log), or none.
    OtherLog { found: Option<LogId> },
    /// The MAC does not verify with this store's key.
    Forged,
    /// The chain breaks before the checkpoint's size, so it cannot be compared.
    Unchecked,
}

impl AnchorOutcome {
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            AnchorOutcome::Truncated { .. }
                | AnchorOutcome::Rewritten
                | AnchorOutcome::OtherLog { .. }
                | AnchorOutcome::Forged
        )
    }

    /// Short code for `--json` and test vectors.
    pub fn code(&self) -> &'static str {
        match self {
            AnchorOutcome::Matches => "matches",
            AnchorOutcome::Extends { .. } => "extends",
            AnchorOutcome::Truncated { .. } => "truncated",
            AnchorOutcome::Rewritten => "rewritten",
            AnchorOutcome::OtherLog { .. } => "other-log",
            AnchorOutcome::Forged => "forged",
            AnchorOutcome::Unchecked => "unchecked",
        }
    }
}

/// One checkpoint compared with the log.
#[derive(Debug, Clone)]
pub struct AnchorCheck {
    pub source: AnchorSource,
    pub checkpoint: Checkpoint,
    /// `None`: no key (the store could not be opened), MAC not checked.
    pub authentic: Option<bool>,
    pub outcome: AnchorOutcome,
}

impl AnchorCheck {
    /// Whether a match with this checkpoint proves anything.
    fn trusted(&self) -> bool {
        self.source == AnchorSource::Exported || self.authentic == Some(true)
    }
}

/// The overall result, one per exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Chain intact and a trusted checkpoint matches.
    Intact,
    /// Tampering, truncation, rewriting or a forged checkpoint.
    Invalid,
    /// Chain intact but no trusted checkpoint to show nothing was cut or rewritten.
    Unanchored,
    /// Intact up to an interrupted append (a torn last line).
    Torn,
}

impl Verdict {
    pub fn code(&self) -> &'static str {
        match self {
            Verdict::Intact => "intact",
            Verdict::Invalid => "invalid",
            Verdict::Unanchored => "unanchored",
            Verdict::Torn => "torn",
        }
    }
}

/// A log verified against its checkpoints.
#[derive(Debug, Clone)]
pub struct Anchored {
    pub report: VerifyReport,
    /// The log file does not exist.
    pub missing: bool,
    pub checks: Vec<AnchorCheck>,
    pub verdict: Verdict,
    /// Intact records at the end that neither a valid record MAC nor a
    /// trusted checkpoint covers: chained, but anyone who can write the
    /// file could have appended them, and cutting them off is undetectable.
    pub unauthenticated: u64,
    /// Exported anchors for other logs, set aside because at least one
    /// exported anchor is for this log (an anchor file collects the heads of
    /// every log its owner kept, e.g. before a fresh `init`).
    pub other_logs: Vec<Checkpoint>,
}

/// Records after the last one a valid MAC or a trusted checkpoint vouches for.
fn unauthenticated(report: &VerifyReport, checks: &[AnchorCheck]) -> u64 {
    let anchored = checks
        .iter()
        .filter(|c| {
            c.trusted()
                && matches!(
                    c.outcome,
                    AnchorOutcome::Matches | AnchorOutcome::Extends { .. }
                )
        })
        .map(|c| c.checkpoint.size);
    let covered = report
        .authenticated
        .map(|seq| seq + 1)
        .into_iter()
        .chain(anchored)
        .max()
        .unwrap_or(0);
    report.records.saturating_sub(covered)
}

/// Verifies the log at `path` and compares it with each checkpoint.
pub fn verify_anchored(
    path: &Path,
    checkpoints: Vec<(AnchorSource, Checkpoint)>,
    key: Option<&CheckpointKey>,
) -> Result<Anchored, AuditError> {
    let wanted: Vec<u64> = checkpoints.iter().map(|(_, cp)| cp.size - 1).collect();
    let record_key = key.map(CheckpointKey::record);
    let (mut report, missing) = match verify_keyed(path, &wanted, record_key) {
        Ok(report) => (report, false),
        // A missing log is evidence only if a checkpoint says it existed.
        Err(AuditError::NotFound { .. }) if !checkpoints.is_empty() => (missing_report(), true),
        Err(error) => return Err(error),
    };
    // An empty log is an interrupted `init` only if nothing vouches that it
    // ever held records; with a checkpoint it is a log cut to nothing.
    if !checkpoints.is_empty()
        && let Some(problem) = report.first_problem.as_mut()
        && problem.kind == ProblemKind::InitInterrupted
    {
        problem.kind = ProblemKind::Empty;
    }
    let (checkpoints, other_logs) = applicable(checkpoints, report.log);
    let checks: Vec<AnchorCheck> = checkpoints
        .into_iter()
        .map(|(source, checkpoint)| check(&report, source, checkpoint, key))
        .collect();
    let verdict = judge(&report, &checks);
    let unauthenticated = unauthenticated(&report, &checks);
    Ok(Anchored {
        report,
        missing,
        checks,
        verdict,
        unauthenticated,
        other_logs,
    })
}

/// Splits off exported anchors for other logs when some exported anchor is
/// for this one. When none is, they all stay and each fails as
/// [`AnchorOutcome::OtherLog`]: the log was replaced (or the anchor file is
/// another state dir's), which must never pass as intact.
fn applicable(
    checkpoints: Vec<(AnchorSource, Checkpoint)>,
    log: Option<LogId>,
) -> (Vec<(AnchorSource, Checkpoint)>, Vec<Checkpoint>) {
    let ours = |(source, cp): &(AnchorSource, Checkpoint)| {
        *source == AnchorSource::Exported && Some(cp.log) == log
    };
    if !checkpoints.iter().any(ours) {
        return (checkpoints, Vec::new());
    }
    let (keep, other): (Vec<_>, Vec<_>) = checkpoints
        .into_iter()
        .partition(|entry| entry.0 == AnchorSource::Local || ours(entry));
    (keep, other.into_iter().map(|(_, cp)| cp).collect())
}

fn missing_report() -> VerifyReport {
    VerifyReport {
        records: 0,
        head: None,
        log: None,
        first_problem: Some(Problem {
            file: super::AUDIT_FILE.into(),
            line: 1,
            seq: None,
            expected_seq: 0,
            kind: ProblemKind::Empty,
        }),
        lines: 0,
        segments: 0,
        marks: Vec::new(),
        authenticated: None,
        time_back: None,
        store: None,
    }
}

fn check(
    report: &VerifyReport,
    source: AnchorSource,
    checkpoint: Checkpoint,
    key: Option<&CheckpointKey>,
) -> AnchorCheck {
    // An exported anchor of another log was sealed with another store's
    // key: its MAC cannot check here, and "forged" would mislead.
    let other_log =
        source == AnchorSource::Exported && report.log.is_some_and(|log| log != checkpoint.log);
    let authentic = key
        .filter(|_| !other_log)
        .map(|key| checkpoint.is_authentic(key));
    let outcome = if other_log {
        AnchorOutcome::OtherLog { found: report.log }
    } else if authentic == Some(false) {
        AnchorOutcome::Forged
    } else {
        compare(report, &checkpoint)
    };
    AnchorCheck {
        source,
        checkpoint,
        authentic,
        outcome,
    }
}

fn compare(report: &VerifyReport, cp: &Checkpoint) -> AnchorOutcome {
    let breaks_chain = report
        .first_problem
        .as_ref()
        .is_some_and(|p| p.kind.is_tampering() && p.kind != ProblemKind::Empty);
    match report.log {
        Some(log) if log != cp.log => return AnchorOutcome::OtherLog { found: Some(log) },
        None if breaks_chain => return AnchorOutcome::Unchecked,
        _ => {}
    }
    if report.records < cp.size {
        return match breaks_chain {
            true => AnchorOutcome::Unchecked,
            false => AnchorOutcome::Truncated {
                records: report.records,
            },
        };
    }
    let at_size = report.marks.iter().find(|(seq, _)| *seq == cp.size - 1);
    match at_size {
        Some((_, hash)) if *hash == cp.head && report.records == cp.size => AnchorOutcome::Matches,
        Some((_, hash)) if *hash == cp.head => AnchorOutcome::Extends {
            beyond: report.records - cp.size,
        },
        _ => AnchorOutcome::Rewritten,
    }
}

fn judge(report: &VerifyReport, checks: &[AnchorCheck]) -> Verdict {
    let problem = report.first_problem.as_ref().map(|p| &p.kind);
    if checks.iter().any(|c| c.outcome.is_failure()) || problem.is_some_and(|k| k.is_tampering()) {
        return Verdict::Invalid;
    }
    if problem.is_some() {
        return Verdict::Torn;
    }
    let anchored = checks.iter().any(|c| {
        c.trusted()
            && matches!(
                c.outcome,
                AnchorOutcome::Matches | AnchorOutcome::Extends { .. }
            )
    });
    match anchored {
        true => Verdict::Intact,
        false => Verdict::Unanchored,
    }
}
