//! Reading every record of a log, all segments in chain order, without
//! checking hashes or the chain (that is [`verify`](super::verify)).

use std::path::Path;

use super::AuditError;
use super::lines::{Line, Lines};
use super::problem::ProblemKind;
use super::record::{Parsed, Record, Scratch};
use super::segments::Layout;
use super::verify::{io_err, open};
use super::verify_end::too_long;

/// Reads and parses every record of the log whose active segment is
/// `path`, sealed segments first. Stops at the first malformed line.
pub fn read_records(path: &Path) -> Result<Vec<Record>, AuditError> {
    let mut records = Vec::new();
    for_each_record(path, |record| records.push(record))?;
    Ok(records)
}

/// Like [`read_records`], handing each record to `each` as it is read, so
/// that a large log is never held in memory.
pub fn for_each_record(path: &Path, mut each: impl FnMut(Record)) -> Result<(), AuditError> {
    let layout = Layout::of(path).map_err(|source| io_err(path, source))?;
    let files = layout.files();
    if files.is_empty() {
        return Err(AuditError::NotFound {
            path: path.to_owned(),
        });
    }
    let mut scratch = Scratch::default();
    let mut after_seq = None;
    for file in files {
        let mut lines = Lines::new(open(&file)?);
        loop {
            let malformed = |line, reason| AuditError::Malformed {
                path: file.clone(),
                line,
                after_seq,
                reason,
            };
            let line_no = lines.line_no + 1;
            let record = match lines.next().map_err(|source| io_err(&file, source))? {
                Line::Eof => break,
                Line::Torn(bytes) => {
                    let reason = ProblemKind::TornTail { bytes }.to_string();
                    return Err(malformed(line_no, reason));
                }
                Line::TooLong => return Err(malformed(line_no, too_long().to_string())),
                Line::Complete(bytes) => match Parsed::from_line(bytes, &mut scratch) {
                    Ok(parsed) => parsed.record,
                    Err(reason) => return Err(malformed(line_no, reason)),
                },
            };
            after_seq = Some(record.seq);
            each(record);
        }
    }
    Ok(())
}
