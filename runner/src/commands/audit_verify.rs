//! `runner audit verify [--anchor FILE-or-STRING] [--json]`: prove the log
//! intact and anchored, or name the first bad record.
//!
//! Output follows CloudTrail's `validate-logs`: the range validated,
//! `n/m records valid`, each checkpoint's outcome, the first failure with
//! seq, line and reason, then `result: ...`. Exit codes: 0 intact and
//! anchored, 1 invalid (tampered, truncated, rewritten, forged checkpoint),
//! 2 usage or I/O error, 3 intact but unanchored or ending in a torn line or
//! an interrupted rotation. A rotated log is checked across all its segment
//! files; a failure names the file and line.

use std::path::Path;

use anyhow::Context;
use clap::Args;
use serde_json::json;

use crate::audit::{
    self, AnchorCheck, AnchorOutcome, AnchorSource, Anchored, Checkpoint, CheckpointKey,
    ProblemKind, Verdict,
};
use crate::cli::Global;
use crate::exit_code;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct AuditVerify {
    /// Exported checkpoints (from `runner audit head`): a file of such lines
    /// (each one for this log is checked), or one line itself
    #[arg(long, value_name = "FILE-or-STRING")]
    pub anchor: Option<String>,
    /// Print one JSON object for machines
    #[arg(long)]
    pub json: bool,
}

impl AuditVerify {
    pub fn execute(&self, global: &Global) -> anyhow::Result<u8> {
        match self.run(global) {
            Ok(code) => Ok(code),
            Err(error) => {
                crate::report::print_error(&error);
                Ok(exit_code::USAGE)
            }
        }
    }

    fn run(&self, global: &Global) -> anyhow::Result<u8> {
        let dir = global.open_reading()?;
        let exported = self.anchor.as_deref().map(parse_anchor).transpose()?;
        let (key, key_note) = checkpoint_key(&dir);
        let mut checkpoints = Vec::new();
        if let Some(local) = Checkpoint::load(&dir.checkpoint())? {
            checkpoints.push((AnchorSource::Local, local));
        }
        for anchor in exported.into_iter().flatten() {
            checkpoints.push((AnchorSource::Exported, anchor));
        }
        let path = dir.audit_log();
        let result = audit::verify_anchored(&path, checkpoints, key.as_ref())?;
        let key_note = key_note.or_else(|| foreign_store(&result, key.as_ref()));
        match self.json {
            true => println!("{}", to_json(&path, &result, key_note.as_deref())),
            false => print_human(&path, &result, key_note.as_deref()),
        }
        Ok(exit_for(result.verdict))
    }
}

const ANCHOR_HINT: &str = "an anchor is a line printed by `runner audit head` \
    (`scopehold-audit-checkpoint v1 log=.. size=.. head=.. time=.. mac=..`), or a file of such \
    lines: `runner audit head >> anchors.txt` appends one";

/// `--anchor` is one checkpoint line itself or a file of them (one per line;
/// blank lines and `#` comments are skipped).
pub(crate) fn parse_anchor(arg: &str) -> anyhow::Result<Vec<Checkpoint>> {
    if arg.trim_start().starts_with("scopehold-audit-checkpoint ") {
        let anchor =
            Checkpoint::parse(arg).map_err(|reason| refused(format!("--anchor: {reason}")))?;
        return Ok(vec![anchor]);
    }
    let path = Path::new(arg);
    if !path.exists() {
        return Err(refused(format!(
            "--anchor {arg:?} is neither an anchor line nor an existing file"
        )));
    }
    let bytes = crate::input::read_regular(path, crate::input::MAX_ANCHOR_BYTES)
        .with_context(|| format!("cannot read anchor {arg}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let lines = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'));
    let anchors = lines
        .map(|(n, line)| {
            Checkpoint::parse(line)
                .map_err(|reason| refused(format!("anchor file {arg}, line {}: {reason}", n + 1)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    match anchors.is_empty() {
        true => Err(refused(format!("anchor file {arg} holds no anchor line"))),
        false => Ok(anchors),
    }
}

fn refused(message: String) -> anyhow::Error {
    crate::report::Refused {
        message,
        hint: Some(ANCHOR_HINT.into()),
    }
    .into()
}

/// The MAC keys from the store; without them the chain is still checked.
/// The store is opened without its rollback check against this log: the
/// keys come from the store file and key as they are (their own MAC is
/// checked), and the log is what is being verified (a rolled-back store or
/// a forged log must not hide forged records by withholding the key).
pub(crate) fn checkpoint_key(dir: &Path) -> (Option<CheckpointKey>, Option<String>) {
    match Store::open_unchecked(dir, &crate::store::passphrase::current) {
        Ok(store) => (Some(CheckpointKey::from_store(&store)), None),
        Err(error) => (
            None,
            Some(format!(
                "the store could not be opened ({error}); checkpoints cannot be authenticated"
            )),
        ),
    }
}

/// A note when the store in the state dir is not the one the log was begun
/// with (another state dir's key and store file put in place).
fn foreign_store(result: &Anchored, key: Option<&CheckpointKey>) -> Option<String> {
    let ours = key?.store_id()?;
    let logs = result.report.store.as_deref()?;
    (ours != logs).then(|| {
        format!(
            "this log belongs to store {logs}, but the store in the state dir is store {ours}: \
             a store from elsewhere was put in place; its key cannot vouch for this log"
        )
    })
}

pub(crate) fn exit_for(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Intact => exit_code::OK,
        Verdict::Invalid => exit_code::FAILURE,
        Verdict::Unanchored | Verdict::Torn => exit_code::AUDIT_UNANCHORED,
    }
}

fn print_human(path: &Path, result: &Anchored, key_note: Option<&str>) {
    let report = &result.report;
    let log = report
        .log
        .map(|l| l.to_string())
        .unwrap_or("unknown".into());
    println!("audit log {} (log id {log})", path.display());
    if report.segments > 1 {
        println!(
            "{} segment files: {} sealed and the active one",
            report.segments,
            report.segments - 1
        );
    }
    if result.missing {
        println!("FAILED: the log file is missing, but a checkpoint says it existed");
    }
    match report.records {
        0 => println!("validated no records"),
        n => println!("validated records seq 0 to seq {}", n - 1),
    }
    println!("{}/{} records valid", report.records, report.lines);
    if let Some(head) = report.head {
        println!("head {head}");
    }
    for check in &result.checks {
        println!("{}", describe_check(check));
    }
    if !result.other_logs.is_empty() {
        println!(
            "{} anchor(s) in the file are for other logs, not checked (the file also holds \
             anchors for this log)",
            result.other_logs.len()
        );
    }
    if let Some(note) = key_note {
        println!("note: {note}");
    }
    if let Some(note) = authentication_note(result) {
        println!("{note}");
    }
    if let Some(back) = report.time_back {
        println!(
            "note: {} record(s) are timed before the record preceding them (first: seq {}): \
             the clock was set back while they were written",
            back.count, back.first_seq
        );
    }
    if let Some(problem) = &report.first_problem {
        println!("FAILED: {problem}");
    }
    println!("result: {}", summary(result));
}

/// Which records a record MAC vouches for, and how many trailing ones
/// nothing does.
fn authentication_note(result: &Anchored) -> Option<String> {
    let report = &result.report;
    if result.verdict == Verdict::Invalid {
        return None;
    }
    let macs = match report.authenticated {
        Some(seq) => format!("record MACs authenticate records seq 0 to seq {seq}"),
        None => "no record MAC could be checked".into(),
    };
    Some(match result.unauthenticated {
        0 => format!("{macs}; every record is authenticated"),
        n => format!(
            "{macs}; the last {n} record(s) are NOT authenticated: neither a record MAC nor a \
             trusted checkpoint covers them (chained, but anyone who can write the state dir \
             could have appended them, and cutting them off would not show)"
        ),
    })
}

pub(crate) fn summary(result: &Anchored) -> String {
    match result.verdict {
        Verdict::Intact if result.unauthenticated == 0 => "INTACT (anchored)".into(),
        Verdict::Intact => format!(
            "INTACT (anchored up to seq {}; the last {} record(s) unauthenticated)",
            result.report.records - result.unauthenticated - 1,
            result.unauthenticated
        ),
        Verdict::Torn => match result.report.first_problem.as_ref().map(|p| &p.kind) {
            Some(ProblemKind::RotationInterrupted) => {
                "TORN: intact up to an interrupted rotation; the next append finishes it".into()
            }
            _ => "TORN: intact up to an interrupted append; the next append recovers it".into(),
        },
        Verdict::Unanchored => "UNANCHORED: the chain is intact, but no authenticated checkpoint \
            shows that no records were cut off or rewritten (see `runner audit head`)"
            .into(),
        Verdict::Invalid => {
            let failed = result.checks.iter().find(|c| c.outcome.is_failure());
            match failed.map(|c| &c.outcome) {
                Some(AnchorOutcome::Truncated { .. }) => "INVALID: TRUNCATED".into(),
                Some(AnchorOutcome::OtherLog { .. })
                    if failed.is_some_and(|c| c.source == AnchorSource::Exported) =>
                {
                    "INVALID: OTHER LOG (no anchor given is for this log)".into()
                }
                Some(AnchorOutcome::Rewritten | AnchorOutcome::OtherLog { .. }) => {
                    "INVALID: REWRITTEN".into()
                }
                Some(AnchorOutcome::Forged) => "INVALID: FORGED CHECKPOINT".into(),
                _ if matches!(
                    result.report.first_problem.as_ref().map(|p| &p.kind),
                    Some(ProblemKind::ForgedRecord { .. })
                ) =>
                {
                    "INVALID: FORGED (a record without a valid MAC)".into()
                }
                _ => "INVALID: TAMPERED".into(),
            }
        }
    }
}

fn describe_check(check: &AnchorCheck) -> String {
    let cp = &check.checkpoint;
    let source = match check.source {
        AnchorSource::Local => "local checkpoint",
        AnchorSource::Exported => "anchor",
    };
    let auth = match check.authentic {
        Some(true) => "authenticated",
        Some(false) => "NOT AUTHENTIC",
        None => "not authenticated",
    };
    let what = match &check.outcome {
        AnchorOutcome::Matches => "matches the log's head".into(),
        AnchorOutcome::Extends { beyond } => match check.source {
            // The local checkpoint follows synced records only; the ones
            // after it released nothing (see docs/audit-format.md).
            AnchorSource::Local => format!(
                "found in the log; {beyond} record(s) appended since, not covered by it \
                 (the checkpoint follows synced records; the next one, or `runner audit \
                 head`, covers them)"
            ),
            AnchorSource::Exported => {
                format!("found in the log; {beyond} record(s) appended since")
            }
        },
        AnchorOutcome::Truncated { records } => format!(
            "TRUNCATED: the log holds {records} intact record(s), the checkpoint {}",
            cp.size
        ),
        AnchorOutcome::Rewritten => format!(
            "REWRITTEN: record seq {} does not hash to the checkpoint's head",
            cp.size - 1
        ),
        AnchorOutcome::OtherLog { found } => match (check.source, found) {
            (AnchorSource::Exported, Some(found)) => format!(
                "OTHER LOG: anchor is for log {}, this is log {found} (an anchor of another \
                 state dir, or this log was replaced by another one)",
                cp.log
            ),
            _ => format!(
                "REWRITTEN: the checkpoint is for log {}; the file is another log",
                cp.log
            ),
        },
        AnchorOutcome::Forged => "FORGED: its MAC does not verify with this store's key".into(),
        AnchorOutcome::Unchecked => "not compared: the chain breaks before its size".into(),
    };
    let ts = crate::age::show(cp.ts);
    format!("{source} (size {}, {ts}, {auth}): {what}", cp.size)
}

fn to_json(path: &Path, result: &Anchored, key_note: Option<&str>) -> serde_json::Value {
    let report = &result.report;
    let problem = report.first_problem.as_ref().map(|p| {
        json!({ "file": p.file, "line": p.line, "seq": p.seq, "expected_seq": p.expected_seq,
                "tampering": p.kind.is_tampering(), "code": p.kind.code(),
                "reason": p.kind.to_string() })
    });
    let checks: Vec<_> = result
        .checks
        .iter()
        .map(|c| {
            json!({ "source": match c.source { AnchorSource::Local => "local", AnchorSource::Exported => "anchor" },
                    "size": c.checkpoint.size, "head": c.checkpoint.head.to_string(),
                    "log": c.checkpoint.log.to_string(), "authentic": c.authentic,
                    "outcome": c.outcome.code() })
        })
        .collect();
    json!({
        "path": path.display().to_string(),
        "log": report.log.map(|l| l.to_string()),
        "missing": result.missing,
        "records_valid": report.records,
        "lines": report.lines,
        "segments": report.segments,
        "head": report.head.map(|h| h.to_string()),
        "checkpoints": checks,
        "other_log_anchors": result.other_logs.len(),
        "first_problem": problem,
        "authenticated_through": report.authenticated,
        "unauthenticated": result.unauthenticated,
        "time_back": report.time_back.map(|b| json!({"first_seq": b.first_seq, "count": b.count})),
        "note": key_note,
        "verdict": result.verdict.code(),
    })
}
