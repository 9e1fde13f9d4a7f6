//! The end of a log as this process last wrote it, so that its next append
//! (in a long-lived process: `runner serve`) need not read and parse the
//! last record and the checkpoint again when nobody else changed them.
//!
//! Guarantees:
//! - Used only under the log's lock, and only when the locked file is
//!   provably the one this process left: its [`FileStamp`] (device, inode,
//!   size, mtime, ctime, taken with `fstat` under the lock right after the
//!   write) is unchanged. Every other writer changes it: appends (other
//!   `runner exec` processes) grow the file, a rotation puts a new file in
//!   place, a recovery cuts a torn tail another writer left and appends a
//!   record; an edit in place moves the mtime and ctime. (A same-size
//!   rewrite within the clock tick of this append is the one change a
//!   stamp can miss; the next record still links to the record written
//!   here, so `runner audit verify` reports the rewrite.)
//! - The checkpoint the last append was checked against counts only while
//!   `audit.checkpoint` keeps its stamp (taken before it was read; other
//!   writers replace it by rename, under the log's lock). That check
//!   passed then, and the records since are this process's own, appended
//!   after the record it was checked with: so it holds now. A writer with
//!   the key relies on it only if the check was made with a key, and only
//!   if the checkpoint is authentic under its own; the clock check is made
//!   at every append.
//! - Anything else (another writer, an error, a rotation) takes the full
//!   path: the tail is read and the checkpoint checked from the files.

use std::collections::HashMap;
use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, MutexGuard};

use super::checkpoint::Checkpoint;
use super::record::Record;
use crate::broker::FileStamp;

/// Most logs remembered (one per state dir a process appends to).
const MAX_LOGS: usize = 16;

/// What the guard checked an append against (`guard.rs`).
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    /// The stamp of `audit.checkpoint` before it was read; `None`: absent.
    pub stamp: Option<FileStamp>,
    pub checkpoint: Option<Checkpoint>,
    /// Whether the check was the one of a writer with the key.
    pub keyed: bool,
}

/// A log's end after this process's last append to it.
struct Remembered {
    log: FileStamp,
    last: Record,
    checked: Checked,
}

fn logs() -> MutexGuard<'static, HashMap<PathBuf, Remembered>> {
    static LOGS: LazyLock<Mutex<HashMap<PathBuf, Remembered>>> = LazyLock::new(Mutex::default);
    LOGS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The last record of the locked log at `path` (whose `fstat` is `meta`)
/// and what it was checked against, if this process wrote it last.
pub(crate) fn recall(path: &Path, meta: &Metadata, checkpoint: &Path) -> Option<(Record, Checked)> {
    let logs = logs();
    let known = logs.get(path)?;
    if known.log != FileStamp::from_meta(meta) || FileStamp::of(checkpoint) != known.checked.stamp {
        return None;
    }
    Some((known.last.clone(), known.checked.clone()))
}

/// Remembers `last` as the end of the locked `file` at `path`, just
/// written, after a check against `checked`.
pub(crate) fn remember(path: &Path, file: &File, last: &Record, checked: Checked) {
    let mut logs = logs();
    let Ok(meta) = file.metadata() else {
        logs.remove(path);
        return;
    };
    if logs.len() >= MAX_LOGS && !logs.contains_key(path) {
        logs.clear();
    }
    let remembered = Remembered {
        log: FileStamp::from_meta(&meta),
        last: last.clone(),
        checked,
    };
    logs.insert(path.to_owned(), remembered);
}

/// Forgets the log at `path` (its append failed midway).
pub(crate) fn forget(path: &Path) {
    logs().remove(path);
}
