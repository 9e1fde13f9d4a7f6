//! Finding the last complete record of a log without reading the whole file.
//!
//! The writer needs only the last record (for `seq` and `prev`). It reads a
//! window from the end, growing it until the last two line ends are inside,
//! bounded by two maximal lines. Bytes after the last `\n` are an incomplete
//! append (a torn tail) and are returned separately for recovery.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::AuditError;
use super::ids::Hash;
use super::record::{MAX_LINE_BYTES, Parsed, Record, Scratch};
use super::remember::Checked;

/// The end of a log.
pub(crate) struct Tail {
    /// The last complete record, parsed strictly and with its hash checked.
    pub last: Record,
    /// Bytes after the last `\n`, if any.
    pub torn: Option<Torn>,
    /// What the append was checked against, once it was (`guard.rs`).
    pub checked: Option<Checked>,
}

/// An incomplete final line.
pub(crate) struct Torn {
    /// Where it starts: the length to truncate the file to.
    pub offset: u64,
    pub len: u64,
    pub hash: Hash,
}

const FIRST_WINDOW: u64 = 8 * 1024;
const MAX_WINDOW: u64 = 2 * (MAX_LINE_BYTES as u64 + 1);

/// Reads and checks the last complete record of `file` (of length `len`).
pub(crate) fn read_tail(file: &File, len: u64, path: &Path) -> Result<Tail, AuditError> {
    let damaged = |reason: String| AuditError::DamagedTail {
        path: path.to_owned(),
        reason,
    };
    if len == 0 {
        return Err(damaged(
            "the log is empty (it has no log.init record)".into(),
        ));
    }
    let mut window = len.min(FIRST_WINDOW);
    loop {
        let start = len - window;
        let mut buf = vec![0u8; window as usize];
        file.read_exact_at(&mut buf, start)
            .map_err(|source| AuditError::Io {
                action: "read the end of",
                path: path.to_owned(),
                source,
            })?;
        if let Some(found) = locate(&buf, start == 0) {
            return tail_from(&buf, start, found).map_err(damaged);
        }
        if window >= len.min(MAX_WINDOW) {
            return Err(damaged(format!(
                "no complete record in its last {window} bytes (records are at most {MAX_LINE_BYTES} bytes)"
            )));
        }
        window = len.min(MAX_WINDOW).min(window * 4);
    }
}

/// Positions in the window: the last line is `line_start..line_end` and the
/// torn tail starts at `line_end + 1`.
struct Found {
    line_start: usize,
    line_end: usize,
}

/// `None` when the window must grow. `at_file_start`: nothing lies before it.
fn locate(buf: &[u8], at_file_start: bool) -> Option<Found> {
    let Some(line_end) = buf.iter().rposition(|&b| b == b'\n') else {
        // No line end at all: everything is torn, or the window is too small.
        return at_file_start.then_some(Found {
            line_start: 0,
            line_end: usize::MAX,
        });
    };
    match buf[..line_end].iter().rposition(|&b| b == b'\n') {
        Some(prev) => Some(Found {
            line_start: prev + 1,
            line_end,
        }),
        None => at_file_start.then_some(Found {
            line_start: 0,
            line_end,
        }),
    }
}

fn tail_from(buf: &[u8], start: u64, found: Found) -> Result<Tail, String> {
    if found.line_end == usize::MAX {
        return Err(format!(
            "it holds {} bytes and no complete record",
            buf.len()
        ));
    }
    let torn_bytes = &buf[found.line_end + 1..];
    if torn_bytes.len() > MAX_LINE_BYTES {
        return Err(format!(
            "it ends with {} bytes that are not a record",
            torn_bytes.len()
        ));
    }
    let line = &buf[found.line_start..found.line_end];
    let parsed = Parsed::from_line(line, &mut Scratch::default())?;
    if parsed.computed != parsed.record.hash {
        return Err(format!(
            "record seq {}: hash mismatch: the record was modified",
            parsed.record.seq
        ));
    }
    let torn = (!torn_bytes.is_empty()).then(|| Torn {
        offset: start + found.line_end as u64 + 1,
        len: torn_bytes.len() as u64,
        hash: Hash::of(torn_bytes),
    });
    Ok(Tail {
        last: parsed.record,
        torn,
        checked: None,
    })
}
