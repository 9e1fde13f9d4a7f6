//! The audit log: an append-only, hash-chained JSON Lines file
//! (`audit.jsonl` in the state dir) recording every secret resolution,
//! denial, run and store change.
//!
//! Guarantees:
//! - [`AuditLog::append`] returns only once the record is on disk (written
//!   with one `write`, then `fdatasync`), under an exclusive file lock, so
//!   concurrent runners produce one contiguous chain. Callers release a secret
//!   only after it returns `Ok`: if the record cannot be written, the secret
//!   is not released (fail closed).
//! - Each record carries `prev`, the previous record's hash, and `hash`, a
//!   blake3 (public, domain-separated `derive_key` context) over a binary
//!   encoding of all its fields (never over JSON text). [`verify`] detects
//!   any modified, deleted, inserted, reordered or spliced record and names
//!   the first bad one ([`Problem`]).
//! - Records written while the store key is available also carry `mac`, a
//!   keyed blake3 over the hash with a key derived from the store; kinds the
//!   runner only writes with the key ([`always_keyed`]) without a valid MAC
//!   are forged, and only authenticated records count for the store's
//!   rollback check. Before any append the writer checks that the log still
//!   holds what its checkpoint vouches for and that the clock is not behind
//!   it, and refuses otherwise (no record, no released secret).
//! - An incomplete last line (a crash mid-append) is reported as such, not as
//!   tampering; the next append cuts it off and records a `log.recover`.
//! - Records hold names, versions and digests, never secret values.
//!
//! - A chain alone cannot show that its newest records were cut off or that
//!   the whole file was rewritten: a log opened with [`AuditLog::anchored`]
//!   refreshes an authenticated [`Checkpoint`] after every append, and
//!   [`verify_anchored`] compares the log with it and with exported anchors.
//!
//! The format is specified in `docs/audit-format.md`.

mod anchor;
mod backward;
mod canonical;
mod carry;
mod chain;
mod checkpoint;
mod create;
mod encode;
mod follow;
mod grants;
mod group;
mod guard;
mod ids;
mod lines;
mod mac;
mod policy_events;
mod problem;
mod read;
mod record;
mod remember;
mod rotate;
mod segments;
mod stream;
mod tail;
mod timestamp;
mod verify;
mod verify_end;
mod wire;
mod writer;

#[cfg(test)]
mod tests;

/// The canonical RFC 3339 text of a record time (fixed six fractional digits),
/// for displays that line up with the log itself.
pub use timestamp::format as format_timestamp;

use std::io;
use std::path::PathBuf;

pub use anchor::{AnchorCheck, AnchorOutcome, AnchorSource, Anchored, Verdict, verify_anchored};
pub use carry::{Unreadable, recorded_generation};
pub use checkpoint::{
    CHECKPOINT_CONTEXT, CHECKPOINT_FILE, Checkpoint, CheckpointError, CheckpointKey,
    VERSION as CHECKPOINT_VERSION,
};
pub use encode::{FORMAT_VERSION, HASH_CONTEXT};
pub use follow::Follower;
pub use grants::{
    GRANT_FLAGS, GrantFlag, GrantUse, GrantedBy, Horizon, PolicyGrant, Reader,
    review as review_grants, ungranted,
};
pub use ids::{Hash, IdError, LogId, MAX_TOKEN_LEN, RunId, Token};
pub use mac::{RECORD_MAC_CONTEXT, always_keyed};
pub use policy_events::describe as describe_policy;
pub use read::{for_each_record, read_records};
pub use record::{Event, MAX_LINE_BYTES, Record};
pub use rotate::{DEFAULT_SEGMENT_LIMIT, Rotation, SEGMENT_LIMIT_ENV};
pub use segments::{sealed_path, segment_files};
pub use stream::verify_anchored_each;
pub use verify::{Problem, ProblemKind, TimeBack, VerifyReport, verify, verify_marked};
pub use writer::AuditLog;

/// The log's file name inside the state dir.
pub const AUDIT_FILE: &str = "audit.jsonl";

/// A fresh random run id for one `runner exec`.
pub fn new_run_id() -> Result<RunId, AuditError> {
    RunId::random().map_err(AuditError::Random)
}

/// What went wrong reading or writing the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit log {} does not exist", .path.display())]
    NotFound { path: PathBuf },
    #[error("audit log {} already exists", .path.display())]
    AlreadyExists { path: PathBuf },
    #[error("cannot {action} audit log {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("audit log {} is accessible to other users (mode {mode:o})", .path.display())]
    Permissions { path: PathBuf, mode: u32 },
    #[error("audit log {}, line {line}{}: {reason}", .path.display(), after_seq_note(*.after_seq))]
    Malformed {
        path: PathBuf,
        line: u64,
        /// The seq of the last good record before the line, if any.
        after_seq: Option<u64>,
        reason: String,
    },
    #[error("the last record of audit log {} is unusable: {reason}", .path.display())]
    DamagedTail { path: PathBuf, reason: String },
    #[error("audit record is {len} bytes long; records are limited to {MAX_LINE_BYTES} bytes")]
    RecordTooLarge { len: usize },
    #[error("the system clock is outside the years 0000-9999; audit timestamps cannot be written")]
    Clock,
    #[error("refusing to append to audit log {}: {reason}", .path.display())]
    Diverged { path: PathBuf, reason: String },
    #[error(
        "refusing to append to the audit log: the system clock ({now}) is behind its newest \
         time ({newest}) (a clock set back could revive expired grants)"
    )]
    ClockBehind { now: String, newest: String },
    #[error("{SEGMENT_LIMIT_ENV}={value:?} is not a size in bytes of at least 1024")]
    SegmentLimit { value: String },
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(getrandom::Error),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A group commit failed: every appender in the batch gets the error.
    #[error("{reason}")]
    Shared {
        reason: String,
        hint: Option<String>,
    },
}

impl AuditError {
    /// Whether the log refused the append because it diverged from its
    /// checkpoint or the clock is behind it (`runner exec` exits with
    /// `exit_code::AUDIT_REFUSED` in the runner).
    pub fn refuses_appends(&self) -> bool {
        match self {
            AuditError::Diverged { .. } | AuditError::ClockBehind { .. } => true,
            AuditError::Shared { reason, .. } => reason.starts_with("refusing to append"),
            _ => false,
        }
    }

    /// A copy for another appender of the same failed batch.
    pub(crate) fn clone_shared(&self) -> AuditError {
        AuditError::Shared {
            reason: self.to_string(),
            hint: self.hint(),
        }
    }
}

fn after_seq_note(after_seq: Option<u64>) -> String {
    match after_seq {
        Some(seq) => format!(" (after record seq {seq})"),
        None => String::new(),
    }
}

impl AuditError {
    /// A one-line remedy for the user, where there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            AuditError::NotFound { .. } => {
                Some("run `runner init` to create the state dir and its audit log".into())
            }
            AuditError::AlreadyExists { .. } => Some(
                "the state dir is already initialised; choose another --home to start afresh"
                    .into(),
            ),
            AuditError::Io { source, .. } => Some(io_hint(source)),
            AuditError::Permissions { path, .. } => {
                Some(format!("run `chmod 600 {}`", path.display()))
            }
            AuditError::Malformed { .. } => {
                Some("run `runner audit verify` to check the whole log".into())
            }
            AuditError::DamagedTail { .. } => Some(
                "run `runner audit verify` to locate the damage; no secret is released \
                 until the log's last record is intact"
                    .into(),
            ),
            AuditError::Clock => Some("set the system clock correctly".into()),
            AuditError::Diverged { .. } => Some(
                "run `runner audit verify`: the log no longer holds what its checkpoint vouches \
                 for; no record is appended and no secret released until it does (if verify \
                 shows it intact and only the checkpoint missing, `runner audit head` writes a \
                 new one)"
                    .into(),
            ),
            AuditError::ClockBehind { .. } => Some(
                "set the system clock correctly (the log's records must not go back in time); \
                 no secret is released meanwhile"
                    .into(),
            ),
            AuditError::SegmentLimit { .. } => Some(format!(
                "set {SEGMENT_LIMIT_ENV} to a whole number of bytes (the audit log starts a new \
                 segment file when the active one reaches it; default {DEFAULT_SEGMENT_LIMIT}), \
                 or unset it"
            )),
            AuditError::Checkpoint(error) => error.hint(),
            AuditError::Shared { hint, .. } => hint.clone(),
            AuditError::RecordTooLarge { .. } | AuditError::Random(_) => None,
        }
    }
}

fn io_hint(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            "free disk space: no secret is released while the audit log cannot be written".into()
        }
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            "check that the state dir and its audit log are writable by this user".into()
        }
        _ => "check the state dir's disk and permissions; no secret is released \
              while the audit log cannot be written"
            .into(),
    }
}
