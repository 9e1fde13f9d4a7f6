//! Before any append: the log still holds what its checkpoint vouches for,
//! and the clock is not behind the log.
//!
//! Appends must never be what makes a tampered log verify again: a writer
//! that appended after a truncated or rewritten log and then advanced the
//! checkpoint would re-anchor the tampering. So, under the log's lock and
//! before writing anything, a writer compares the log's end with
//! `audit.checkpoint`:
//! - with the store key (it will advance the checkpoint): the checkpoint
//!   must exist, carry this store's MAC (a checkpoint is never re-sealed
//!   under another key), name this log, and its head must still be in the
//!   chain at its position: the writer reads backwards from the last record
//!   to the checkpoint's seq, checking every hash and `prev` link. The
//!   checkpoint follows every synced append, so this is usually a few lines;
//! - without the key (it cannot advance the checkpoint): the log must not
//!   end before the checkpoint, nor elsewhere at its seq (O(1): the last
//!   record is already read).
//!
//! and the clock must not be behind the log's newest record or the
//! checkpoint's time by more than [`CLOCK_TOLERANCE`] (an expired grant
//! must not become valid again; within the tolerance records take the
//! previous record's time, so a log's times never go backwards).
//! Any failure refuses the append: no record, no released secret. A log
//! this process wrote last, unchanged since (same stamps of the log and
//! the checkpoint), was checked then and holds only this process's records
//! after: only the clock is checked again (`remember.rs`).

use std::fs::File;
use std::path::Path;

use time::{Duration, OffsetDateTime};

use super::backward::BackwardChunks;
use super::checkpoint::{CHECKPOINT_FILE, Checkpoint};
use super::ids::Hash;
use super::record::Record;
use super::remember::Checked;
use super::segments;
use super::writer::AuditLog;
use super::{AuditError, timestamp};
use crate::broker::FileStamp;

/// How far the clock may be behind the log's newest record before appends
/// are refused (small steps back, e.g. by NTP, are absorbed).
pub(crate) const CLOCK_TOLERANCE: Duration = Duration::seconds(1);

/// Bytes read per step backwards.
const BLOCK: u64 = 64 * 1024;

impl AuditLog {
    /// Whether an append would be accepted now (the checks below, under
    /// the lock; nothing is written but the end of an interrupted
    /// rotation, as any append would): for a command that changes something
    /// else first (the store) and records it after, so that it can refuse
    /// before the change rather than leave it unrecorded.
    pub fn check_appendable(&self) -> Result<(), AuditError> {
        let (file, _tail) = self.lock_tail(true)?;
        let _ = file.unlock();
        Ok(())
    }

    /// Refuses an append after `last` (the log's last complete record) when
    /// the log diverged from its checkpoint or the clock is behind.
    /// Returns what it checked against.
    pub(super) fn guard(&self, last: &Record, now: OffsetDateTime) -> Result<Checked, AuditError> {
        let path = self.checkpoint_path();
        // Stamped before it is read: a checkpoint replaced in between is
        // read again at the next append (remember.rs).
        let stamp = FileStamp::of(&path);
        let checkpoint = Checkpoint::load(&path)?;
        self.check_clock(now, last, checkpoint.as_ref())?;
        self.against(last, checkpoint.as_ref())?;
        Ok(Checked {
            stamp,
            checkpoint,
            keyed: self.key().is_some(),
        })
    }

    /// The guard's checks for a log this process wrote last
    /// ([`remember`](super::remember)): the clock, and for a writer with
    /// the key, that the checkpoint was checked with a key and is
    /// authentic under this one. `None`: check it from the files instead.
    pub(super) fn guard_recalled(
        &self,
        last: &Record,
        checked: &Checked,
        now: OffsetDateTime,
    ) -> Option<Result<(), AuditError>> {
        if let Some(key) = self.key() {
            let authentic = checked
                .checkpoint
                .as_ref()
                .is_some_and(|cp| cp.is_authentic(key));
            if !checked.keyed || !authentic {
                return None;
            }
        }
        Some(self.check_clock(now, last, checked.checkpoint.as_ref()))
    }

    pub(super) fn checkpoint_path(&self) -> std::path::PathBuf {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        dir.join(CHECKPOINT_FILE)
    }

    /// The log's end `last` against `checkpoint`.
    fn against(&self, last: &Record, checkpoint: Option<&Checkpoint>) -> Result<(), AuditError> {
        match (self.key(), checkpoint) {
            (Some(_), None) => Err(self.diverged(
                "its checkpoint (audit.checkpoint) is missing, so nothing shows that no \
                 records were cut off or rewritten"
                    .into(),
            )),
            (Some(key), Some(cp)) if !cp.is_authentic(key) => Err(self.diverged(
                "its checkpoint was not made with this store's key (forged, or another \
                 store's key and store file were put in place)"
                    .into(),
            )),
            (Some(_), Some(cp)) => self.still_in_chain(last, cp),
            (None, Some(cp)) => self.not_before(last, cp).map(drop),
            (None, None) => Ok(()),
        }
    }

    fn check_clock(
        &self,
        now: OffsetDateTime,
        last: &Record,
        checkpoint: Option<&Checkpoint>,
    ) -> Result<(), AuditError> {
        let newest = checkpoint.map_or(last.ts, |cp| cp.ts.max(last.ts));
        if now + CLOCK_TOLERANCE >= newest {
            return Ok(());
        }
        Err(AuditError::ClockBehind {
            now: timestamp::format(now).unwrap_or_default(),
            newest: timestamp::format(newest).unwrap_or_default(),
        })
    }

    /// The cheap check: the log reaches the checkpoint, and if it ends at
    /// its seq, ends with its head. `Ok(true)`: it ends exactly there.
    fn not_before(&self, last: &Record, cp: &Checkpoint) -> Result<bool, AuditError> {
        if cp.log != last.log {
            return Err(self.diverged(format!(
                "its checkpoint is for log {}, the file is log {}: the log was replaced",
                cp.log, last.log
            )));
        }
        let target = cp.size - 1;
        if last.seq < target {
            return Err(self.diverged(format!(
                "it ends at seq {}, its checkpoint vouches for records up to seq {target}: \
                 records were cut off",
                last.seq
            )));
        }
        if last.seq == target && last.hash != cp.head {
            return Err(self.rewritten(target));
        }
        Ok(last.seq == target)
    }

    /// The full check: the chain from `last` back to the checkpoint's seq is
    /// intact and reaches its head.
    fn still_in_chain(&self, last: &Record, cp: &Checkpoint) -> Result<(), AuditError> {
        if self.not_before(last, cp)? {
            return Ok(());
        }
        let target = cp.size - 1;
        let files = segments::segment_files(&self.path)
            .map_err(|source| super::writer::io_err("list the segments of", &self.path, source))?;
        let mut walk = Walk {
            expected: last.hash,
            expected_seq: last.seq,
        };
        for path in files.iter().rev() {
            match walk
                .file(path, target)
                .map_err(|reason| self.diverged(reason))?
            {
                Some(hash) if hash == cp.head => return Ok(()),
                Some(_) => return Err(self.rewritten(target)),
                None => continue,
            }
        }
        Err(self.diverged(format!(
            "record seq {target}, which its checkpoint vouches for, is not in the log"
        )))
    }

    fn rewritten(&self, seq: u64) -> AuditError {
        self.diverged(format!(
            "record seq {seq} does not hash to its checkpoint's head: the log was rewritten"
        ))
    }

    pub(super) fn diverged(&self, reason: String) -> AuditError {
        AuditError::Diverged {
            path: self.path.clone(),
            reason,
        }
    }
}

/// A backward walk along the chain: the next record back must hash to
/// `expected` and carry `expected_seq`.
struct Walk {
    expected: Hash,
    expected_seq: u64,
}

impl Walk {
    /// Walks `path` backwards; the hash at seq `target` once reached.
    fn file(&mut self, path: &Path, target: u64) -> Result<Option<Hash>, String> {
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        let mut chunks = BackwardChunks::new(&file, len, BLOCK);
        while let Some(chunk) = chunks.next_chunk()? {
            let body = &chunk[..chunk.len() - 1];
            for line in body.rsplit(|&b| b == b'\n') {
                if let Some(found) = self.step(line, target)? {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }

    fn step(&mut self, line: &[u8], target: u64) -> Result<Option<Hash>, String> {
        let record = Record::parse_line(line).map_err(|e| format!("a record is malformed: {e}"))?;
        if record.seq > self.expected_seq {
            return Ok(None); // after the last record read under the lock
        }
        let intact = record.compute_hash() == Some(record.hash);
        if !intact || record.seq != self.expected_seq || record.hash != self.expected {
            return Err(format!(
                "the chain is broken at seq {} (between its last record and its checkpoint)",
                record.seq
            ));
        }
        if record.seq == target {
            return Ok(Some(record.hash));
        }
        self.expected = record.prev;
        self.expected_seq = record.seq.saturating_sub(1);
        Ok(None)
    }
}
