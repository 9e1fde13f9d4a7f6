//! Where a task's standard streams go: the runner's own (`runner exec`), or
//! buffers the caller reads after the run (`runner mcp`, whose stdout is the
//! protocol channel and must never carry task bytes).
//!
//! Guarantees: a captured stream is written through the same layers as an
//! inherited one (redaction, the output limit), so what a caller reads from
//! a [`Captured`] buffer is already redacted and bounded by the agent's
//! `output` limit. stdin is empty unless the caller hands bytes in
//! ([`TaskIo::capture`]); the task never reads the runner's own stdin.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

/// The streams of one run.
#[derive(Debug, Clone, Default)]
pub enum TaskIo {
    /// stdout and stderr are the runner's; stdin is closed.
    #[default]
    Inherit,
    /// stdout and stderr are collected in memory; stdin holds `stdin`.
    Capture {
        stdin: Vec<u8>,
        stdout: Captured,
        stderr: Captured,
    },
}

impl TaskIo {
    /// Capturing streams with `stdin` as the task's input.
    pub fn capture(stdin: Vec<u8>) -> TaskIo {
        TaskIo::Capture {
            stdin,
            stdout: Captured::default(),
            stderr: Captured::default(),
        }
    }

    /// The sinks for stdout and stderr, and whether each is a terminal.
    pub(super) fn sinks(&self) -> [(Sink, bool); 2] {
        use std::io::IsTerminal;
        match self {
            TaskIo::Inherit => [
                (Sink::Stdout(io::stdout()), io::stdout().is_terminal()),
                (Sink::Stderr(io::stderr()), io::stderr().is_terminal()),
            ],
            TaskIo::Capture { stdout, stderr, .. } => [
                (Sink::Buffer(stdout.clone()), false),
                (Sink::Buffer(stderr.clone()), false),
            ],
        }
    }

    /// The task's stdin bytes, if it has any.
    pub(super) fn stdin(&self) -> Option<&[u8]> {
        match self {
            TaskIo::Inherit => None,
            TaskIo::Capture { stdin, .. } => Some(stdin),
        }
    }
}

/// Bytes a task wrote to one captured stream (already redacted).
#[derive(Debug, Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// What was written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The bottom layer of a task's output stream.
pub(super) enum Sink {
    Stdout(io::Stdout),
    Stderr(io::Stderr),
    Buffer(Captured),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(out) => out.write(buf),
            Sink::Stderr(err) => err.write(buf),
            Sink::Buffer(captured) => {
                let mut bytes = captured.0.lock().unwrap_or_else(PoisonError::into_inner);
                bytes.extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(out) => out.flush(),
            Sink::Stderr(err) => err.flush(),
            Sink::Buffer(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_streams_collect_what_is_written() {
        let io = TaskIo::capture(b"{}".to_vec());
        let [(mut out, out_tty), (mut err, _)] = io.sinks();
        assert!(!out_tty, "a buffer is never a terminal");
        out.write_all(b"one ").unwrap();
        out.write_all(b"two").unwrap();
        err.write_all(b"oops").unwrap();
        let TaskIo::Capture { stdout, stderr, .. } = &io else {
            unreachable!()
        };
        assert_eq!(stdout.bytes(), b"one two");
        assert_eq!(stderr.bytes(), b"oops");
        assert_eq!(io.stdin(), Some(&b"{}"[..]));
        assert_eq!(TaskIo::Inherit.stdin(), None);
    }
}
