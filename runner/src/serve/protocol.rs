//! The wire protocol between `runner serve` and its clients (docs/serve.md,
//! "Protocol").
//!
//! A connection carries frames: a 4-byte big-endian length, then that many
//! bytes: one byte of kind and the payload. Control frames carry JSON, the
//! task and output frames raw bytes. The client speaks first (a request
//! and its task file's bytes, or a stop); the daemon answers with output
//! frames and one final frame (exit or failure).
//!
//! Guarantees: a frame longer than its kind allows, a frame of an unknown
//! kind, malformed JSON or another protocol version is a [`ProtocolError`]
//! (the daemon answers it with a failure and closes the connection); a
//! frame's bytes are read as they arrive, so a length promised but not sent
//! allocates nothing. No frame ever carries key material.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::commands::exec_summary::Summary;

/// Bumped on any change a peer of the other version would misread.
pub const VERSION: u32 = 1;
/// Longest JSON frame: a request with its arguments.
pub const MAX_CONTROL_BYTES: u32 = 4 << 20;
/// Longest task frame: the task file cap (a script's is lower).
pub const MAX_TASK_BYTES: u32 = crate::input::MAX_COMPONENT_BYTES as u32;

/// What a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Client: run a task ([`Request`], JSON); a `Task` frame follows.
    Request,
    /// Client: the task file's bytes, as the client read them: a component,
    /// or a script's text (the daemon reads no file of the client's).
    Task,
    /// Client: the client caught a signal; stop the run as it would
    /// (one byte: 2 or 15).
    Signal,
    /// Client: stop the daemon (JSON `{"version":1}`).
    Stop,
    /// Daemon: bytes the run wrote to stdout.
    Stdout,
    /// Daemon: bytes the run (the task or the runner) wrote to stderr.
    Stderr,
    /// Daemon: the run ended ([`Finished`], JSON).
    Exit,
    /// Daemon: the run failed or was refused ([`Failure`], JSON).
    Failed,
    /// Daemon: the daemon is stopping, as asked.
    Stopping,
}

const KINDS: [(Kind, u8); 9] = [
    (Kind::Request, 1),
    (Kind::Task, 2),
    (Kind::Signal, 3),
    (Kind::Stop, 4),
    (Kind::Stdout, 16),
    (Kind::Stderr, 17),
    (Kind::Exit, 18),
    (Kind::Failed, 19),
    (Kind::Stopping, 20),
];

impl Kind {
    fn byte(self) -> u8 {
        KINDS
            .iter()
            .find(|(kind, _)| *kind == self)
            .map_or(0, |k| k.1)
    }

    fn from_byte(byte: u8) -> Option<Kind> {
        KINDS.iter().find(|(_, b)| *b == byte).map(|k| k.0)
    }

    /// The longest payload a frame of this kind may have.
    fn max_payload(self) -> u32 {
        match self {
            Kind::Task => MAX_TASK_BYTES,
            _ => MAX_CONTROL_BYTES,
        }
    }
}

/// A run asked for: what `runner exec` was given, resolved by the client
/// (the policy file made absolute; whether its streams are terminals).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub version: u32,
    /// The state dir the client means; must be the daemon's.
    pub home: PathBuf,
    /// The policy file, absolute.
    pub config: PathBuf,
    /// The task file as the client named it (argv[0], whether it is a
    /// script, and the path in an `exec.refused` record come from it; its
    /// bytes come in the `Task` frame).
    pub task: PathBuf,
    pub agent: String,
    pub args: Vec<String>,
    /// Whether the client's stdout and stderr are terminals.
    pub stdout_tty: bool,
    pub stderr_tty: bool,
    /// Whether the client wants the run's JSON summary (`--json-summary`).
    pub summary: bool,
}

/// How a run that started and ended went.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finished {
    /// The exit status of `runner exec`.
    pub code: u8,
    /// The run's JSON summary, when the client asked for it.
    pub summary: Option<Summary>,
}

/// Why a run did not produce an exit code of the task's: printed by the
/// client as `error: ...` and `hint: ...`, then it exits with `code`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    pub code: u8,
    /// The error as `error:` prints it.
    pub message: String,
    pub hint: Option<String>,
    /// The whole error chain, as the JSON summary's `error` holds it.
    pub detail: String,
    /// The run's JSON summary so far, when the client asked for it.
    pub summary: Option<Summary>,
}

impl Failure {
    /// A failure of the daemon or the connection, not of a run.
    pub fn plain(code: u8, message: String, hint: Option<String>) -> Failure {
        Failure {
            code,
            detail: message.clone(),
            message,
            hint,
            summary: None,
        }
    }
}

/// A frame that breaks the protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("the connection failed: {0}")]
    Io(#[from] io::Error),
    #[error("the peer closed the connection")]
    Closed,
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("a {kind:?} frame of {len} bytes is longer than the {max} allowed")]
    TooLong { kind: Kind, len: u32, max: u32 },
    #[error("an empty frame")]
    Empty,
    #[error("expected a {expected} frame, got {got:?}")]
    Unexpected { expected: &'static str, got: Kind },
    #[error("a malformed {kind:?} frame: {detail}")]
    Malformed { kind: Kind, detail: String },
    #[error("protocol version {0} is not this runner's ({VERSION})")]
    Version(u32),
}

/// Writes one frame.
pub fn write_frame(out: &mut impl Write, kind: Kind, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len() + 1).map_err(|_| io::Error::other("frame too long"))?;
    let mut head = [0u8; 5];
    head[..4].copy_from_slice(&len.to_be_bytes());
    head[4] = kind.byte();
    // One write for small frames: a frame is never split by another writer.
    let mut frame = Vec::with_capacity(5 + payload.len());
    frame.extend_from_slice(&head);
    frame.extend_from_slice(payload);
    out.write_all(&frame)?;
    out.flush()
}

/// Writes `value` as a JSON frame.
pub fn write_json<T: Serialize>(out: &mut impl Write, kind: Kind, value: &T) -> io::Result<()> {
    let json = serde_json::to_vec(value).map_err(io::Error::other)?;
    write_frame(out, kind, &json)
}

/// Reads one frame; the length is checked against its kind's cap before
/// any payload is read.
pub fn read_frame(input: &mut impl Read) -> Result<(Kind, Vec<u8>), ProtocolError> {
    let mut head = [0u8; 5];
    match input.read_exact(&mut head[..4]) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(ProtocolError::Closed),
        other => other?,
    }
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    if len == 0 {
        return Err(ProtocolError::Empty);
    }
    input.read_exact(&mut head[4..])?;
    let kind = Kind::from_byte(head[4]).ok_or(ProtocolError::UnknownKind(head[4]))?;
    let max = kind.max_payload();
    if len - 1 > max {
        return Err(ProtocolError::TooLong { kind, len, max });
    }
    let mut payload = Vec::new();
    input.take(u64::from(len - 1)).read_to_end(&mut payload)?;
    if payload.len() as u64 != u64::from(len - 1) {
        return Err(ProtocolError::Closed);
    }
    Ok((kind, payload))
}

/// Parses a JSON frame's payload.
pub fn parse<T: for<'de> Deserialize<'de>>(kind: Kind, payload: &[u8]) -> Result<T, ProtocolError> {
    serde_json::from_slice(payload).map_err(|error| ProtocolError::Malformed {
        kind,
        detail: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_hostile_ones_are_refused() {
        let mut wire = Vec::new();
        write_frame(&mut wire, Kind::Stdout, b"hello").unwrap();
        assert_eq!(
            read_frame(&mut &wire[..]).unwrap(),
            (Kind::Stdout, b"hello".to_vec())
        );
        let huge = [0xff, 0xff, 0xff, 0xff, 1];
        assert!(matches!(
            read_frame(&mut &huge[..]),
            Err(ProtocolError::TooLong { .. })
        ));
        let unknown = [0, 0, 0, 1, 99];
        assert!(matches!(
            read_frame(&mut &unknown[..]),
            Err(ProtocolError::UnknownKind(99))
        ));
        let short = [0, 0, 0, 9, 16, b'x'];
        assert!(matches!(
            read_frame(&mut &short[..]),
            Err(ProtocolError::Closed)
        ));
        let bad: Result<Request, _> = parse(Kind::Request, b"{\"version\":1");
        assert!(matches!(bad, Err(ProtocolError::Malformed { .. })));
    }
}
