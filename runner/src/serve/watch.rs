//! Watches the connections of the runs in progress for what their clients
//! send during a run: a signal frame (the client caught SIGINT or SIGTERM)
//! or anything else, its hang-up included, which stops the run as SIGTERM
//! would. One thread of the daemon watches them all (epoll, through mio):
//! a run registers its connection when it starts and deregisters it when
//! it ends, neither of which wakes that thread, so a run costs no thread
//! and no hand-off of its own.
//!
//! Guarantees, the same as a thread reading the connection per run: the
//! first frame the client sends decides (a `Signal` frame of payload 2 is
//! SIGINT, any other frame, a malformed one or the end of the connection
//! is SIGTERM), as [`protocol::read_frame`] reads it; it is decided once
//! the frame is whole or the connection ended, and raised once. Nothing is
//! read from a connection after its run deregistered it.

use std::collections::HashMap;
use std::io::Read;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

use super::protocol::{self, Kind, ProtocolError};
use crate::sandbox::{Interrupts, Signal};

/// A read is made only when epoll said the connection is readable, so it
/// does not block; this bounds one that would, should the kernel report a
/// readiness that is not there.
const READ_BACKSTOP: Duration = Duration::from_millis(100);

/// The daemon's watcher of run connections.
pub struct Watcher {
    registry: Registry,
    runs: Mutex<HashMap<Token, Watched>>,
    next: AtomicUsize,
}

/// A connection watched for its run.
struct Watched {
    stream: UnixStream,
    interrupts: Arc<Interrupts>,
    /// What the client sent during the run so far (at most one frame).
    sent: Vec<u8>,
}

/// The watch of one run's connection; dropping it ends the watch.
pub struct Watching<'a> {
    watcher: &'a Watcher,
    token: Token,
}

impl Watcher {
    /// Starts the watching thread.
    pub fn start() -> std::io::Result<Arc<Watcher>> {
        let poll = Poll::new()?;
        let watcher = Arc::new(Watcher {
            registry: poll.registry().try_clone()?,
            runs: Mutex::default(),
            next: AtomicUsize::new(0),
        });
        let watching = watcher.clone();
        std::thread::Builder::new()
            .name("scopehold-watch".into())
            .spawn(move || watching.run(poll))?;
        Ok(watcher)
    }

    /// Watches `stream` while the run lasts: `interrupts` is raised as the
    /// client asks. `None` when the connection cannot be watched (the run
    /// then goes on unwatched, as it did when no thread could read it).
    pub fn watch(&self, stream: &UnixStream, interrupts: Arc<Interrupts>) -> Option<Watching<'_>> {
        let stream = stream.try_clone().ok()?;
        stream.set_read_timeout(Some(READ_BACKSTOP)).ok()?;
        let token = Token(self.next.fetch_add(1, Ordering::Relaxed));
        let mut runs = lock(&self.runs);
        let fd = stream.as_raw_fd();
        self.registry
            .register(&mut SourceFd(&fd), token, Interest::READABLE)
            .ok()?;
        let sent = Vec::new();
        runs.insert(
            token,
            Watched {
                stream,
                interrupts,
                sent,
            },
        );
        Some(Watching {
            watcher: self,
            token,
        })
    }

    fn run(&self, mut poll: Poll) {
        let mut events = Events::with_capacity(64);
        loop {
            if let Err(error) = poll.poll(&mut events, None) {
                if error.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                eprintln!("scopehold: runs can no longer be stopped by their clients: {error}");
                return;
            }
            for event in &events {
                self.readable(event.token());
            }
        }
    }

    /// Reads what the client of `token` sent; raises and stops watching
    /// once that decides.
    fn readable(&self, token: Token) {
        let mut runs = lock(&self.runs);
        let Some(watched) = runs.get_mut(&token) else {
            return; // the run ended meanwhile
        };
        let Some(signal) = watched.read() else {
            return;
        };
        watched.interrupts.raise(signal);
        if let Some(watched) = runs.remove(&token) {
            self.forget(watched.stream.as_raw_fd());
        }
    }

    fn forget(&self, fd: RawFd) {
        // Before the descriptor is closed: epoll keeps a registration for
        // as long as another descriptor of the same socket is open.
        let _ = self.registry.deregister(&mut SourceFd(&fd));
    }
}

impl Watched {
    /// Takes what is there to read; the signal once the frame (or the
    /// connection) ended.
    fn read(&mut self) -> Option<Signal> {
        let mut buf = [0u8; 4096];
        let ended = match self.stream.read(&mut buf) {
            Ok(0) => true,
            Ok(n) => {
                self.sent.extend_from_slice(&buf[..n]);
                false
            }
            Err(error) => error.kind() != std::io::ErrorKind::Interrupted,
        };
        decide(&self.sent, ended)
    }
}

/// What the bytes a client sent during a run ask for: `None` while the
/// first frame is still incomplete and the connection open.
fn decide(sent: &[u8], ended: bool) -> Option<Signal> {
    let whole = sent.get(..4).is_some_and(|len| {
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        sent.len() as u64 >= 4 + u64::from(len)
    });
    // Until the frame is whole only its head is parsed (its length and
    // kind may already decide), not a long payload again at every read.
    let parsed = match whole || ended {
        true => sent,
        false => &sent[..sent.len().min(5)],
    };
    match protocol::read_frame(&mut &parsed[..]) {
        Ok((Kind::Signal, payload)) if payload == [2] => Some(Signal::Interrupt),
        Ok(_) => Some(Signal::Terminate),
        // Short so far: more is to come.
        Err(ProtocolError::Closed) if !ended => None,
        Err(ProtocolError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof && !ended => {
            None
        }
        Err(_) => Some(Signal::Terminate),
    }
}

impl Drop for Watching<'_> {
    fn drop(&mut self) {
        let mut runs = lock(&self.watcher.runs);
        if let Some(watched) = runs.remove(&self.token) {
            self.watcher.forget(watched.stream.as_raw_fd());
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: Kind, payload: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        protocol::write_frame(&mut wire, kind, payload).unwrap();
        wire
    }

    #[test]
    fn the_first_frame_decides_once_it_is_whole() {
        let interrupt = frame(Kind::Signal, &[2]);
        assert_eq!(decide(&interrupt, false), Some(Signal::Interrupt));
        assert_eq!(decide(&interrupt[..5], false), None);
        assert_eq!(decide(&interrupt[..5], true), Some(Signal::Terminate));
        let term = frame(Kind::Signal, &[15]);
        assert_eq!(decide(&term, false), Some(Signal::Terminate));
        let long = frame(Kind::Stdout, &[2; 100]);
        assert_eq!(decide(&long[..50], false), None, "waits for the payload");
        assert_eq!(decide(&long, false), Some(Signal::Terminate));
        assert_eq!(decide(&[], true), Some(Signal::Terminate), "hang-up");
        assert_eq!(decide(&[0, 0, 0, 1, 99], false), Some(Signal::Terminate));
        assert_eq!(decide(&[0, 0, 0, 0], false), Some(Signal::Terminate));
    }
}
