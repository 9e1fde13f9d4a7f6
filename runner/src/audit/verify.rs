//! Reading and verifying a whole log, streaming.
//!
//! [`verify`] checks, line by line: strict parse, recomputed hash, constant
//! log id, seq 0, 1, 2, ... and `prev` equal to the previous record's hash,
//! `log.init` exactly at seq 0. It stops at the first problem and says which
//! record (seq and line) and what kind of damage, so an auditor can tell a
//! modified record from a deleted, inserted or reordered one, and a crash
//! (torn last line) from tampering. Memory use is one line.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde::Deserialize;

use super::AuditError;
use super::ids::{Hash, LogId};
use super::record::{Event, MAX_LINE_BYTES, Parsed, Record, Scratch};

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records checked and found intact, from the start of the log.
    pub records: u64,
    /// Hash of the last intact record.
    pub head: Option<Hash>,
    /// The log id (from the first record), if it could be read.
    pub log: Option<LogId>,
    pub first_problem: Option<Problem>,
    /// Lines in the file (complete or not), for `n/m records valid`.
    pub lines: u64,
    /// `(seq, hash)` of the intact records whose seq was asked for
    /// ([`verify_marked`]): what checkpoints are compared with.
    pub marks: Vec<(u64, Hash)>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.first_problem.is_none()
    }
}

/// The first thing wrong with a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number.
    pub line: u64,
    /// The seq written in the offending record, if it could be parsed.
    pub seq: Option<u64>,
    /// The seq that belongs at this line.
    pub expected_seq: u64,
    pub kind: ProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// The line does not parse strictly (the reason says why).
    Malformed(String),
    /// The last line has no `\n`: an append was interrupted. Not tampering.
    TornTail { bytes: u64 },
    /// The file is empty.
    Empty,
    /// The record's fields do not hash to its `hash`.
    HashMismatch,
    /// The record names another log.
    LogIdMismatch { expected: LogId, found: LogId },
    /// Records `expected..found` are missing.
    SequenceGap { expected: u64, found: u64 },
    /// A seq appears early, late or twice.
    OutOfOrder { expected: u64, found: u64 },
    /// `prev` is not the previous record's hash.
    BrokenChain,
    /// Seq 0 is not a `log.init` record.
    MissingInit,
    /// A `log.init` record after seq 0.
    MisplacedInit,
}

impl ProblemKind {
    /// Short code for `--json` and test vectors.
    pub fn code(&self) -> &'static str {
        match self {
            ProblemKind::Malformed(_) => "malformed",
            ProblemKind::TornTail { .. } => "torn-tail",
            ProblemKind::Empty => "empty",
            ProblemKind::HashMismatch => "hash-mismatch",
            ProblemKind::LogIdMismatch { .. } => "log-id-mismatch",
            ProblemKind::SequenceGap { .. } => "sequence-gap",
            ProblemKind::OutOfOrder { .. } => "out-of-order",
            ProblemKind::BrokenChain => "broken-chain",
            ProblemKind::MissingInit => "missing-init",
            ProblemKind::MisplacedInit => "misplaced-init",
        }
    }

    /// Everything but an interrupted append is evidence of tampering or
    /// corruption.
    pub fn is_tampering(&self) -> bool {
        !matches!(self, ProblemKind::TornTail { .. })
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemKind::Malformed(reason) => write!(f, "malformed record: {reason}"),
            ProblemKind::TornTail { bytes } => write!(
                f,
                "incomplete last line ({bytes} bytes, no newline): an append was interrupted, \
                 e.g. by a crash, not tampering; the next append cuts it off and records log.recover"
            ),
            ProblemKind::Empty => f.write_str("the log is empty: its log.init record is missing"),
            ProblemKind::HashMismatch => f.write_str("hash mismatch: the record was modified"),
            ProblemKind::LogIdMismatch { expected, found } => write!(
                f,
                "log id {found} differs from this log's id {expected}: the record comes from another log"
            ),
            ProblemKind::SequenceGap { expected, found } => write!(
                f,
                "sequence gap: expected seq {expected}, found {found}: {} record(s) deleted",
                found - expected
            ),
            ProblemKind::OutOfOrder { expected, found } => write!(
                f,
                "sequence out of order: expected seq {expected}, found {found}: \
                 records were reordered, duplicated or inserted"
            ),
            ProblemKind::BrokenChain => f.write_str(
                "broken chain: prev is not the hash of the record before it: that record was \
                 replaced and rehashed, or this one was inserted",
            ),
            ProblemKind::MissingInit => f.write_str("the first record is not log.init"),
            ProblemKind::MisplacedInit => {
                f.write_str("a log.init record after the start: another log was spliced in")
            }
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "record seq {seq} (line {}): {}", self.line, self.kind),
            None => write!(
                f,
                "line {} (seq {}): {}",
                self.line, self.expected_seq, self.kind
            ),
        }
    }
}

/// Verifies the whole chain. `Err` only when the file cannot be read;
/// damage is reported in [`VerifyReport::first_problem`].
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    verify_marked(path, &[])
}

/// Like [`verify`], and also reports the hashes of the intact records with
/// the seqs in `wanted` (in [`VerifyReport::marks`]).
pub fn verify_marked(path: &Path, wanted: &[u64]) -> Result<VerifyReport, AuditError> {
    let mut lines = Lines::new(open(path)?);
    let mut chain = Chain {
        wanted: wanted.to_vec(),
        ..Chain::default()
    };
    let problem = first_problem(&mut lines, &mut chain).map_err(|source| io_err(path, source))?;
    // Count the rest, so the report can say how many lines there were.
    while !matches!(lines.next().map_err(|e| io_err(path, e))?, Line::Eof) {}
    Ok(chain.report(problem, lines.line_no))
}

/// Advances `chain` over the intact records; returns the first problem.
fn first_problem(lines: &mut Lines, chain: &mut Chain) -> io::Result<Option<Problem>> {
    let mut scratch = Scratch::default();
    loop {
        let (line, expected_seq) = (lines.line_no + 1, chain.next_seq);
        let at = move |seq, kind| {
            Some(Problem {
                line,
                seq,
                expected_seq,
                kind,
            })
        };
        let parsed = match lines.next()? {
            Line::Eof if chain.records == 0 => return Ok(at(None, ProblemKind::Empty)),
            Line::Eof => return Ok(None),
            Line::Torn(bytes) => return Ok(at(None, ProblemKind::TornTail { bytes })),
            Line::TooLong => return Ok(at(None, too_long())),
            Line::Complete(bytes) => match Parsed::from_line(bytes, &mut scratch) {
                Ok(parsed) => parsed,
                Err(reason) => return Ok(at(None, ProblemKind::Malformed(reason))),
            },
        };
        if let Some(kind) = chain.check(&parsed) {
            let kind = classify_gap(kind, lines)?;
            return Ok(at(Some(parsed.record.seq), kind));
        }
        chain.advance(&parsed.record);
    }
}

/// A seq larger than expected means deleted records, unless the expected
/// seq turns up later: then the records were reordered.
fn classify_gap(kind: ProblemKind, lines: &mut Lines) -> io::Result<ProblemKind> {
    Ok(match kind {
        ProblemKind::SequenceGap { expected, found } if seq_appears_later(lines, expected)? => {
            ProblemKind::OutOfOrder { expected, found }
        }
        kind => kind,
    })
}

/// Reads and parses every record, without checking hashes or the chain
/// (use [`verify`] for that). Stops at the first malformed line.
pub fn read_records(path: &Path) -> Result<Vec<Record>, AuditError> {
    let mut lines = Lines::new(open(path)?);
    let mut records: Vec<Record> = Vec::new();
    let mut scratch = Scratch::default();
    loop {
        let malformed = |line, reason| AuditError::Malformed {
            path: path.to_owned(),
            line,
            after_seq: records.last().map(|r: &Record| r.seq),
            reason,
        };
        let line_no = lines.line_no + 1;
        match lines.next().map_err(|source| io_err(path, source))? {
            Line::Eof => return Ok(records),
            Line::Torn(bytes) => {
                return Err(malformed(
                    line_no,
                    ProblemKind::TornTail { bytes }.to_string(),
                ));
            }
            Line::TooLong => return Err(malformed(line_no, too_long().to_string())),
            Line::Complete(bytes) => match Parsed::from_line(bytes, &mut scratch) {
                Ok(parsed) => records.push(parsed.record),
                Err(reason) => return Err(malformed(line_no, reason)),
            },
        }
    }
}

fn too_long() -> ProblemKind {
    ProblemKind::Malformed(format!("line is longer than {MAX_LINE_BYTES} bytes"))
}

/// Chain state after the records checked so far.
#[derive(Default)]
struct Chain {
    records: u64,
    next_seq: u64,
    head: Option<Hash>,
    log: Option<LogId>,
    wanted: Vec<u64>,
    marks: Vec<(u64, Hash)>,
}

impl Chain {
    /// Checks in the order that names the cause most precisely: an edited
    /// record fails its own hash before anything else is compared.
    fn check(&self, parsed: &Parsed) -> Option<ProblemKind> {
        let record = &parsed.record;
        if parsed.computed != record.hash {
            return Some(ProblemKind::HashMismatch);
        }
        if let Some(expected) = self.log.filter(|log| *log != record.log) {
            return Some(ProblemKind::LogIdMismatch {
                expected,
                found: record.log,
            });
        }
        let (expected, found) = (self.next_seq, record.seq);
        if found > expected {
            return Some(ProblemKind::SequenceGap { expected, found });
        }
        if found < expected {
            return Some(ProblemKind::OutOfOrder { expected, found });
        }
        if record.prev != self.head.unwrap_or(Hash::ZERO) {
            return Some(ProblemKind::BrokenChain);
        }
        match (&record.event, record.seq) {
            (Event::LogInit { .. }, 0) => None,
            (_, 0) => Some(ProblemKind::MissingInit),
            (Event::LogInit { .. }, _) => Some(ProblemKind::MisplacedInit),
            _ => None,
        }
    }

    fn advance(&mut self, record: &Record) {
        self.records += 1;
        self.next_seq = record.seq + 1;
        self.head = Some(record.hash);
        self.log = Some(record.log);
        if self.wanted.contains(&record.seq) {
            self.marks.push((record.seq, record.hash));
        }
    }

    fn report(self, first_problem: Option<Problem>, lines: u64) -> VerifyReport {
        VerifyReport {
            records: self.records,
            head: self.head,
            log: self.log,
            first_problem,
            lines,
            marks: self.marks,
        }
    }
}

/// Whether a later line carries `seq`: tells reordering from deletion.
/// Only runs after a problem was found, so speed does not matter.
fn seq_appears_later(lines: &mut Lines, seq: u64) -> io::Result<bool> {
    #[derive(Deserialize)]
    struct SeqOnly {
        seq: u64,
    }
    loop {
        match lines.next()? {
            Line::Complete(bytes) => {
                if serde_json::from_slice::<SeqOnly>(bytes).is_ok_and(|r| r.seq == seq) {
                    return Ok(true);
                }
            }
            Line::TooLong => continue,
            Line::Eof | Line::Torn(_) => return Ok(false),
        }
    }
}

/// One line of the file, as far as it could be read.
enum Line<'a> {
    Complete(&'a [u8]),
    /// More than `MAX_LINE_BYTES` without a `\n`.
    TooLong,
    /// The file ends with this many bytes and no `\n`.
    Torn(u64),
    Eof,
}

/// A bounded line reader: never holds more than one maximal line.
struct Lines {
    reader: BufReader<File>,
    buf: Vec<u8>,
    line_no: u64,
}

impl Lines {
    fn new(file: File) -> Lines {
        Lines {
            reader: BufReader::with_capacity(256 * 1024, file),
            buf: Vec::new(),
            line_no: 0,
        }
    }

    fn next(&mut self) -> io::Result<Line<'_>> {
        self.buf.clear();
        let limit = MAX_LINE_BYTES as u64 + 1;
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)?;
        // Counts lines read, not end-of-file reads (which may repeat).
        self.line_no += u64::from(n > 0);
        Ok(match self.buf.last() {
            None => Line::Eof,
            Some(b'\n') => Line::Complete(&self.buf[..n - 1]),
            Some(_) if n as u64 == limit => Line::TooLong,
            Some(_) => Line::Torn(n as u64),
        })
    }
}

fn open(path: &Path) -> Result<File, AuditError> {
    File::open(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => AuditError::NotFound {
            path: path.to_owned(),
        },
        _ => io_err(path, source),
    })
}

fn io_err(path: &Path, source: io::Error) -> AuditError {
    AuditError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    }
}
