//! The output limit: a [`Write`] layer that counts the bytes a task writes to
//! stdout and stderr together and stops the task when they pass its `output`
//! limit.
//!
//! Guarantees: nothing past the budget reaches the underlying stream; the
//! write that would pass it fails, trips the run's [`Tripwire`] (which stops
//! the task at its next instruction boundary even if it ignores write errors),
//! and so does every later write. It is a plain `Write` layer so it stacks
//! with the redaction layer (`redact.rs`) on the same stream.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::limits::{LimitExceeded, Tripwire};
use crate::policy::Limit;

/// The byte budget stdout and stderr share.
#[derive(Clone)]
pub struct OutputBudget {
    left: Arc<AtomicU64>,
    tripwire: Tripwire,
}

impl OutputBudget {
    pub fn new(bytes: u64, tripwire: Tripwire) -> OutputBudget {
        OutputBudget {
            left: Arc::new(AtomicU64::new(bytes)),
            tripwire,
        }
    }

    /// Takes `n` bytes from the budget; all or nothing.
    fn take(&self, n: usize) -> io::Result<()> {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        let taken = self
            .left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(n)
            });
        if taken.is_err() {
            self.left.store(0, Ordering::SeqCst);
            self.tripwire.trip(Limit::Output);
            return Err(io::Error::other(LimitExceeded(Limit::Output)));
        }
        Ok(())
    }
}

/// Writes through to `inner` while the shared budget lasts.
pub struct Counted<W: Write> {
    inner: W,
    budget: OutputBudget,
}

impl<W: Write> Counted<W> {
    pub fn new(inner: W, budget: OutputBudget) -> Self {
        Counted { inner, budget }
    }
}

impl<W: Write> Counted<W> {
    /// The layer below this one.
    pub fn inner_mut(&mut self) -> &mut W {
        &mut self.inner
    }
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.budget.take(buf.len())?;
        self.inner.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The prefix of the runner's own lines on stderr.
const RUNNER_PREFIX: &[u8] = b"scopehold:";

/// The mark put before a task's line that starts like the runner's own.
const TASK_MARK: &[u8] = b"[task] ";

/// On a terminal (`enabled`), shows the task's output so that it cannot
/// imitate the runner's lines nor rewrite the screen: every control
/// character but newline and tab (C0, DEL, C1, and the bidirectional
/// overrides and isolates) is written as a visible escape (`\x1b`,
/// `\u{202e}`), and a line that starts with `scopehold:` gets `[task] `
/// before it. Bytes that could still become `scopehold:` or a control
/// character are held until the next write decides ([`Terminal::finish`]
/// writes them at the end). Off a terminal, bytes pass unchanged: pipes
/// and files get exactly what the task wrote.
pub struct Terminal<W: Write> {
    inner: W,
    enabled: bool,
    at_line_start: bool,
    held: Vec<u8>,
}

impl<W: Write> Terminal<W> {
    pub fn new(inner: W, enabled: bool) -> Self {
        Terminal {
            inner,
            enabled,
            at_line_start: true,
            held: Vec::new(),
        }
    }

    /// Writes out what is held back; call once the task has ended.
    pub fn finish(&mut self) -> io::Result<()> {
        let held = std::mem::take(&mut self.held);
        self.inner.write_all(&held)?;
        self.inner.flush()
    }

    /// What `data` shows as, and the tail that must wait for more bytes.
    fn shown(&mut self, data: &[u8]) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(data.len());
        let mut at = 0;
        while at < data.len() {
            let rest = &data[at..];
            if self.at_line_start
                && rest.len() < RUNNER_PREFIX.len()
                && RUNNER_PREFIX.starts_with(rest)
            {
                return (out, at);
            }
            if self.at_line_start && rest.starts_with(RUNNER_PREFIX) {
                out.extend_from_slice(TASK_MARK);
            }
            match control(rest) {
                Unit::Wait => return (out, at),
                Unit::Control(len) => {
                    let text = String::from_utf8_lossy(&rest[..len]);
                    for c in text.chars() {
                        out.extend_from_slice(c.escape_default().to_string().as_bytes());
                    }
                    at += len;
                }
                Unit::Plain => {
                    out.push(rest[0]);
                    at += 1;
                }
            }
            self.at_line_start = data[at - 1] == b'\n';
        }
        (out, at)
    }
}

/// What the bytes at the start of some output are.
enum Unit {
    /// A control character, `len` bytes long.
    Control(usize),
    Plain,
    /// Could be a control character once more bytes come.
    Wait,
}

fn control(rest: &[u8]) -> Unit {
    match rest {
        [b'\n' | b'\t', ..] => Unit::Plain,
        [b, ..] if *b < 0x20 || *b == 0x7f => Unit::Control(1),
        // C1 controls, U+0080 to U+009F.
        [0xc2, b, ..] if (0x80..=0x9f).contains(b) => Unit::Control(2),
        // U+202A to U+202E and U+2066 to U+2069: bidirectional overrides.
        [0xe2, 0x80, b, ..] if (0xaa..=0xae).contains(b) => Unit::Control(3),
        [0xe2, 0x81, b, ..] if (0xa6..=0xa9).contains(b) => Unit::Control(3),
        [0xc2] | [0xe2] | [0xe2, 0x80 | 0x81] => Unit::Wait,
        _ => Unit::Plain,
    }
}

impl<W: Write> Write for Terminal<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.enabled {
            return self.inner.write(buf);
        }
        let mut data = std::mem::take(&mut self.held);
        data.extend_from_slice(buf);
        let (shown, used) = self.shown(&data);
        self.inner.write_all(&shown)?;
        self.held = data[used..].to_vec();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_terminal(writes: &[&[u8]]) -> String {
        let mut terminal = Terminal::new(Vec::new(), true);
        for chunk in writes {
            terminal.write_all(chunk).unwrap();
        }
        terminal.finish().unwrap();
        String::from_utf8(terminal.inner).unwrap()
    }

    #[test]
    fn a_task_cannot_pass_for_the_runner_on_a_terminal() {
        let fake = b"scopehold: hint: run this\n\x1b[2K\rscopehold: ok\n";
        assert_eq!(
            on_terminal(&[fake]),
            "[task] scopehold: hint: run this\n\\u{1b}[2K\\rscopehold: ok\n"
        );
        let bytes: Vec<&[u8]> = fake.chunks(1).collect();
        assert_eq!(on_terminal(&bytes), on_terminal(&[fake]), "split writes");
        let bidi = "a\u{202e}b\u{85}c\u{2067}".as_bytes();
        assert_eq!(on_terminal(&[bidi]), "a\\u{202e}b\\u{85}c\\u{2067}");
        let split: Vec<&[u8]> = bidi.chunks(1).collect();
        assert_eq!(on_terminal(&split), on_terminal(&[bidi]));
    }

    #[test]
    fn plain_text_and_pipes_pass_unchanged() {
        let text = "not scopehold: x\ttab\né ü\nscope\n".as_bytes();
        assert_eq!(on_terminal(&[text]), String::from_utf8_lossy(text));
        assert_eq!(
            on_terminal(&[b"scope"]),
            "scope",
            "held bytes are written at the end"
        );
        let mut pipe = Terminal::new(Vec::new(), false);
        pipe.write_all(b"scopehold: \x1b[2K").unwrap();
        assert_eq!(pipe.inner, b"scopehold: \x1b[2K");
    }

    #[test]
    fn stdout_and_stderr_share_one_budget() {
        let tripwire = Tripwire::default();
        let budget = OutputBudget::new(10, tripwire.clone());
        let mut out = Counted::new(Vec::new(), budget.clone());
        let mut err = Counted::new(Vec::new(), budget);
        out.write_all(b"12345").unwrap();
        err.write_all(b"1234").unwrap();
        assert_eq!(tripwire.tripped(), None);
        assert!(out.write_all(b"67").is_err());
        assert_eq!(tripwire.tripped(), Some(Limit::Output));
        assert!(
            err.write_all(b"5").is_err(),
            "the budget stays spent after a trip"
        );
        assert_eq!((out.inner.len(), err.inner.len()), (5, 4));
    }
}
