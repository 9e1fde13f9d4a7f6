//! Rollback detection: the store's generation against the audit log.
//!
//! Every store write is followed by a `store.write` audit record carrying the
//! new generation. A store file whose generation is below the newest recorded
//! one is an older copy put back, and is refused. Records are appended after
//! the write, so the log can lag the store (a crash in between, or two
//! writers finishing out of order) but never lead it: the check has no false
//! alarms.
//!
//! Only the end of the log is read: blocks are scanned backwards for the
//! spelling of a `store.write` record (the log's canonical form makes it
//! exact; a vectorised substring search, not a split into lines, because a
//! log without a recent store write is read to its start on every store
//! open) and only a line holding it is parsed, with its hash checked.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::audit::{AUDIT_FILE, Event, MAX_LINE_BYTES, Record};

use super::{STORE_FILE, StoreError};

const BLOCK: u64 = 1024 * 1024;
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
    let mut chunks = BackwardChunks::new(file, len, BLOCK);
    let finder = memchr::memmem::Finder::new(NEEDLE);
    while let Some(chunk) = chunks.next_chunk().map_err(&unreadable)? {
        // Forward search is the vectorised one; hits are rare, so collect
        // them and take the newest first.
        let hits: Vec<usize> = finder.find_iter(chunk).collect();
        for &hit in hits.iter().rev() {
            let start = memchr::memrchr(b'\n', &chunk[..hit]).map_or(0, |p| p + 1);
            let end = hit + memchr::memchr(b'\n', &chunk[hit..]).unwrap_or(chunk.len() - hit);
            if let Some(generation) =
                generation_in(&chunk[start..end], store_id).map_err(&unreadable)?
            {
                return Ok(Some(generation));
            }
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

/// Runs of complete lines of a file, last run first: each starts at a line
/// start and ends with `\n`. Bytes after the final `\n` are an unfinished
/// append and are skipped. Only the part of a line cut by a block boundary
/// is copied between reads.
struct BackwardChunks {
    file: File,
    block: u64,
    /// Bytes before `end` are not yet read.
    end: u64,
    /// The start of the run read last, up to its first line start: the end
    /// of a line that began in an earlier block.
    carry: Vec<u8>,
    buf: Vec<u8>,
    seen_line_end: bool,
}

impl BackwardChunks {
    fn new(file: File, len: u64, block: u64) -> Self {
        BackwardChunks {
            file,
            block,
            end: len,
            carry: Vec::new(),
            buf: Vec::new(),
            seen_line_end: false,
        }
    }

    fn next_chunk(&mut self) -> Result<Option<&[u8]>, String> {
        loop {
            if self.end == 0 {
                return Ok(None);
            }
            let (buf, read) = self.read_block()?;
            let at_start = self.end == 0;
            // A line end in the carried part ends the line cut by the block
            // boundary; only one in the newly read part starts a full line.
            let from = match (at_start, memchr::memchr(b'\n', &buf[..read])) {
                (true, _) => 0,
                (false, Some(nl)) => nl + 1,
                (false, None) if buf.len() > MAX_LINE_BYTES + 1 => {
                    return Err(format!("a line is longer than {MAX_LINE_BYTES} bytes"));
                }
                (false, None) => {
                    self.carry = buf;
                    continue;
                }
            };
            self.carry = buf[..from].to_vec();
            if from == buf.len() {
                continue;
            }
            self.buf = buf;
            return Ok(Some(&self.buf[from..]));
        }
    }

    /// The next block back, followed by the carried line end, without the
    /// unfinished append at the file's end; and how many bytes of it were
    /// newly read.
    fn read_block(&mut self) -> Result<(Vec<u8>, usize), String> {
        let start = self.end.saturating_sub(self.block);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.resize((self.end - start) as usize, 0);
        self.file
            .read_exact_at(&mut buf, start)
            .map_err(|e| e.to_string())?;
        let mut read = buf.len();
        buf.extend_from_slice(&self.carry);
        self.carry.clear();
        self.end = start;
        if !self.seen_line_end {
            match memchr::memrchr(b'\n', &buf) {
                Some(last) => {
                    buf.truncate(last + 1);
                    self.seen_line_end = true;
                }
                None => buf.clear(), // all of it unfinished so far
            }
            read = buf.len();
        }
        Ok((buf, read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The complete lines of `text`, last first, read in blocks of `block`.
    fn lines_of(text: &[u8], block: u64) -> Vec<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, text).unwrap();
        let file = File::open(&path).unwrap();
        let mut chunks = BackwardChunks::new(file, text.len() as u64, block);
        let mut lines = Vec::new();
        while let Some(chunk) = chunks.next_chunk().unwrap() {
            assert_eq!(chunk.last(), Some(&b'\n'), "a chunk ends at a line end");
            let body = &chunk[..chunk.len() - 1];
            lines.extend(body.split(|&b| b == b'\n').rev().map(<[u8]>::to_vec));
        }
        lines
    }

    #[test]
    fn backward_lines_skip_the_torn_tail() {
        for block in [1, 3, 1024] {
            assert_eq!(lines_of(b"a\nbb\nccc\n", block), [&b"ccc"[..], b"bb", b"a"]);
            assert_eq!(lines_of(b"a\nbb\ntorn", block), [&b"bb"[..], b"a"]);
            assert_eq!(lines_of(b"only-torn", block), Vec::<Vec<u8>>::new());
            assert_eq!(lines_of(b"", block), Vec::<Vec<u8>>::new());
        }
    }

    #[test]
    fn backward_lines_cross_block_boundaries() {
        let long = vec![b'x'; 5000];
        let mut text = b"first\n".to_vec();
        text.extend_from_slice(&long);
        text.extend_from_slice(b"\nlast\n");
        for block in [7, 1000, 4096] {
            assert_eq!(
                lines_of(&text, block),
                [b"last".to_vec(), long.clone(), b"first".to_vec()]
            );
        }
    }

    #[test]
    fn over_long_lines_are_refused() {
        let text = [
            b"a\n".to_vec(),
            vec![b'x'; 2 * MAX_LINE_BYTES],
            b"\nb\n".to_vec(),
        ]
        .concat();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, &text).unwrap();
        let file = File::open(&path).unwrap();
        let mut chunks = BackwardChunks::new(file, text.len() as u64, 1024);
        let result = loop {
            match chunks.next_chunk() {
                Ok(Some(_)) => continue,
                Ok(None) => break Ok(()),
                Err(reason) => break Err(reason),
            }
        };
        assert!(result.unwrap_err().contains("longer than"));
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
