//! Where a task's standard streams go: the runner's own (`runner exec`),
//! buffers the caller reads after the run (`runner mcp`, whose stdout is the
//! protocol channel and must never carry task bytes), or a client's
//! connection (a run inside `runner serve`, [`Forwarded`]).
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
    /// stdout and stderr go to a client of `runner serve` as they are
    /// written; stdin is closed, as for [`TaskIo::Inherit`].
    Forward {
        stdout: Forwarded,
        stderr: Forwarded,
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
            TaskIo::Forward { stdout, stderr } => [
                (Sink::Forward(stdout.clone()), stdout.terminal),
                (Sink::Forward(stderr.clone()), stderr.terminal),
            ],
        }
    }

    /// The task's stdin bytes, if it has any.
    pub(super) fn stdin(&self) -> Option<&[u8]> {
        match self {
            TaskIo::Inherit | TaskIo::Forward { .. } => None,
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

/// A stream that goes elsewhere as it is written (a client's connection),
/// and whether its reader is a terminal (the task's control characters are
/// then escaped, as on the runner's own terminal). Clones share the stream,
/// so the runner's own lines after the run land in order with the task's.
#[derive(Clone)]
pub struct Forwarded {
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    terminal: bool,
}

impl Forwarded {
    pub fn new(writer: Box<dyn Write + Send>, terminal: bool) -> Forwarded {
        Forwarded {
            writer: Arc::new(Mutex::new(writer)),
            terminal,
        }
    }

    /// Writes one of the runner's own lines; a stream that cannot take it
    /// loses it, as a closed stderr would.
    pub fn line(&self, text: &str) {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = writeln!(writer, "{text}").and_then(|()| writer.flush());
    }
}

impl std::fmt::Debug for Forwarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarded")
            .field("terminal", &self.terminal)
            .finish_non_exhaustive()
    }
}

/// The bottom layer of a task's output stream.
pub(super) enum Sink {
    Stdout(io::Stdout),
    Stderr(io::Stderr),
    Buffer(Captured),
    Forward(Forwarded),
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
            Sink::Forward(forwarded) => forwarded
                .writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(out) => out.flush(),
            Sink::Stderr(err) => err.flush(),
            Sink::Buffer(_) => Ok(()),
            Sink::Forward(forwarded) => forwarded
                .writer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .flush(),
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
