//! How a segment file ends, as `verify` judges it: a clean end, a torn
//! last line (an interrupted append, not tampering), a `segment.close` that
//! is not the last line, or one that ends the active file (an interrupted
//! rotation); and, after a seq gap, whether the missing seq turns up later
//! (records moved, not deleted).

use std::io;

use serde::Deserialize;

use super::lines::{Line, Lines};
use super::problem::ProblemKind;
use super::record::MAX_LINE_BYTES;

/// Where a file stands in the log.
#[derive(Clone, Copy)]
pub(super) enum Role {
    /// A sealed segment whose name announces this first seq.
    Sealed(u64),
    Active,
}

/// What the end of a file (or an unreadable last line) means.
pub(super) fn end_of_file(
    line: Line<'_>,
    role: Role,
    records: u64,
    in_file: u64,
) -> Option<ProblemKind> {
    match (line, role) {
        (Line::Eof, Role::Active) if records == 0 => Some(ProblemKind::InitInterrupted),
        (Line::Eof, _) if records == 0 || in_file == 0 => Some(ProblemKind::Empty),
        (Line::Eof, Role::Active) => None,
        (Line::Eof | Line::Torn(_), Role::Sealed(_)) => Some(ProblemKind::SegmentUnclosed),
        (Line::Torn(bytes), Role::Active) => Some(ProblemKind::TornTail { bytes }),
        (Line::TooLong, _) => Some(too_long()),
        (Line::Complete(_), _) => unreachable!("complete lines are parsed"),
    }
}

/// A `segment.close` must be the last line of its file; at the end of the
/// active file it is a rotation that stopped half-way.
pub(super) fn after_close(next: Line<'_>, role: Role) -> Option<ProblemKind> {
    match (next, role) {
        (Line::Eof, Role::Sealed(_)) => None,
        (Line::Eof, Role::Active) => Some(ProblemKind::RotationInterrupted),
        _ => Some(ProblemKind::SegmentMismatch(
            "a record follows segment.close".into(),
        )),
    }
}

pub(super) fn too_long() -> ProblemKind {
    ProblemKind::Malformed(format!("line is longer than {MAX_LINE_BYTES} bytes"))
}

/// Whether a later line carries `seq`: tells reordering from deletion.
/// Only runs after a problem was found, so speed does not matter.
pub(super) fn seq_appears_later(lines: &mut Lines, seq: u64) -> io::Result<bool> {
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
