//! Creating a log: `log.init` (with its MAC when the store key is given)
//! and, with the key, the first checkpoint, durably; nothing half-made is
//! left behind on failure, so `runner init` can be retried.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use time::OffsetDateTime;

use super::checkpoint::{Checkpoint, CheckpointKey};
use super::ids::{Hash, LogId};
use super::record::{Event, Record};
use super::rotate::segment_limit_from_env;
use super::writer::{AuditLog, io_err, sync_dir};
use super::{AUDIT_FILE, AuditError};

impl AuditLog {
    /// Creates `dir/audit.jsonl` (mode 0600, must not exist) and writes its
    /// `log.init` record with a fresh random log id, durably, with no MAC
    /// (tests; the runner uses [`AuditLog::create_anchored`]).
    pub fn create(dir: &Path, store_id: &str) -> Result<AuditLog, AuditError> {
        AuditLog::create_with(dir, store_id, None)
    }

    /// [`AuditLog::create`] for the store `key` comes from: `log.init`
    /// carries its MAC (the log's authenticated binding to its store), the
    /// first checkpoint is written with it, durably, and the log is
    /// anchored with `key` from the start.
    pub fn create_anchored(dir: &Path, key: CheckpointKey) -> Result<AuditLog, AuditError> {
        let store = key.store_id().unwrap_or_default().to_owned();
        AuditLog::create_with(dir, &store, Some(Arc::new(key)))
    }

    fn create_with(
        dir: &Path,
        store_id: &str,
        key: Option<Arc<CheckpointKey>>,
    ) -> Result<AuditLog, AuditError> {
        let path = dir.join(AUDIT_FILE);
        // Sealed segments of an earlier log would precede the new one.
        let earlier = super::segments::segment_files(&path)
            .map_err(|source| io_err("inspect the directory of", &path, source))?;
        if let Some(sealed) = earlier.into_iter().next() {
            return Err(AuditError::AlreadyExists { path: sealed });
        }
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| match source.kind() {
                io::ErrorKind::AlreadyExists => AuditError::AlreadyExists { path: path.clone() },
                _ => io_err("create", &path, source),
            })?;
        let log = AuditLog {
            path,
            key,
            segment_limit: segment_limit_from_env()?,
        };
        let init = Event::LogInit {
            store: store_id.to_owned(),
        };
        let written = LogId::random()
            .map_err(AuditError::Random)
            .and_then(|id| log.write_first(&file, id, init))
            .and_then(|first| log.write_checkpoint(&first).map(drop));
        if let Err(err) = written {
            // Leave no half-made log behind: `runner init` must be retryable.
            let _ = std::fs::remove_file(&log.path);
            let dir = log.path.parent().unwrap_or(Path::new("."));
            let _ = std::fs::remove_file(dir.join(super::CHECKPOINT_FILE));
            return Err(err);
        }
        sync_dir(dir).map_err(|source| io_err("sync the directory of", &log.path, source))?;
        Ok(log)
    }

    fn write_first(&self, file: &File, log: LogId, event: Event) -> Result<Record, AuditError> {
        let record = Record::seal(log, 0, OffsetDateTime::now_utc(), Hash::ZERO, event)
            .ok_or(AuditError::Clock)?;
        let record = self.authenticate(record);
        self.write_record(file, &record)?;
        file.sync_all()
            .map_err(|source| io_err("sync", &self.path, source))?;
        Ok(record)
    }

    /// Completes an init interrupted between `log.init` and the first
    /// checkpoint (`runner init` run again): the log must hold exactly one
    /// record, `log.init` for the store the keys come from, with its MAC.
    /// Anything else is refused: a longer log without a checkpoint is not
    /// an interrupted init, and re-anchoring it could hide a truncation.
    pub fn complete_init(&self) -> Result<Checkpoint, AuditError> {
        let refuse = |why: &str| self.diverged(format!("it is not an interrupted init: {why}"));
        let key = self.key().ok_or_else(|| refuse("no store key"))?;
        let (file, tail) = self.lock_tail(false)?;
        let first = &tail.last;
        let ours = matches!(&first.event, Event::LogInit { store } if Some(store.as_str()) == key.store_id());
        let authentic = super::mac::authentic(key.record(), first) == Some(true);
        let result = match (first.seq, ours && authentic, &tail.torn) {
            (0, true, None) => self
                .write_checkpoint(first)
                .and_then(|cp| cp.ok_or_else(|| refuse("no store key"))),
            (0, false, _) => Err(refuse("its log.init is not this store's")),
            _ => Err(refuse("the log holds more than its log.init")),
        };
        let _ = file.unlock();
        result
    }
}
