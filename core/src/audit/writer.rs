//! Appending records durably.
//!
//! Every append opens the file afresh and takes an exclusive `flock` on it.
//! A fresh open matters: `flock` belongs to the open file description, so a
//! handle shared between threads would not exclude them; separate opens do,
//! within one process and across processes. Under the lock the writer reads
//! the last record from the end of the file, seals the new record after it,
//! writes the line with one `write` (`O_APPEND`) and calls `fdatasync`; only
//! then does `append` return. (When this process wrote the log last and
//! its stamp shows nobody changed it since, the last record is taken as
//! this process left it instead: `remember.rs`.)
//!
//! Before writing, the writer checks that the log still holds what its
//! checkpoint vouches for and that the clock is not behind it (`guard.rs`),
//! and refuses otherwise. A writer holding the store key MACs every record
//! (`mac.rs`) and, once its active segment has reached the size limit,
//! rotates it (`rotate.rs`), so one batch lands wholly in one segment.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use tracing::warn;

use std::sync::Arc;

use super::checkpoint::{Checkpoint, CheckpointKey};
use super::record::{Event, MAX_LINE_BYTES, Record};
use super::remember;
use super::rotate::segment_limit_from_env;
use super::tail::{Tail, Torn};
use super::{AUDIT_FILE, AuditError};

/// A batch written but not yet synced.
pub(crate) struct Written {
    file: File,
    results: Vec<Result<Record, AuditError>>,
    last: Record,
}

/// Handle to an existing audit log. Cheap; holds only the path, so any number
/// of handles (threads, processes) may append concurrently.
#[derive(Debug, Clone)]
pub struct AuditLog {
    pub(super) path: PathBuf,
    /// With a key, every append also refreshes `audit.checkpoint`.
    pub(super) key: Option<Arc<CheckpointKey>>,
    /// The active segment is rotated once it holds this many bytes.
    pub(super) segment_limit: u64,
}

impl AuditLog {
    /// Opens an existing log for appending. Refuses a log other users can
    /// read or write.
    pub fn open(dir: &Path) -> Result<AuditLog, AuditError> {
        let path = dir.join(AUDIT_FILE);
        let meta = std::fs::metadata(&path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => AuditError::NotFound { path: path.clone() },
            _ => io_err("inspect", &path, source),
        })?;
        if !meta.is_file() {
            let source = io::Error::other("not a regular file");
            return Err(io_err("open", &path, source));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(AuditError::Permissions {
                path,
                mode: meta.mode() & 0o777,
            });
        }
        let segment_limit = segment_limit_from_env()?;
        Ok(AuditLog {
            path,
            key: None,
            segment_limit,
        })
    }

    /// Rotates the active segment once it reaches `bytes` (instead of
    /// [`DEFAULT_SEGMENT_LIMIT`](super::DEFAULT_SEGMENT_LIMIT) or the environment's
    /// [`SEGMENT_LIMIT_ENV`](super::SEGMENT_LIMIT_ENV)).
    #[cfg(test)]
    pub(crate) fn with_segment_limit(mut self, bytes: u64) -> AuditLog {
        self.segment_limit = bytes.max(1);
        self
    }

    /// From now on, every append also writes a checkpoint (log id, size,
    /// head, time) authenticated with `key`, under the log's lock.
    pub fn anchored(mut self, key: CheckpointKey) -> AuditLog {
        self.key = Some(Arc::new(key));
        self
    }

    /// Writes a checkpoint for the log's current end (after `runner init`,
    /// or to bring a stale checkpoint up to date). The caller has checked
    /// the log first; the lock keeps appends out meanwhile.
    pub fn checkpoint_now(&self) -> Result<Option<Checkpoint>, AuditError> {
        let (file, tail) = self.lock_tail(false)?;
        // Unsynced records before the end must be durable before a
        // checkpoint vouches for them.
        let result = file
            .sync_data()
            .map_err(|source| io_err("sync", &self.path, source))
            .and_then(|()| self.write_checkpoint(&tail.last));
        let _ = file.unlock();
        result
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The audit keys, if the log was opened with them.
    pub(super) fn key(&self) -> Option<&CheckpointKey> {
        self.key.as_deref()
    }

    pub(super) fn write_checkpoint(&self, last: &Record) -> Result<Option<Checkpoint>, AuditError> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        let checkpoint =
            Checkpoint::seal(key, last.log, last.seq, last.hash).ok_or(AuditError::Clock)?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        checkpoint.store(dir, true)?;
        Ok(Some(checkpoint))
    }

    /// Appends one record and returns it once it is on disk. Concurrent
    /// appends in this process share one write and one sync (group commit).
    pub fn append(&self, event: Event) -> Result<Record, AuditError> {
        super::group::append(self, event)
    }

    /// Appends one record for which nothing waits: written with one `write`
    /// under the lock (so it survives a crash of this process and takes its
    /// place in the chain), but not synced. It becomes durable with the next
    /// synced append to the log, by any process, or when the kernel writes
    /// it back; the checkpoint advances to it only then. For records that
    /// release nothing (a run's start and end, denials), so a run that needs
    /// no secret pays no `fdatasync`.
    pub fn append_unsynced(&self, event: Event) -> Result<Record, AuditError> {
        let written = self.write_phase(vec![event])?;
        written
            .results
            .into_iter()
            .next()
            .expect("one result per event")
    }

    /// Appends one record the way a log without group commit would: write
    /// and sync under the lock, one append at a time. For measuring what
    /// group commit saves (BENCHMARKS.md).
    #[doc(hidden)]
    #[cfg(test)]
    pub(crate) fn append_alone(&self, event: Event) -> Result<Record, AuditError> {
        let (file, tail) = self.lock_tail(true)?;
        let Written {
            file,
            mut results,
            last,
        } = self.write_batch(file, tail, vec![event])?;
        let synced = file
            .sync_data()
            .map_err(|source| io_err("sync", &self.path, source));
        let _ = file.unlock();
        synced?;
        self.advance_checkpoint(&last)?;
        results.pop().expect("one result per event")
    }

    /// Writes `events` after the log's end with one `write` under the lock,
    /// then one `fdatasync` outside it, then advances the checkpoint. `Err`
    /// when nothing is durable; otherwise one result per event (an event
    /// can fail alone, e.g. when too large).
    /// (The group commit calls the two phases itself, to pipeline them.)
    #[cfg(test)]
    pub(crate) fn commit_batch(
        &self,
        events: Vec<Event>,
    ) -> Result<Vec<Result<Record, AuditError>>, AuditError> {
        let written = self.write_phase(events)?;
        self.sync_phase(written)
    }

    /// First half of a batch: written (not yet durable), lock released.
    pub(crate) fn write_phase(&self, events: Vec<Event>) -> Result<Written, AuditError> {
        let (file, tail) = self.lock_tail(true)?;
        let written = self.write_batch(file, tail, events)?;
        let _ = written.file.unlock();
        Ok(written)
    }

    /// Second half: durable, checkpoint advanced; only now may the records
    /// be handed out. Outside the lock, so the next batch is written (and
    /// other processes' syncs run) while this one syncs.
    pub(crate) fn sync_phase(
        &self,
        written: Written,
    ) -> Result<Vec<Result<Record, AuditError>>, AuditError> {
        written
            .file
            .sync_data()
            .map_err(|source| io_err("sync", &self.path, source))?;
        self.advance_checkpoint(&written.last)?;
        Ok(written.results)
    }

    /// Writes `events` to the locked active `file` (rotating it first if
    /// it is full); returns the file written to, still locked.
    fn write_batch(
        &self,
        mut file: File,
        tail: Tail,
        events: Vec<Event>,
    ) -> Result<Written, AuditError> {
        let (mut last, mut checked) = (tail.last, tail.checked);
        // Whatever fails from here may leave the file changed.
        remember::forget(&self.path);
        if let Some(torn) = tail.torn {
            last = self.recover(&file, &last, &torn)?;
        }
        // Only a writer with the key rotates, so that a segment.open (whose
        // carried generation the store's rollback check trusts) has a MAC.
        if self.key.is_some() && self.over_limit(&file)? {
            let (new, rotation) = self.seal_active(&file, &last)?;
            // Dropping the old file unlocks it; its waiters retry on `new`.
            file = new;
            last = rotation.open;
            checked = None;
        }
        let (mut lines, mut results) = (Vec::new(), Vec::with_capacity(events.len()));
        for event in events {
            let sealed = self.seal_after(&last, event);
            if let Ok((record, line)) = &sealed {
                lines.extend_from_slice(line.as_bytes());
                last = record.clone();
            }
            results.push(sealed.map(|(record, _)| record));
        }
        (&file)
            .write_all(&lines)
            .map_err(|source| io_err("write to", &self.path, source))?;
        if let Some(checked) = checked {
            remember::remember(&self.path, &file, &last, checked);
        }
        Ok(Written {
            file,
            results,
            last,
        })
    }

    /// Moves the checkpoint forward to `last` (never back: concurrent
    /// processes finish their syncs in any order). Its rename need not be
    /// synced: a checkpoint lost in a crash only anchors less, and it is
    /// written after the records it covers are durable.
    pub(super) fn advance_checkpoint(&self, last: &Record) -> Result<(), AuditError> {
        let Some(key) = &self.key else {
            return Ok(());
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let file = self.open_locked()?;
        let current = Checkpoint::load(&dir.join(super::CHECKPOINT_FILE));
        let ahead = matches!(&current, Ok(Some(cp)) if cp.log == last.log && cp.size > last.seq);
        // Never re-seal a checkpoint another key made (a swapped-in store).
        let foreign = matches!(&current, Ok(Some(cp)) if !cp.is_authentic(key));
        let result = match (ahead, foreign) {
            (_, true) => Err(self.diverged(
                "its checkpoint was not made with this store's key; it is left as it is".into(),
            )),
            (true, false) => Ok(()),
            (false, false) => Checkpoint::seal(key, last.log, last.seq, last.hash)
                .ok_or(AuditError::Clock)
                .and_then(|cp| Ok(cp.store(dir, false)?)),
        };
        let _ = file.unlock();
        result
    }

    /// Cuts off an incomplete last line and records that it did. The cut
    /// bytes were never synced-and-acknowledged, so no caller acted on them.
    pub(super) fn recover(
        &self,
        file: &File,
        last: &Record,
        torn: &Torn,
    ) -> Result<Record, AuditError> {
        warn!(
            path = %self.path.display(),
            bytes = torn.len,
            "audit log ends with an incomplete line (interrupted append); cutting it off"
        );
        file.set_len(torn.offset)
            .map_err(|source| io_err("truncate", &self.path, source))?;
        let event = Event::LogRecover {
            dropped_bytes: torn.len,
            dropped_hash: torn.hash,
        };
        self.write_after(file, last, event)
    }

    pub(super) fn write_after(
        &self,
        file: &File,
        last: &Record,
        event: Event,
    ) -> Result<Record, AuditError> {
        let (record, line) = self.seal_after(last, event)?;
        (&*file)
            .write_all(line.as_bytes())
            .map_err(|source| io_err("write to", &self.path, source))?;
        Ok(record)
    }

    /// The record after `last` and its line (with `\n`).
    fn seal_after(&self, last: &Record, event: Event) -> Result<(Record, String), AuditError> {
        let seq = last
            .seq
            .checked_add(1)
            .ok_or_else(|| AuditError::DamagedTail {
                path: self.path.clone(),
                reason: "its sequence number is at the maximum".into(),
            })?;
        // Never before the previous record: the guard refused a clock more
        // than its tolerance behind, a smaller step back takes `last`'s time.
        let now = OffsetDateTime::now_utc().max(last.ts);
        let record = Record::seal(last.log, seq, now, last.hash, event).ok_or(AuditError::Clock)?;
        let record = self.authenticate(record);
        let line = line_of(&record)?;
        Ok((record, line))
    }

    /// With the key, the record carries its MAC.
    pub(super) fn authenticate(&self, record: Record) -> Record {
        match &self.key {
            Some(key) => record.with_mac(key.record()),
            None => record,
        }
    }

    pub(super) fn write_record(&self, mut file: &File, record: &Record) -> Result<(), AuditError> {
        file.write_all(line_of(record)?.as_bytes())
            .map_err(|source| io_err("write to", &self.path, source))
    }
}

/// The record's line with its `\n`; written with one `write`, so a crash
/// leaves at most a torn last line (which the next append recovers).
fn line_of(record: &Record) -> Result<String, AuditError> {
    let mut line = record.to_line().ok_or(AuditError::Clock)?;
    if line.len() > MAX_LINE_BYTES {
        return Err(AuditError::RecordTooLarge { len: line.len() });
    }
    line.push('\n');
    Ok(line)
}

pub(super) fn io_err(action: &'static str, path: &Path, source: io::Error) -> AuditError {
    AuditError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Makes a newly created directory entry durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
