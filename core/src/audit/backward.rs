//! Reading a file's complete lines backwards, in blocks.
//!
//! Readers that want the newest record of some kind (the store's rollback
//! check, rotation carrying the newest `store.write` into the next segment)
//! read from the end and stop early, instead of reading the file from its
//! start. Guarantees: every run handed out starts at a line start and ends
//! with `\n`; bytes after the last `\n` (an unfinished append) are never
//! handed out; a line longer than [`MAX_LINE_BYTES`] is an error, so memory
//! use is bounded by one block plus one line.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::record::MAX_LINE_BYTES;

/// Runs of complete lines of a file, last run first: each starts at a line
/// start and ends with `\n`. Bytes after the final `\n` are an unfinished
/// append and are skipped. Only the part of a line cut by a block boundary
/// is copied between reads.
pub(crate) struct BackwardChunks<'a> {
    file: &'a File,
    block: u64,
    /// Bytes before `end` are not yet read.
    end: u64,
    /// The start of the run read last, up to its first line start: the end
    /// of a line that began in an earlier block.
    carry: Vec<u8>,
    buf: Vec<u8>,
    seen_line_end: bool,
}

impl<'a> BackwardChunks<'a> {
    pub(crate) fn new(file: &'a File, len: u64, block: u64) -> Self {
        BackwardChunks {
            file,
            block,
            end: len,
            carry: Vec::new(),
            buf: Vec::new(),
            seen_line_end: false,
        }
    }

    /// The next run back; `None` at the start of the file.
    pub(crate) fn next_chunk(&mut self) -> Result<Option<&[u8]>, String> {
        loop {
            if self.end == 0 {
                return Ok(None);
            }
            let (buf, read) = self.read_block()?;
            let at_start = self.end == 0;
            // A line end in the carried part ends the line cut by the block
            // boundary; only one in the newly read part starts a full line.
            let from = match (at_start, memchr::memchr(b'\n', &buf[..read])) {
                (true, _) => 0,
                (false, Some(nl)) => nl + 1,
                (false, None) if buf.len() > MAX_LINE_BYTES + 1 => {
                    return Err(format!("a line is longer than {MAX_LINE_BYTES} bytes"));
                }
                (false, None) => {
                    self.carry = buf;
                    continue;
                }
            };
            self.carry = buf[..from].to_vec();
            if from == buf.len() {
                continue;
            }
            self.buf = buf;
            return Ok(Some(&self.buf[from..]));
        }
    }

    /// The next block back, followed by the carried line end, without the
    /// unfinished append at the file's end; and how many bytes of it were
    /// newly read.
    fn read_block(&mut self) -> Result<(Vec<u8>, usize), String> {
        let start = self.end.saturating_sub(self.block);
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.resize((self.end - start) as usize, 0);
        self.file
            .read_exact_at(&mut buf, start)
            .map_err(|e| e.to_string())?;
        let mut read = buf.len();
        buf.extend_from_slice(&self.carry);
        self.carry.clear();
        self.end = start;
        if !self.seen_line_end {
            match memchr::memrchr(b'\n', &buf) {
                Some(last) => {
                    buf.truncate(last + 1);
                    self.seen_line_end = true;
                }
                None => buf.clear(), // all of it unfinished so far
            }
            read = buf.len();
        }
        Ok((buf, read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The complete lines of `text`, last first, read in blocks of `block`.
    fn lines_of(text: &[u8], block: u64) -> Vec<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, text).unwrap();
        let file = File::open(&path).unwrap();
        let mut chunks = BackwardChunks::new(&file, text.len() as u64, block);
        let mut lines = Vec::new();
        while let Some(chunk) = chunks.next_chunk().unwrap() {
            assert_eq!(chunk.last(), Some(&b'\n'), "a chunk ends at a line end");
            let body = &chunk[..chunk.len() - 1];
            lines.extend(body.split(|&b| b == b'\n').rev().map(<[u8]>::to_vec));
        }
        lines
    }

    #[test]
    fn backward_lines_skip_the_torn_tail() {
        for block in [1, 3, 1024] {
            assert_eq!(lines_of(b"a\nbb\nccc\n", block), [&b"ccc"[..], b"bb", b"a"]);
            assert_eq!(lines_of(b"a\nbb\ntorn", block), [&b"bb"[..], b"a"]);
            assert_eq!(lines_of(b"only-torn", block), Vec::<Vec<u8>>::new());
            assert_eq!(lines_of(b"", block), Vec::<Vec<u8>>::new());
        }
    }

    #[test]
    fn backward_lines_cross_block_boundaries() {
        let long = vec![b'x'; 5000];
        let mut text = b"first\n".to_vec();
        text.extend_from_slice(&long);
        text.extend_from_slice(b"\nlast\n");
        for block in [7, 1000, 4096] {
            assert_eq!(
                lines_of(&text, block),
                [b"last".to_vec(), long.clone(), b"first".to_vec()]
            );
        }
    }

    #[test]
    fn over_long_lines_are_refused() {
        let text = [
            b"a\n".to_vec(),
            vec![b'x'; 2 * MAX_LINE_BYTES],
            b"\nb\n".to_vec(),
        ]
        .concat();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, &text).unwrap();
        let file = File::open(&path).unwrap();
        let mut chunks = BackwardChunks::new(&file, text.len() as u64, 1024);
        let result = loop {
            match chunks.next_chunk() {
                Ok(Some(_)) => continue,
                Ok(None) => break Ok(()),
                Err(reason) => break Err(reason),
            }
        };
        assert!(result.unwrap_err().contains("longer than"));
    }
}
