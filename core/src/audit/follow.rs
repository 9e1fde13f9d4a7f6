//! Following a log as it grows (`runner audit log --follow`).
//!
//! Guarantees: every record is handed out only after the same checks
//! `verify` makes of it (its hash, `seq` and `prev` against the record
//! before it, segment boundaries, the carried store generation and, with
//! the key, its MAC), from the log's first record on, so a record that does
//! not chain on is never shown as if it belonged. The follower reads only
//! complete lines (an append in progress is read once it is whole) and goes
//! on across rotation: after a segment's `segment.close` it continues in
//! the file that holds the next seq (a sealed segment, or the new active
//! file once the rotation put it in place). It stops at the first problem,
//! naming it as `verify` would; a file that got shorter than what was read
//! is such a problem (records were cut off).

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::chain::Chain;
use super::checkpoint::CheckpointKey;
use super::lines::{Line, Lines};
use super::problem::{Problem, ProblemKind};
use super::record::{Event, Parsed, Record, Scratch};
use super::segments::{Layout, file_name, same_file, sealed_path};
use super::verify::{io_err, open};
use super::{AuditError, MAX_LINE_BYTES};

/// A reader that hands out each record of the log once it is verified.
pub struct Follower<'k> {
    active: PathBuf,
    key: Option<&'k CheckpointKey>,
    chain: Chain,
    scratch: Scratch,
    /// The segment file being read, its path, and the bytes of its complete
    /// lines read so far.
    file: File,
    path: PathBuf,
    consumed: u64,
    /// Records (one a line) read from this file; whether it was sealed.
    in_file: u64,
    closed: bool,
}

impl<'k> Follower<'k> {
    /// A follower at the first record of the log whose active segment is
    /// `active`; `key` (when at hand) also checks record MACs.
    pub fn start(active: &Path, key: Option<&'k CheckpointKey>) -> Result<Self, AuditError> {
        let layout = Layout::of(active).map_err(|source| io_err(active, source))?;
        let path = layout
            .files()
            .into_iter()
            .next()
            .ok_or_else(|| AuditError::NotFound {
                path: active.to_owned(),
            })?;
        Ok(Follower {
            active: active.to_owned(),
            key,
            chain: Chain::new(&[]),
            scratch: Scratch::default(),
            file: open(&path)?,
            path,
            consumed: 0,
            in_file: 0,
            closed: false,
        })
    }

    /// Hands every record appended since the last call to `each`, in
    /// order, each after it verified. `Ok(Some(problem))`: the log does not
    /// verify there; nothing after it is handed out.
    pub fn poll(&mut self, mut each: impl FnMut(Record)) -> Result<Option<Problem>, AuditError> {
        loop {
            if self.closed && !self.next_segment()? {
                return Ok(None);
            }
            match self.read_file(&mut each)? {
                Some(problem) => return Ok(Some(problem)),
                None if self.closed => continue,
                None => return Ok(None),
            }
        }
    }

    /// Reads the complete lines of the current file past what was read.
    fn read_file(&mut self, each: &mut impl FnMut(Record)) -> Result<Option<Problem>, AuditError> {
        let path = self.path.clone();
        let io = |source| io_err(&path, source);
        let len = self.file.metadata().map_err(io)?.len();
        if len < self.consumed {
            let why = "the file got shorter while it was read: records were cut off";
            return Ok(Some(self.problem(None, ProblemKind::Malformed(why.into()))));
        }
        let mut handle = self.file.try_clone().map_err(io)?;
        handle.seek(SeekFrom::Start(self.consumed)).map_err(io)?;
        let mut lines = Lines::new(handle);
        while !self.closed {
            let bytes = match lines.next().map_err(io)? {
                Line::Complete(bytes) => bytes,
                // Not yet whole: read again once the append finished.
                Line::Torn(_) | Line::Eof => break,
                Line::TooLong => {
                    let why = format!("a line longer than {MAX_LINE_BYTES} bytes");
                    return Ok(Some(self.problem(None, ProblemKind::Malformed(why))));
                }
            };
            self.consumed += bytes.len() as u64 + 1;
            let parsed = match Parsed::from_line(bytes, &mut self.scratch) {
                Ok(parsed) => parsed,
                Err(why) => return Ok(Some(self.problem(None, ProblemKind::Malformed(why)))),
            };
            if let Some(kind) = self.check(&parsed) {
                return Ok(Some(self.problem(Some(parsed.record.seq), kind)));
            }
            self.chain.advance(&parsed.record);
            self.in_file += 1;
            self.closed = matches!(parsed.record.event, Event::SegmentClose { .. });
            each(parsed.record);
        }
        Ok(None)
    }

    /// `verify`'s checks of one record, in its order.
    fn check(&mut self, parsed: &Parsed) -> Option<ProblemKind> {
        let record = &parsed.record;
        let opens = matches!(record.event, Event::SegmentOpen { .. });
        if self.in_file == 0 && self.chain.records > 0 && !opens {
            let why = "the segment does not start with segment.open";
            return Some(ProblemKind::SegmentMismatch(why.into()));
        }
        self.chain
            .check(parsed)
            .or_else(|| self.chain.check_segment(record, self.in_file))
            .or_else(|| self.chain.check_carry(record))
            .or_else(|| {
                let key = self.key?;
                self.chain.check_mac(record, key.record())
            })
    }

    /// After a `segment.close`: moves to the file holding the next seq, a
    /// sealed segment or the new active file. `false` while the rotation has
    /// not yet put the new active file in place.
    fn next_segment(&mut self) -> Result<bool, AuditError> {
        let sealed = sealed_path(&self.active, self.chain.next_seq);
        let next = match sealed.exists() {
            true => sealed,
            false => self.active.clone(),
        };
        let file = match open(&next) {
            Ok(file) => file,
            Err(AuditError::NotFound { .. }) => return Ok(false),
            Err(error) => return Err(error),
        };
        let meta = |f: &File, path: &Path| f.metadata().map_err(|e| io_err(path, e));
        if same_file(&meta(&file, &next)?, &meta(&self.file, &self.path)?) {
            return Ok(false);
        }
        (self.file, self.path) = (file, next);
        (self.consumed, self.in_file, self.closed) = (0, 0, false);
        Ok(true)
    }

    fn problem(&self, seq: Option<u64>, kind: ProblemKind) -> Problem {
        Problem {
            file: file_name(&self.path),
            line: self.in_file + 1,
            seq,
            expected_seq: self.chain.next_seq,
            kind,
        }
    }
}
