//! What can be wrong with a log, as [`verify`](super::verify) reports it:
//! the first bad record (segment file, line, seq) and the kind of damage.

use std::fmt;

use super::ids::LogId;

/// The first thing wrong with a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The segment file it is in (`audit.jsonl` for the active one).
    pub file: String,
    /// 1-based line number within that file.
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
    /// The whole log is one empty file: `runner init` was interrupted
    /// between creating it and writing `log.init`. Not tampering (a log cut
    /// to nothing under a checkpoint is reported as truncated).
    InitInterrupted,
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
    /// The segment file `file`, which should hold the records from seq
    /// `first_seq` on, does not exist.
    SegmentMissing { file: String, first_seq: u64 },
    /// A sealed segment's name says it starts at `named`, its first record
    /// is seq `found`: segment files were renamed or swapped.
    SegmentMisnamed { named: u64, found: u64 },
    /// A segment file that is not part of the chain: its name overlaps
    /// records already verified, or another file continues the chain.
    SegmentExtra { named: u64 },
    /// A sealed segment does not end with its `segment.close`: truncated.
    SegmentUnclosed,
    /// `segment.open`/`segment.close` out of place or disagreeing with the
    /// files (the reason says how).
    SegmentMismatch(String),
    /// The active segment ends in `segment.close`: a rotation was
    /// interrupted (e.g. by a crash). Not tampering.
    RotationInterrupted,
    /// A `segment.open` carries another store generation than the last
    /// `store.write` for the log's store before it recorded (0: none): the
    /// store's rollback check, which trusts the carried value, could be
    /// misled.
    CarriedGeneration { carried: u64, recorded: u64 },
    /// A record whose MAC does not verify with the store's key, or a record
    /// of a kind the runner writes only with the key that has none
    /// (`missing`): someone without the key wrote it.
    ForgedRecord { kind: &'static str, missing: bool },
}

impl ProblemKind {
    /// Short code for `--json` and test vectors.
    pub fn code(&self) -> &'static str {
        match self {
            ProblemKind::Malformed(_) => "malformed",
            ProblemKind::TornTail { .. } => "torn-tail",
            ProblemKind::Empty => "empty",
            ProblemKind::InitInterrupted => "init-interrupted",
            ProblemKind::HashMismatch => "hash-mismatch",
            ProblemKind::LogIdMismatch { .. } => "log-id-mismatch",
            ProblemKind::SequenceGap { .. } => "sequence-gap",
            ProblemKind::OutOfOrder { .. } => "out-of-order",
            ProblemKind::BrokenChain => "broken-chain",
            ProblemKind::MissingInit => "missing-init",
            ProblemKind::MisplacedInit => "misplaced-init",
            ProblemKind::SegmentMissing { .. } => "segment-missing",
            ProblemKind::SegmentMisnamed { .. } => "segment-misnamed",
            ProblemKind::SegmentExtra { .. } => "segment-extra",
            ProblemKind::SegmentUnclosed => "segment-unclosed",
            ProblemKind::SegmentMismatch(_) => "segment-mismatch",
            ProblemKind::RotationInterrupted => "rotation-interrupted",
            ProblemKind::CarriedGeneration { .. } => "carried-generation",
            ProblemKind::ForgedRecord { .. } => "forged-record",
        }
    }

    /// Everything but an interrupted append or rotation is evidence of
    /// tampering or corruption.
    pub fn is_tampering(&self) -> bool {
        !matches!(
            self,
            ProblemKind::TornTail { .. }
                | ProblemKind::RotationInterrupted
                | ProblemKind::InitInterrupted
        )
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
            ProblemKind::InitInterrupted => f.write_str(
                "the log is empty: `runner init` was interrupted before its first record; \
                 run `runner init` again to complete it",
            ),
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
            ProblemKind::SegmentMissing { file, first_seq } => write!(
                f,
                "segment file {file} is missing: the records from seq {first_seq} on were deleted"
            ),
            ProblemKind::SegmentMisnamed { named, found } => write!(
                f,
                "the file's name says its first record is seq {named}, but it starts with seq \
                 {found}: segment files were renamed or swapped"
            ),
            ProblemKind::SegmentExtra { named } => write!(
                f,
                "segment file named for seq {named} is not part of this log's chain (its records \
                 overlap others, or another file continues the chain): an extra or forged segment"
            ),
            ProblemKind::SegmentUnclosed => f.write_str(
                "the sealed segment does not end with its segment.close record: it was truncated",
            ),
            ProblemKind::SegmentMismatch(reason) => write!(f, "segment structure: {reason}"),
            ProblemKind::RotationInterrupted => f.write_str(
                "the active segment ends with segment.close: a rotation was interrupted (e.g. by \
                 a crash), not tampering; the next append finishes it",
            ),
            ProblemKind::CarriedGeneration { carried, recorded } => write!(
                f,
                "segment.open carries store generation {carried}, but the last store.write \
                 before it recorded {recorded} (0: none): the carried value, which the store's \
                 rollback check trusts instead of reading older segments, was forged"
            ),
            ProblemKind::ForgedRecord {
                kind,
                missing: true,
            } => write!(
                f,
                "forged record: a {kind} record without a MAC; the runner writes {kind} only \
                 with the store key, so someone without the key wrote it"
            ),
            ProblemKind::ForgedRecord {
                kind,
                missing: false,
            } => write!(
                f,
                "forged record: the MAC of this {kind} record does not verify with this \
                 store's key"
            ),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            // Line 0: about the file as a whole (e.g. a missing one).
            None if self.line == 0 => write!(
                f,
                "{} (seq {}): {}",
                self.file, self.expected_seq, self.kind
            ),
            Some(seq) => write!(
                f,
                "record seq {seq} ({} line {}): {}",
                self.file, self.line, self.kind
            ),
            None => write!(
                f,
                "{} line {} (seq {}): {}",
                self.file, self.line, self.expected_seq, self.kind
            ),
        }
    }
}
