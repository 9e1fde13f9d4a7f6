//! Rotation: sealing the active segment and starting the next one.
//!
//! Under the active file's exclusive lock, the writer
//! 1. appends `segment.close` (segment number, records in the segment) and
//!    syncs it: from here on the file is sealed and nothing is appended to it;
//! 2. links it under its sealed name `audit.<first seq>.jsonl` and syncs the
//!    directory (the sealed name is durable before the active name moves);
//! 3. writes `segment.open` (chained after the close) to `audit.jsonl.next`,
//!    locks and syncs it, renames it over `audit.jsonl` and syncs the
//!    directory. The open carries the log's store id and the generation of
//!    the last `store.write` for it so far (found by reading the sealed
//!    segment backwards, at most to its own first record, which carries the
//!    value from before), so that the store's rollback check reads only the
//!    active segment.
//!
//! A crash after step 1 leaves an active file ending in `segment.close`
//! (with or without its sealed name, with or without a stale `.next`): the
//! next writer that locks it finishes steps 2 and 3 ([`AuditLog::lock_tail`]),
//! and `verify` reports the state as an interrupted rotation, not tampering.
//! The active name never disappears, so `AuditLog::open` always finds it.
//!
//! Writers of other processes may be waiting for the lock on the old file:
//! after locking, [`AuditLog::open_locked`] checks that the locked file is
//! still the one named `audit.jsonl` and otherwise retries on the new one.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use tracing::{info, warn};

use super::AuditError;
use super::carry::{self, ScanError};
use super::record::{Event, Record};
use super::remember;
use super::segments::{self, same_file};
use super::tail::{Tail, read_tail};
use super::writer::{AuditLog, io_err, sync_dir};

/// Environment variable setting the active segment's size limit in bytes.
pub const SEGMENT_LIMIT_ENV: &str = "SCOPEHOLD_AUDIT_SEGMENT_BYTES";
/// Default size at which the active segment is sealed: 64 MiB.
pub const DEFAULT_SEGMENT_LIMIT: u64 = 64 * 1024 * 1024;
/// Smallest limit the environment variable may set.
const MIN_SEGMENT_LIMIT: u64 = 1024;

/// What one rotation did.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The sealed segment's file.
    pub sealed: PathBuf,
    /// The `segment.close` ending it.
    pub close: Record,
    /// The `segment.open` starting the new active segment.
    pub open: Record,
}

impl Rotation {
    /// The sealed segment's number and its first and last seq.
    pub fn sealed_range(&self) -> (u64, u64, u64) {
        match self.close.event {
            Event::SegmentClose { segment, records } => {
                (segment, self.close.seq + 1 - records, self.close.seq)
            }
            _ => unreachable!("a rotation's close record is segment.close"),
        }
    }
}

impl AuditLog {
    /// Seals the active segment now and starts the next one (`runner audit
    /// rotate`); durable when it returns, checkpoint advanced.
    pub fn rotate(&self) -> Result<Rotation, AuditError> {
        let (file, tail) = self.lock_tail(true)?;
        let mut last = tail.last;
        if let Some(torn) = &tail.torn {
            last = self.recover(&file, &last, torn)?;
        }
        let (new, rotation) = self.seal_active(&file, &last)?;
        drop(file);
        let _ = new.unlock();
        self.advance_checkpoint(&rotation.open)?;
        Ok(rotation)
    }

    /// Opens the active segment and locks it. Retries when the file locked
    /// is no longer `audit.jsonl` (another writer rotated it meanwhile).
    pub(crate) fn open_locked(&self) -> Result<File, AuditError> {
        loop {
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .open(&self.path)
                .map_err(|source| match source.kind() {
                    io::ErrorKind::NotFound => AuditError::NotFound {
                        path: self.path.clone(),
                    },
                    _ => io_err("open", &self.path, source),
                })?;
            file.lock()
                .map_err(|source| io_err("lock", &self.path, source))?;
            let locked = file
                .metadata()
                .map_err(|source| io_err("inspect", &self.path, source))?;
            match std::fs::metadata(&self.path) {
                Ok(named) if same_file(&named, &locked) => return Ok(file),
                Ok(_) => continue, // rotated away while we waited; dropping unlocks
                Err(source) => return Err(io_err("inspect", &self.path, source)),
            }
        }
    }

    /// The active segment, locked, and its last record.
    /// An active file that
    /// ends in `segment.close` is a rotation a crash interrupted: it is
    /// finished first, and the new active segment is returned.
    /// `guarded`: refuse when the log diverged from its checkpoint or the
    /// clock is behind (`guard.rs`), before anything is written.
    /// A log this process wrote last (nobody changed it since) is taken
    /// as remembered ([`remember`](super::remember)), not read again.
    pub(crate) fn lock_tail(&self, guarded: bool) -> Result<(File, Tail), AuditError> {
        let file = self.open_locked()?;
        let meta = file
            .metadata()
            .map_err(|source| io_err("inspect", &self.path, source))?;
        let now = time::OffsetDateTime::now_utc();
        if guarded
            && let Some((last, checked)) =
                remember::recall(&self.path, &meta, &self.checkpoint_path())
            && let Some(result) = self.guard_recalled(&last, &checked, now)
        {
            result?;
            let checked = Some(checked);
            let tail = Tail {
                last,
                torn: None,
                checked,
            };
            return Ok((file, tail));
        }
        let mut tail = read_tail(&file, meta.len(), &self.path)?;
        if guarded {
            tail.checked = Some(self.guard(&tail.last, now)?);
        }
        if !matches!(tail.last.event, Event::SegmentClose { .. }) {
            return Ok((file, tail));
        }
        if tail.torn.is_some() {
            return Err(self.damaged("bytes follow its segment.close record".into()));
        }
        let (new, open) = self.finish_interrupted(&file, &tail.last)?;
        let tail = Tail {
            last: open,
            torn: None,
            checked: None,
        };
        Ok((new, tail))
    }

    /// Steps 2 and 3 for an active `file` that ends in `close`, once the
    /// close is shown to match the segment's first record.
    fn finish_interrupted(
        &self,
        file: &File,
        close: &Record,
    ) -> Result<(File, Record), AuditError> {
        let Event::SegmentClose { segment, records } = close.event else {
            unreachable!("called with a segment.close");
        };
        warn!(path = %self.path.display(), segment, "finishing an interrupted audit log rotation");
        let first_seq = close
            .seq
            .checked_add(1)
            .and_then(|n| n.checked_sub(records));
        let first_seq = first_seq.ok_or_else(|| {
            self.damaged("segment.close counts more records than precede it".into())
        })?;
        let first = self.check_first(file, first_seq, segment)?;
        file.sync_data()
            .map_err(|source| io_err("sync", &self.path, source))?;
        self.start_next(file, close, segment, &first)
    }

    /// Whether the active segment has reached the size limit.
    pub(crate) fn over_limit(&self, file: &File) -> Result<bool, AuditError> {
        let len = file
            .metadata()
            .map_err(|source| io_err("inspect", &self.path, source))?
            .len();
        Ok(len >= self.segment_limit)
    }

    /// Steps 1-3 on the locked active `file` whose last record is `last`.
    /// Returns the new active segment, locked.
    pub(crate) fn seal_active(
        &self,
        file: &File,
        last: &Record,
    ) -> Result<(File, Rotation), AuditError> {
        let first = self.first_record(file)?;
        let segment = match first.event {
            Event::LogInit { .. } => 0,
            Event::SegmentOpen { segment, .. } => segment,
            _ => {
                return Err(
                    self.damaged("its first record is neither log.init nor segment.open".into())
                );
            }
        };
        // The records before the close, plus the close itself.
        let records = last
            .seq
            .checked_add(2)
            .and_then(|n| n.checked_sub(first.seq))
            .ok_or_else(|| {
                self.damaged("its first and last records disagree about its length".into())
            })?;
        let close = self.write_after(file, last, Event::SegmentClose { segment, records })?;
        file.sync_data()
            .map_err(|source| io_err("sync", &self.path, source))?;
        let (new, open) = self.start_next(file, &close, segment, &first)?;
        let sealed = segments::sealed_path(&self.path, first.seq);
        info!(sealed = %sealed.display(), segment, records, "audit log rotated");
        Ok((
            new,
            Rotation {
                sealed,
                close,
                open,
            },
        ))
    }

    /// Steps 2 and 3, after `close` is durable at the end of `file`, whose
    /// first record is `first`.
    fn start_next(
        &self,
        file: &File,
        close: &Record,
        segment: u64,
        first: &Record,
    ) -> Result<(File, Record), AuditError> {
        let (store, generation) = self.carry(file, first)?;
        let dir = self.path.parent().unwrap_or(std::path::Path::new("."));
        let sealed = segments::sealed_path(&self.path, first.seq);
        match std::fs::hard_link(&self.path, &sealed) {
            Ok(()) => {}
            // A crash after this step last time: the name is already ours.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && self.is_same(file, &sealed) => {}
            Err(source) => return Err(io_err("seal a segment of", &self.path, source)),
        }
        sync_dir(dir).map_err(|source| io_err("sync the directory of", &self.path, source))?;
        let next = segments::next_path(&self.path);
        let new = self.create_next(&next)?;
        let open = self.write_after(
            &new,
            close,
            Event::SegmentOpen {
                segment: segment + 1,
                store,
                generation,
            },
        )?;
        new.sync_all()
            .map_err(|source| io_err("sync", &next, source))?;
        std::fs::rename(&next, &self.path)
            .map_err(|source| io_err("start a new segment of", &self.path, source))?;
        sync_dir(dir).map_err(|source| io_err("sync the directory of", &self.path, source))?;
        Ok((new, open))
    }

    /// The next segment's temp file, new and locked (a stale one from an
    /// interrupted rotation is replaced: it was never in place).
    fn create_next(&self, next: &std::path::Path) -> Result<File, AuditError> {
        match std::fs::remove_file(next) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(io_err("remove", next, e));
            }
            _ => {}
        }
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(next)
            .map_err(|source| io_err("create", next, source))?;
        file.lock().map_err(|source| io_err("lock", next, source))?;
        Ok(file)
    }

    fn is_same(&self, file: &File, path: &std::path::Path) -> bool {
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => same_file(&a, &b),
            _ => false,
        }
    }

    /// What the next segment.open carries: the store id this segment
    /// carries, and the generation of its last `store.write` for that store,
    /// else the one it started with. Reads this segment backwards, at most.
    fn carry(&self, file: &File, first: &Record) -> Result<(String, u64), AuditError> {
        let (store, before) = carry::carried(first).ok_or_else(|| {
            self.damaged("its first record is neither log.init nor segment.open".into())
        })?;
        let len = file
            .metadata()
            .map_err(|source| io_err("inspect", &self.path, source))?
            .len();
        let key = self.key().map(|key| key.record());
        let last = carry::last_store_write(file, len, store, key).map_err(|e| match e {
            ScanError::Io(source) => io_err("read", &self.path, source),
            ScanError::Damaged(reason) => self.damaged(format!("a store.write record: {reason}")),
        })?;
        Ok((store.to_owned(), last.unwrap_or(before)))
    }

    /// The segment's first record, parsed strictly with its hash checked.
    fn first_record(&self, file: &File) -> Result<Record, AuditError> {
        match carry::first_record(file) {
            Ok(Some(record)) => Ok(record),
            Ok(None) => Err(self.damaged("its first line is incomplete".into())),
            Err(ScanError::Damaged(reason)) => {
                Err(self.damaged(format!("its first record: {reason}")))
            }
            Err(ScanError::Io(source)) => Err(io_err("read the start of", &self.path, source)),
        }
    }

    /// Before finishing a rotation: the segment starts where the close
    /// says. Returns its first record.
    fn check_first(&self, file: &File, first_seq: u64, segment: u64) -> Result<Record, AuditError> {
        let first = self.first_record(file)?;
        let number = match first.event {
            Event::LogInit { .. } => Some(0),
            Event::SegmentOpen { segment, .. } => Some(segment),
            _ => None,
        };
        match first.seq == first_seq && number == Some(segment) {
            true => Ok(first),
            false => {
                Err(self
                    .damaged("its segment.close does not match the segment's first record".into()))
            }
        }
    }

    fn damaged(&self, reason: String) -> AuditError {
        AuditError::DamagedTail {
            path: self.path.clone(),
            reason,
        }
    }
}

/// The segment size limit: [`SEGMENT_LIMIT_ENV`] if set, else the default.
pub(super) fn segment_limit_from_env() -> Result<u64, AuditError> {
    let Some(value) = std::env::var_os(SEGMENT_LIMIT_ENV) else {
        return Ok(DEFAULT_SEGMENT_LIMIT);
    };
    let value = value.to_string_lossy().into_owned();
    match value.parse::<u64>() {
        Ok(bytes) if bytes >= MIN_SEGMENT_LIMIT && bytes.to_string() == value => Ok(bytes),
        _ => Err(AuditError::SegmentLimit { value }),
    }
}
