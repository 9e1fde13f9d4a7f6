//! The chain state of a verification: what the next record must be.
//!
//! One [`Chain`] runs across all segment files, so `seq` and `prev` are
//! checked across file boundaries exactly as within a file.

use super::ids::{Hash, LogId};
use super::mac::{self, RecordKey};
use super::problem::{Problem, ProblemKind};
use super::record::{Event, Parsed, Record};
use super::verify::VerifyReport;

/// Chain state after the records checked so far.
#[derive(Default)]
pub(super) struct Chain {
    pub records: u64,
    pub next_seq: u64,
    head: Option<Hash>,
    log: Option<LogId>,
    /// The current segment's number.
    segment: u64,
    /// The log's store id (`log.init`'s `store`) and the generation of the
    /// last `store.write` for it so far (0: none): what the next
    /// `segment.open` must carry.
    store: Option<String>,
    store_generation: u64,
    wanted: Vec<u64>,
    marks: Vec<(u64, Hash)>,
    /// The seq of the last record whose MAC verified.
    authenticated: Option<u64>,
    /// The previous record's time, and records whose time goes back.
    last_ts: Option<time::OffsetDateTime>,
    time_back: Option<TimeBack>,
}

/// Records whose time is before the previous record's (a clock set back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBack {
    pub first_seq: u64,
    pub count: u64,
}

impl Chain {
    /// A chain before its first record; remembers the hashes of `wanted` seqs.
    pub fn new(wanted: &[u64]) -> Chain {
        Chain {
            wanted: wanted.to_vec(),
            ..Chain::default()
        }
    }

    /// Checks in the order that names the cause most precisely: an edited
    /// record fails its own hash before anything else is compared.
    pub fn check(&self, parsed: &Parsed) -> Option<ProblemKind> {
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

    /// Segment records agree with where they are (`in_file` records of this
    /// file came before).
    pub(crate) fn check_segment(&self, record: &Record, in_file: u64) -> Option<ProblemKind> {
        let reason = match record.event {
            Event::SegmentOpen { .. } if in_file > 0 => {
                "segment.open in the middle of a segment".to_owned()
            }
            Event::SegmentOpen { segment, .. } if Some(segment) != self.segment.checked_add(1) => {
                format!(
                    "segment.open says segment {segment}, after segment {}",
                    self.segment
                )
            }
            Event::SegmentOpen { ref store, .. } if Some(store) != self.store.as_ref() => {
                format!(
                    "segment.open names store {store:?}, the log's store (log.init) is {:?}",
                    self.store.as_deref().unwrap_or_default()
                )
            }
            Event::SegmentClose { segment, .. } if segment != self.segment => {
                format!(
                    "segment.close says segment {segment}, in segment {}",
                    self.segment
                )
            }
            Event::SegmentClose { records, .. } if records != in_file + 1 => format!(
                "segment.close counts {records} records, the segment holds {}",
                in_file + 1
            ),
            _ => return None,
        };
        Some(ProblemKind::SegmentMismatch(reason))
    }

    /// A `segment.open` carries the generation of the last `store.write`
    /// for the log's store before it (checked after [`Chain::check_segment`],
    /// which compares the store ids).
    pub(crate) fn check_carry(&self, record: &Record) -> Option<ProblemKind> {
        match record.event {
            Event::SegmentOpen { generation, .. } if generation != self.store_generation => {
                Some(ProblemKind::CarriedGeneration {
                    carried: generation,
                    recorded: self.store_generation,
                })
            }
            _ => None,
        }
    }

    /// Checks the record's MAC with `key` (after the chain checks).
    pub(crate) fn check_mac(&mut self, record: &Record, key: &RecordKey) -> Option<ProblemKind> {
        match mac::authentic(key, record) {
            Some(true) => {
                self.authenticated = Some(record.seq);
                None
            }
            Some(false) => Some(ProblemKind::ForgedRecord {
                kind: record.event.kind(),
                missing: record.mac.is_none(),
            }),
            None => None,
        }
    }

    pub(crate) fn advance(&mut self, record: &Record) {
        if self.last_ts.is_some_and(|ts| record.ts < ts) {
            let back = self.time_back.get_or_insert(TimeBack {
                first_seq: record.seq,
                count: 0,
            });
            back.count += 1;
        }
        self.last_ts = Some(record.ts);
        self.records += 1;
        self.next_seq = record.seq + 1;
        self.head = Some(record.hash);
        self.log = Some(record.log);
        match &record.event {
            Event::SegmentOpen { segment, .. } => self.segment = *segment,
            Event::LogInit { store } => self.store = Some(store.clone()),
            Event::StoreWrite { store, generation } if Some(store) == self.store.as_ref() => {
                self.store_generation = *generation;
            }
            _ => {}
        }
        if self.wanted.contains(&record.seq) {
            self.marks.push((record.seq, record.hash));
        }
    }

    pub fn report(self, first_problem: Option<Problem>, lines: u64, segments: u64) -> VerifyReport {
        VerifyReport {
            records: self.records,
            head: self.head,
            log: self.log,
            first_problem,
            lines,
            segments,
            marks: self.marks,
            authenticated: self.authenticated,
            time_back: self.time_back,
            store: self.store,
        }
    }
}
