//! The check `audit log` and `secret list` make of the records they show:
//! the same verification as `audit verify` (chain, record MACs when the key
//! is at hand, the local checkpoint), run with the same streaming verifier,
//! and its verdict in the same words. On damage the command still prints
//! what it read, then ends with the warning and `audit verify`'s exit code.
//!
//! Only an `INVALID` verdict (tampered, truncated, rewritten, forged) is
//! called damage here: an intact chain no checkpoint authenticates (no key
//! at hand) or a torn last line (a crash; the next append recovers it) is
//! `audit verify`'s to report.

use std::path::Path;

use crate::audit::{self, AnchorSource, Checkpoint, CheckpointKey, Verdict};
use crate::commands::audit_verify::{exit_for, summary};
use crate::state_dir::StateDir;

/// The verdict's warning and exit code, or `None` when the log is intact.
pub struct LogWarning {
    pub text: String,
    pub code: u8,
}

/// Verifies the log in `dir` with `key` (if any): `None` when nothing is
/// wrong with it.
pub fn check(dir: &StateDir, key: Option<&CheckpointKey>) -> anyhow::Result<Option<LogWarning>> {
    let mut checkpoints = Vec::new();
    if let Some(local) = Checkpoint::load(&dir.checkpoint())? {
        checkpoints.push((AnchorSource::Local, local));
    }
    let result = audit::verify_anchored(&dir.audit_log(), checkpoints, key)?;
    if result.verdict != Verdict::Invalid {
        return Ok(None);
    }
    let mut text = format!("the audit log does not verify: {}", summary(&result));
    if let Some(problem) = &result.report.first_problem {
        text.push_str(&format!("\n  FAILED: {problem}"));
    }
    Ok(Some(LogWarning {
        text,
        code: exit_for(result.verdict),
    }))
}

/// The key for [`check`] without asking at a terminal: from a key file, or
/// a passphrase in the environment.
pub fn quiet_key(dir: &Path) -> Option<CheckpointKey> {
    let ask = &crate::store::passphrase::from_env_only;
    let store = crate::store::Store::open_unchecked(dir, ask).ok()?;
    Some(CheckpointKey::from_store(&store))
}

/// Prints the warning last (after everything read was shown) and returns
/// the exit code: `ok` when the log verified.
pub fn finish(warning: Option<LogWarning>, ok: u8) -> u8 {
    match warning {
        None => ok,
        Some(warning) => {
            eprintln!("warning: {}", warning.text);
            eprintln!("hint: run `runner audit verify` for the full report");
            warning.code
        }
    }
}
