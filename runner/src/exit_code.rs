//! The runner's documented exit codes.
//!
//! `runner exec` exits with the task's own code; the runner's own outcomes use
//! codes a task rarely picks, chosen to match common shell conventions
//! (`timeout` uses 124, `env`/`nohup` use 125 and 126).

/// Success.
pub const OK: u8 = 0;
/// A command failed (for `audit verify`: the log is not intact).
pub const FAILURE: u8 = 1;
/// Bad command line (unknown flag, missing argument); for `audit verify`
/// also: the log could not be read.
pub const USAGE: u8 = 2;
/// `audit verify`: the chain is intact but no authenticated checkpoint
/// anchors it, or it ends in a torn line (an interrupted append).
pub const AUDIT_UNANCHORED: u8 = 3;
/// `exec`: the audit log refused the append (it no longer holds what its
/// checkpoint vouches for: records cut off, rewritten or replaced; or the
/// clock is behind it), so the task was not started or got no secret; run
/// `runner audit verify`.
pub const AUDIT_REFUSED: u8 = 118;
/// The task made more outgoing HTTP requests than `requests` allows.
pub const LIMIT_REQUESTS: u8 = 119;
/// The task passed its `memory` limit (all memories and tables together).
pub const LIMIT_MEMORY: u8 = 120;
/// The task needed more core instances, memories or tables than `instances`.
pub const LIMIT_INSTANCES: u8 = 121;
/// The task called `get-secret` more often than `secret_calls` allows.
pub const LIMIT_SECRET_CALLS: u8 = 122;
/// The task wrote more than `output` bytes to stdout and stderr.
pub const LIMIT_OUTPUT: u8 = 123;
/// The task ran past its time limit and was stopped.
pub const TIMEOUT: u8 = 124;
/// The runner itself failed: unreadable policy or audit log, I/O error, a
/// store that became unusable while the task ran.
pub const RUNNER_ERROR: u8 = 125;
/// The task was refused before it started: unknown agent, invalid component,
/// or what would fail the run (a missing directory, a store that cannot be
/// opened: `crate::broker::readiness`);
/// recorded as `exec.refused`.
pub const REFUSED: u8 = 126;
/// `exec`: SIGINT stopped the run (128 + 2, as a shell reports it).
pub const INTERRUPTED: u8 = 130;
/// `exec`: SIGTERM stopped the run (128 + 15).
pub const TERMINATED: u8 = 143;
/// The task trapped (a panic, `unreachable`, an out-of-bounds access).
pub const TRAPPED: u8 = 134;

/// The exit code for a task stopped by `limit` (119–124, one per limit).
pub fn for_limit(limit: crate::policy::Limit) -> u8 {
    use crate::policy::Limit;
    match limit {
        Limit::Memory => LIMIT_MEMORY,
        Limit::Instances => LIMIT_INSTANCES,
        Limit::SecretCalls => LIMIT_SECRET_CALLS,
        Limit::Output => LIMIT_OUTPUT,
        Limit::Timeout => TIMEOUT,
        Limit::Requests => LIMIT_REQUESTS,
    }
}
