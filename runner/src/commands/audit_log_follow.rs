//! `runner audit log --follow`: after the records already there, the ones
//! appended from then on, as `tail -f` shows a file's new lines.
//!
//! The log is verified from its first record as it is followed
//! ([`audit::Follower`]): a record is shown only once it chained on, and on
//! the first one that does not the command stops with `audit verify`'s
//! warning and exit code. It goes on across rotation. SIGINT or SIGTERM
//! (Ctrl-C) end it cleanly: what was read is flushed, exit 0.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use time::OffsetDateTime;

use super::audit_log::AuditLogCmd;
use super::{colour, log_check};
use crate::audit::{self, Event, Follower, Verdict};
use crate::commands::audit_verify::exit_for;
use crate::report::StdoutError;

/// How often the log is looked at for new records.
const POLL: Duration = Duration::from_millis(200);

/// Follows the log in `dir`, printing matching records after seq `shown`
/// (the last one the command already printed or passed over) until a
/// signal, a problem, or a reader that went away.
pub fn follow(
    cmd: &AuditLogCmd,
    dir: &Path,
    shown: Option<u64>,
    mut out: impl Write,
) -> anyhow::Result<u8> {
    let stop = stop_on_signals()?;
    let key = log_check::quiet_key(dir);
    let mut follower = Follower::start(&dir.join(audit::AUDIT_FILE), key.as_ref())?;
    let painting = !cmd.json && colour::on_stdout();
    // Runs that start while followed are still going: not marked unfinished.
    let mut running = HashSet::new();
    loop {
        let mut failed = None;
        let problem = follower.poll(|record| {
            let new = shown.is_none_or(|seq| record.seq > seq);
            if failed.is_some() || !new || !cmd.matches(&record) {
                return;
            }
            if let Event::ExecStart { run, .. } = &record.event {
                running.insert(*run);
            }
            let line = cmd.render(&record, &running, OffsetDateTime::now_utc(), painting);
            failed = writeln!(out, "{line}").err();
        })?;
        if let Some(error) = failed.or_else(|| out.flush().err()) {
            return Err(StdoutError(error).into());
        }
        if let Some(problem) = problem {
            eprintln!("warning: the audit log does not verify: INVALID\n  FAILED: {problem}");
            eprintln!("hint: run `runner audit verify` for the full report");
            return Ok(exit_for(Verdict::Invalid));
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(crate::exit_code::OK);
        }
        std::thread::sleep(POLL);
    }
}

/// A flag SIGINT and SIGTERM set instead of ending the process.
fn stop_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .context("cannot handle SIGINT/SIGTERM to end --follow")?;
    }
    Ok(stop)
}
