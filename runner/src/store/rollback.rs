//! Rollback detection: the store's generation against the audit log.
//!
//! Every store write is followed by a `store.write` audit record carrying the
//! new generation. A store file whose generation is below the newest recorded
//! one is an older copy put back, and is refused. Records are appended after
//! the write, so the log can lag the store (a crash in between, or two
//! writers finishing out of order) but never lead it: the check has no false
//! alarms.
//!
//! Only the end of the log is read: lines are scanned backwards in blocks
//! and only a line spelled like a `store.write` record is parsed (the log's
//! canonical form makes the spelling exact), with its hash checked.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::audit::{AUDIT_FILE, Event, MAX_LINE_BYTES, Record};

use super::{STORE_FILE, StoreError};

const BLOCK: u64 = 64 * 1024;
const NEEDLE: &[u8] = br#""kind":"store.write""#;

/// Refuses `generation` if the audit log recorded a newer one for `store_id`.
/// A state dir without an audit log has nothing to compare with.
pub(crate) fn check(dir: &Path, store_id: &str, generation: u64) -> Result<(), StoreError> {
    let Some(recorded) = newest_in_segments(&dir.join(AUDIT_FILE), store_id)? else {
        return Ok(());
    };
    match generation < recorded {
        true => Err(StoreError::RolledBack {
            path: dir.join(STORE_FILE),
            found: generation,
            recorded,
        }),
        false => Ok(()),
    }
}

/// The newest recorded generation across a rotated log's segment files,
/// newest file first (an older one is read only if the newer ones hold no
/// `store.write` for this store).
fn newest_in_segments(active: &Path, store_id: &str) -> Result<Option<u64>, StoreError> {
    let files = crate::audit::segment_files(active).map_err(|e| StoreError::AuditUnreadable {
        path: active.into(),
        reason: e.to_string(),
    })?;
    for path in files.iter().rev() {
        if let Some(generation) = newest_recorded(path, store_id)? {
            return Ok(Some(generation));
        }
    }
    Ok(None)
}

/// The generation in the last `store.write` record for `store_id`, if any.
pub(crate) fn newest_recorded(path: &Path, store_id: &str) -> Result<Option<u64>, StoreError> {
    let unreadable = |reason: String| StoreError::AuditUnreadable {
        path: path.into(),
        reason,
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(unreadable(err.to_string())),
    };
    let len = file
        .metadata()
        .map_err(|e| unreadable(e.to_string()))?
        .len();
    let mut lines = BackwardLines::new(file, len);
    while let Some(line) = lines.next_line().map_err(&unreadable)? {
        if !contains(&line, NEEDLE) {
            continue;
        }
        if let Some(generation) = generation_in(&line, store_id).map_err(&unreadable)? {
            return Ok(Some(generation));
        }
    }
    Ok(None)
}

/// Parses a candidate line; `None` if it is about another store.
fn generation_in(line: &[u8], store_id: &str) -> Result<Option<u64>, String> {
    let record = Record::parse_line(line)?;
    if record.compute_hash() != Some(record.hash) {
        return Err(format!("record seq {} was modified", record.seq));
    }
    match record.event {
        Event::StoreWrite { store, generation } if store == store_id => Ok(Some(generation)),
        _ => Ok(None),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Complete lines of a file, last first. Bytes after the final `\n` are an
/// unfinished append and are skipped.
struct BackwardLines {
    file: File,
    /// Bytes before `end` are not yet read.
    end: u64,
    /// Read but not yet returned: starts at a line start only when `end == 0`.
    pending: Vec<u8>,
    skipped_torn: bool,
}

impl BackwardLines {
    fn new(file: File, len: u64) -> Self {
        let pending = Vec::new();
        BackwardLines {
            file,
            end: len,
            pending,
            skipped_torn: false,
        }
    }

    fn next_line(&mut self) -> Result<Option<Vec<u8>>, String> {
        loop {
            if let Some(cut) = self.pending.iter().rposition(|&b| b == b'\n') {
                let line = self.pending.split_off(cut + 1);
                self.pending.truncate(cut);
                if !std::mem::replace(&mut self.skipped_torn, true) {
                    continue;
                }
                return Ok(Some(line));
            }
            if self.end == 0 {
                let line = std::mem::take(&mut self.pending);
                let done = line.is_empty() || !std::mem::replace(&mut self.skipped_torn, true);
                return Ok((!done).then_some(line));
            }
            self.read_block()?;
        }
    }

    fn read_block(&mut self) -> Result<(), String> {
        if self.pending.len() > MAX_LINE_BYTES + 1 {
            return Err(format!("a line is longer than {MAX_LINE_BYTES} bytes"));
        }
        let start = self.end.saturating_sub(BLOCK);
        let mut block = vec![0u8; (self.end - start) as usize];
        self.file
            .read_exact_at(&mut block, start)
            .map_err(|e| e.to_string())?;
        block.extend_from_slice(&self.pending);
        self.pending = block;
        self.end = start;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(text: &[u8]) -> Vec<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, text).unwrap();
        let file = File::open(&path).unwrap();
        let mut lines = BackwardLines::new(file, text.len() as u64);
        std::iter::from_fn(|| lines.next_line().unwrap()).collect()
    }

    #[test]
    fn backward_lines_skip_the_torn_tail() {
        assert_eq!(lines_of(b"a\nbb\nccc\n"), [&b"ccc"[..], b"bb", b"a"]);
        assert_eq!(lines_of(b"a\nbb\ntorn"), [&b"bb"[..], b"a"]);
        assert_eq!(lines_of(b"only-torn"), Vec::<Vec<u8>>::new());
        assert_eq!(lines_of(b""), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn backward_lines_cross_block_boundaries() {
        let long = vec![b'x'; BLOCK as usize + 10];
        let mut text = b"first\n".to_vec();
        text.extend_from_slice(&long);
        text.extend_from_slice(b"\nlast\n");
        assert_eq!(lines_of(&text), [b"last".to_vec(), long, b"first".to_vec()]);
    }

    #[test]
    fn no_audit_log_means_nothing_recorded() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            newest_recorded(&dir.path().join("none"), "s").unwrap(),
            None
        );
        check(dir.path(), "s", 0).unwrap();
    }
}
