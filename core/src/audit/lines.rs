//! Reading a log file line by line, bounded: never more than one maximal
//! line in memory, a missing final `\n` reported as a torn line.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};

use super::record::MAX_LINE_BYTES;

/// One line of the file, as far as it could be read.
pub(super) enum Line<'a> {
    Complete(&'a [u8]),
    /// More than `MAX_LINE_BYTES` without a `\n`.
    TooLong,
    /// The file ends with this many bytes and no `\n`.
    Torn(u64),
    Eof,
}

/// A bounded line reader: never holds more than one maximal line.
pub(super) struct Lines {
    reader: BufReader<io::Take<File>>,
    buf: Vec<u8>,
    /// Bytes of the reader's buffer lent out by the last `next`, to be
    /// consumed by the following one.
    lent: usize,
    pub(super) line_no: u64,
}

impl Lines {
    pub(super) fn new(file: File) -> Lines {
        Lines::limited(file, u64::MAX)
    }

    /// Reads at most the first `len` bytes (a snapshot of a growing file).
    pub(super) fn limited(file: File, len: u64) -> Lines {
        Lines {
            reader: BufReader::with_capacity(256 * 1024, file.take(len)),
            buf: Vec::new(),
            lent: 0,
            line_no: 0,
        }
    }

    pub(super) fn next(&mut self) -> io::Result<Line<'_>> {
        self.reader.consume(std::mem::take(&mut self.lent));
        // Fast path: the whole line is in the reader's buffer; lend it
        // instead of copying it.
        let available = self.reader.fill_buf()?;
        if let Some(end) = memchr::memchr(b'\n', available)
            && end <= MAX_LINE_BYTES
        {
            self.lent = end + 1;
            self.line_no += 1;
            return Ok(Line::Complete(&self.reader.buffer()[..end]));
        }
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
