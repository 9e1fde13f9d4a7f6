//! Verifying a log while showing it: the review commands (`audit log`,
//! `audit grants`, `secret list`) read the records through the verifier
//! `audit verify` uses, so what they show is exactly what was verified, in
//! one pass over one snapshot of the files.
//!
//! Guarantees: every record that parses is handed to the visitor once, in
//! file order, intact or not; after the first problem the walk stops
//! checking, and the records after it (in that file and the later ones)
//! are still handed over, so a damaged log is shown in full and then
//! judged, never hidden.

use std::path::Path;

use super::AuditError;
use super::anchor::{AnchorSource, Anchored, verify_anchored_with};
use super::checkpoint::{Checkpoint, CheckpointKey};
use super::lines::Line;
use super::record::{Parsed, Record};
use super::verify::{Walk, io_err};

/// [`super::verify_anchored`], handing each record it reads to `each`.
pub fn verify_anchored_each(
    path: &Path,
    checkpoints: Vec<(AnchorSource, Checkpoint)>,
    key: Option<&CheckpointKey>,
    mut each: impl FnMut(&Record),
) -> Result<Anchored, AuditError> {
    verify_anchored_with(path, checkpoints, key, Some(&mut each))
}

impl Walk<'_, '_> {
    /// After a problem: hands the records not yet seen (those after the
    /// last visited line) to the visitor, without checking them.
    pub(super) fn visit_rest(&mut self) -> Result<(), AuditError> {
        if self.visit.is_none() {
            return Ok(());
        }
        let (first, seen) = self.visited;
        for index in first..self.files.len() {
            let skip = if index == first { seen } else { 0 };
            self.visit_file(index, skip)?;
        }
        Ok(())
    }

    /// The records of the file at `index` after its first `skip` lines.
    fn visit_file(&mut self, index: usize, skip: u64) -> Result<(), AuditError> {
        let path = self.files[index].clone();
        let mut lines = self.lines(index)?;
        let mut line_no = 0u64;
        loop {
            let bytes = match lines.next().map_err(|e| io_err(&path, e))? {
                Line::Complete(bytes) => bytes,
                Line::TooLong => {
                    line_no += 1;
                    continue;
                }
                Line::Torn(_) | Line::Eof => return Ok(()),
            };
            line_no += 1;
            if line_no <= skip {
                continue;
            }
            let parsed = Parsed::from_line(bytes, &mut self.scratch);
            if let (Ok(parsed), Some(visit)) = (parsed, self.visit.as_mut()) {
                visit(&parsed.record);
            }
        }
    }
}
