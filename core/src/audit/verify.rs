//! Verifying a whole log, all its segments, streaming.
//!
//! [`verify`] walks the sealed segments in name order, then the active one,
//! and checks, record by record: strict parse, recomputed hash, constant log
//! id, seq 0, 1, 2, ... and `prev` equal to the previous record's hash across
//! files, `log.init` exactly at seq 0; and per file: each sealed segment is
//! named for its first seq, starts with `segment.open` (the first with
//! `log.init`) and ends with a `segment.close` that counts its records, and
//! each `segment.open` carries the log's store id and the generation of the
//! last `store.write` for it before (what the store's rollback check relies
//! on). It
//! stops at the first problem and says which file, line and seq and what
//! kind of damage, so an auditor can tell a modified record from a deleted,
//! inserted or reordered one, a deleted or forged segment from a renamed
//! one, and a crash (torn last line, interrupted rotation) from tampering.
//! Memory use is one line.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::AuditError;
use super::chain::Chain;
pub use super::chain::TimeBack;
use super::ids::{Hash, LogId};
use super::lines::{Line, Lines};
use super::mac::RecordKey;
pub use super::problem::{Problem, ProblemKind};
use super::record::{Event, Parsed, Record, Scratch};
use super::segments::{self, Layout, Snapshot, file_name};
use super::verify_end::{Role, after_close, end_of_file, seq_appears_later};

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
    /// Lines in all segment files (complete or not), for `n/m records valid`.
    pub lines: u64,
    /// Segment files read (sealed ones and the active one).
    pub segments: u64,
    /// `(seq, hash)` of the intact records whose seq was asked for
    /// ([`verify_marked`]): what checkpoints are compared with.
    pub marks: Vec<(u64, Hash)>,
    /// The seq of the last record whose MAC verified (only when verified
    /// with the key): it vouches for every record up to it.
    pub authenticated: Option<u64>,
    /// Records whose time is before the previous record's.
    pub time_back: Option<TimeBack>,
    /// The store id `log.init` names (the log's store), if it was read.
    pub store: Option<String>,
}

impl VerifyReport {
    #[cfg(test)]
    pub(crate) fn is_intact(&self) -> bool {
        self.first_problem.is_none()
    }
}

/// Verifies the whole chain of the log whose active segment is `path`
/// (sealed segments are found beside it). `Err` only when a file cannot be
/// read; damage is reported in [`VerifyReport::first_problem`].
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    verify_marked(path, &[])
}

/// Like [`verify`], and also reports the hashes of the intact records with
/// the seqs in `wanted` (in [`VerifyReport::marks`]).
pub fn verify_marked(path: &Path, wanted: &[u64]) -> Result<VerifyReport, AuditError> {
    verify_keyed(path, wanted, None)
}

/// Like [`verify_marked`], and with the record MAC key also checks every
/// record's MAC: a record whose MAC fails, or an always-keyed kind without
/// one, is [`ProblemKind::ForgedRecord`].
pub(crate) fn verify_keyed(
    path: &Path,
    wanted: &[u64],
    key: Option<&RecordKey>,
) -> Result<VerifyReport, AuditError> {
    let snapshot = Snapshot::take(path).map_err(|source| io_err(path, source))?;
    let layout = &snapshot.layout;
    if layout.active.is_none() && layout.sealed.is_empty() {
        return Err(AuditError::NotFound {
            path: path.to_owned(),
        });
    }
    let mut walk = Walk {
        chain: Chain::new(wanted),
        files: layout.files(),
        handles: &snapshot.handles,
        active_len: snapshot.active_len,
        sealed: layout.sealed.iter().map(|s| s.first_seq).collect(),
        lines: 0,
        scratch: Scratch::default(),
        key,
    };
    let problem = walk.all(path, layout)?;
    let segments = walk.files.len() as u64;
    Ok(walk.chain.report(problem, walk.lines, segments))
}

/// What one line of a file did to the walk.
enum Step {
    /// An intact record; `closes`: it was a `segment.close`.
    Intact { closes: bool },
    /// The file ends here: cleanly (`None`) or with a problem (and the seq
    /// of the offending record, if it parsed).
    Stop(Option<u64>, Option<ProblemKind>),
}

/// The state of one verification across files.
struct Walk<'k> {
    key: Option<&'k RecordKey>,
    /// Open handles of `files`, from one consistent snapshot.
    handles: &'k [File],
    /// Read the active file only this far (its length in the snapshot).
    active_len: Option<u64>,
    chain: Chain,
    /// Files in chain order; the first `sealed.len()` are sealed.
    files: Vec<PathBuf>,
    sealed: Vec<u64>,
    lines: u64,
    scratch: Scratch,
}

impl Walk<'_> {
    /// Lines of the file at `index`, from its start, as far as the snapshot goes.
    fn lines(&self, index: usize) -> Result<Lines, AuditError> {
        let path = &self.files[index];
        let mut file = self.handles[index]
            .try_clone()
            .map_err(|source| io_err(path, source))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|source| io_err(path, source))?;
        let active = index + 1 == self.files.len() && index >= self.sealed.len();
        let limit = self.active_len.filter(|_| active).unwrap_or(u64::MAX);
        Ok(Lines::limited(file, limit))
    }

    fn count_lines(&self, index: usize) -> Result<u64, AuditError> {
        let path = &self.files[index];
        let mut lines = self.lines(index)?;
        while !matches!(lines.next().map_err(|e| io_err(path, e))?, Line::Eof) {}
        Ok(lines.line_no)
    }

    fn all(&mut self, active: &Path, layout: &Layout) -> Result<Option<Problem>, AuditError> {
        for index in 0..self.files.len() {
            let role = match self.sealed.get(index) {
                Some(named) => Role::Sealed(*named),
                None => Role::Active,
            };
            if let Some(problem) = self.file(index, role)? {
                self.count_rest(index + 1)?;
                return Ok(Some(problem));
            }
        }
        let at = |line, kind| Problem {
            file: file_name(active),
            line,
            seq: None,
            expected_seq: self.chain.next_seq,
            kind,
        };
        Ok(match (&layout.active, layout.active_is_sealed) {
            (None, _) => Some(at(
                0,
                ProblemKind::SegmentMissing {
                    file: file_name(active),
                    first_seq: self.chain.next_seq,
                },
            )),
            (Some(_), true) => Some(at(0, ProblemKind::RotationInterrupted)),
            (Some(_), false) => None,
        })
    }

    /// Checks the file at `index`; counts its lines.
    fn file(&mut self, index: usize, role: Role) -> Result<Option<Problem>, AuditError> {
        let path = self.files[index].clone();
        if let Role::Sealed(named) = role
            && let Some(kind) = self.placement(index, named)
        {
            self.lines += self.count_lines(index)?;
            return Ok(Some(self.problem_at(&path, 1, None, kind)));
        }
        let mut lines = self.lines(index)?;
        let problem = self
            .records_of(&mut lines, &path, role, index)
            .map_err(|source| io_err(&path, source))?;
        if problem.is_some() {
            while !matches!(lines.next().map_err(|e| io_err(&path, e))?, Line::Eof) {}
        }
        self.lines += lines.line_no;
        Ok(problem)
    }

    /// A sealed segment named for another seq than the chain expects.
    fn placement(&self, index: usize, named: u64) -> Option<ProblemKind> {
        let expected = self.chain.next_seq;
        if named == expected {
            return None;
        }
        if named < expected {
            return Some(ProblemKind::SegmentExtra { named });
        }
        let path = &self.files[index];
        let found = segments::first_seq(path);
        if found == Some(expected) {
            return Some(ProblemKind::SegmentMisnamed {
                named,
                found: expected,
            });
        }
        // Missing, unless a later file continues the chain at `expected`.
        let continued = self.files[index + 1..]
            .iter()
            .any(|later| segments::first_seq(later) == Some(expected));
        Some(match continued {
            true => ProblemKind::SegmentExtra { named },
            false => self.missing(),
        })
    }

    fn missing(&self) -> ProblemKind {
        let first_seq = self.chain.next_seq;
        let active = self
            .files
            .last()
            .map(PathBuf::as_path)
            .unwrap_or(Path::new(""));
        ProblemKind::SegmentMissing {
            file: file_name(&segments::sealed_path(active, first_seq)),
            first_seq,
        }
    }

    fn problem_at(&self, path: &Path, line: u64, seq: Option<u64>, kind: ProblemKind) -> Problem {
        Problem {
            file: file_name(path),
            line,
            seq,
            expected_seq: self.chain.next_seq,
            kind,
        }
    }

    /// Advances the chain over the file's intact records; the first problem.
    fn records_of(
        &mut self,
        lines: &mut Lines,
        path: &Path,
        role: Role,
        index: usize,
    ) -> io::Result<Option<Problem>> {
        let mut in_file = 0u64;
        loop {
            let line = lines.line_no + 1;
            match self.step(lines, role, in_file)? {
                Step::Intact { closes: false } => in_file += 1,
                Step::Intact { closes: true } => {
                    let kind = after_close(lines.next()?, role);
                    return Ok(kind.map(|kind| self.problem_at(path, line + 1, None, kind)));
                }
                Step::Stop(_, None) => return Ok(None),
                Step::Stop(seq, Some(kind)) => {
                    let kind = self.classify_gap(kind, lines, index)?;
                    return Ok(Some(self.problem_at(path, line, seq, kind)));
                }
            }
        }
    }

    /// Reads and checks the next line; advances the chain if it is intact.
    fn step(&mut self, lines: &mut Lines, role: Role, in_file: u64) -> io::Result<Step> {
        let parsed = match lines.next()? {
            Line::Complete(bytes) => Parsed::from_line(bytes, &mut self.scratch),
            other => {
                let end = end_of_file(other, role, self.chain.records, in_file);
                return Ok(Step::Stop(None, end));
            }
        };
        let parsed = match parsed {
            Ok(parsed) => parsed,
            Err(reason) => return Ok(Step::Stop(None, Some(ProblemKind::Malformed(reason)))),
        };
        let record = &parsed.record;
        let start = match in_file {
            0 => self.segment_start(record, role),
            _ => None,
        };
        let problem = start
            .or_else(|| self.chain.check(&parsed))
            .or_else(|| self.chain.check_segment(record, in_file))
            .or_else(|| self.chain.check_carry(record))
            .or_else(|| match self.key {
                Some(key) => self.chain.check_mac(record, key),
                None => None,
            });
        if problem.is_some() {
            return Ok(Step::Stop(Some(record.seq), problem));
        }
        self.chain.advance(record);
        let closes = matches!(record.event, Event::SegmentClose { .. });
        Ok(Step::Intact { closes })
    }

    /// Checks on a file's first record that name segment-level damage.
    fn segment_start(&self, record: &Record, role: Role) -> Option<ProblemKind> {
        if let Role::Sealed(named) = role
            && record.seq != named
        {
            return Some(ProblemKind::SegmentMisnamed {
                named,
                found: record.seq,
            });
        }
        let opens = matches!(record.event, Event::SegmentOpen { .. });
        if opens && record.seq > self.chain.next_seq {
            return Some(self.missing());
        }
        if self.chain.records > 0 && !opens {
            let reason = "the segment does not start with segment.open".into();
            return Some(ProblemKind::SegmentMismatch(reason));
        }
        None
    }

    /// A seq larger than expected means deleted records, unless the expected
    /// seq turns up later (in this file or a later one): then the records
    /// were reordered or moved.
    fn classify_gap(
        &self,
        kind: ProblemKind,
        lines: &mut Lines,
        index: usize,
    ) -> io::Result<ProblemKind> {
        let ProblemKind::SequenceGap { expected, found } = kind else {
            return Ok(kind);
        };
        let mut later = seq_appears_later(lines, expected)?;
        for next in index + 1..self.files.len() {
            if later {
                break;
            }
            let Ok(mut next_lines) = self.lines(next) else {
                continue;
            };
            later = seq_appears_later(&mut next_lines, expected)?;
        }
        Ok(match later {
            true => ProblemKind::OutOfOrder { expected, found },
            false => kind,
        })
    }

    /// Counts the lines of the files from `index` on (after a problem, so
    /// that the report can say how many lines there were).
    fn count_rest(&mut self, index: usize) -> Result<(), AuditError> {
        for next in index..self.files.len() {
            self.lines += self.count_lines(next)?;
        }
        Ok(())
    }
}

pub(super) fn open(path: &Path) -> Result<File, AuditError> {
    File::open(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => AuditError::NotFound {
            path: path.to_owned(),
        },
        _ => io_err(path, source),
    })
}

pub(super) fn io_err(path: &Path, source: io::Error) -> AuditError {
    AuditError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    }
}
