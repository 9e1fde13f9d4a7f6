//! One client connection of `runner serve`: read the request, run it,
//! stream the output back, end with the exit code or the failure.
//!
//! A client that breaks the protocol gets a failure frame and the
//! connection is closed; nothing it sends reaches a run before the request
//! parsed and matched the daemon's version and state dir. The run is the
//! exec operation ([`crate::exec::run`]) with the daemon's hot context: the
//! runner's lines about it (a denial, a warning, why it stopped) go to the
//! client's stderr as they would go to a one-shot run's. The run is stopped
//! as a one-shot run would be when the client forwards a signal, and as by
//! SIGTERM when the client goes away (its process is gone, as a one-shot
//! runner's task would be).

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::Hot;
use super::protocol::{self, Failure, Finished, Kind, ProtocolError, Request};
use super::watch::Watcher;
use crate::commands::exec_summary::Summary;
use crate::exec::Served;
use crate::policy::StateBackend;
use crate::sandbox::{Forwarded, Interrupts, TaskIo};

/// How long a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a write to a client that does not read may block a run.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the client asked for.
pub enum Asked {
    /// A run was served (or refused); the connection is done.
    Served,
    /// `runner serve --stop`.
    Stop,
}

/// Serves one connection from a peer already checked to be of our uid.
pub fn serve(stream: UnixStream, hot: &Hot, watcher: &Watcher) -> Asked {
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    match read_request(&stream, hot.home()) {
        Ok(Some((request, bytes))) => {
            run(&stream, (hot, watcher), &request, bytes);
            Asked::Served
        }
        Ok(None) => {
            let _ = protocol::write_frame(&mut &stream, Kind::Stopping, &[]);
            Asked::Stop
        }
        Err(error) => {
            let failure = Failure::plain(crate::exit_code::USAGE, error.to_string(), None);
            let _ = protocol::write_json(&mut &stream, Kind::Failed, &failure);
            Asked::Served
        }
    }
}

/// The request and its task bytes, or `None` for a stop.
fn read_request(
    mut stream: &UnixStream,
    home: &Path,
) -> Result<Option<(Request, Vec<u8>)>, ProtocolError> {
    let (kind, payload) = protocol::read_frame(&mut stream)?;
    let request: Request = match kind {
        Kind::Stop => return Ok(None),
        Kind::Request => protocol::parse(kind, &payload)?,
        got => {
            return Err(ProtocolError::Unexpected {
                expected: "request",
                got,
            });
        }
    };
    if request.version != protocol::VERSION {
        return Err(ProtocolError::Version(request.version));
    }
    if std::fs::canonicalize(&request.home).ok().as_deref() != Some(home) {
        let detail = format!("this daemon serves the state dir {}", home.display());
        return Err(ProtocolError::Malformed { kind, detail });
    }
    match protocol::read_frame(&mut stream)? {
        (Kind::Task, bytes) => Ok(Some((request, bytes))),
        (got, _) => Err(ProtocolError::Unexpected {
            expected: "task",
            got,
        }),
    }
}

/// Runs the request and sends its final frame.
fn run(stream: &UnixStream, (hot, watcher): (&Hot, &Watcher), request: &Request, bytes: Vec<u8>) {
    let _busy = hot.busy();
    let _ = stream.set_read_timeout(None);
    let Some((stdout, stderr)) = forwarded(stream, request) else {
        return;
    };
    // The runner's lines about this run go where its output goes.
    let lines = stderr.clone();
    let io = TaskIo::Forward {
        stdout,
        stderr: stderr.clone(),
    };
    let _route = crate::broker::notice::redirect(Arc::new(move |line| lines.line(line)));
    let interrupts = Arc::new(Interrupts::manual());
    let mut summary = request
        .summary
        .then(|| Summary::new(&request.agent, &request.task));
    // What the client sends from now on stops the run (its signal, or its
    // hang-up as SIGTERM), until the run ended.
    let watching = watcher.watch(stream, interrupts.clone());
    let served = Served {
        hot,
        interrupts: &interrupts,
        bytes,
    };
    let result = execute(request, io, served, summary.as_mut());
    drop(watching);
    let finished = result.map(|ended| {
        for line in &ended.reason {
            stderr.line(line);
        }
        ended.exit_code
    });
    answer(stream, finished, summary);
}

/// The run, with the policy as the client's file holds it now.
fn execute(
    request: &Request,
    io: TaskIo,
    served: Served<'_>,
    summary: Option<&mut Summary>,
) -> anyhow::Result<crate::exec::Ended> {
    let policy = served.hot.policy(&request.config)?;
    if policy.backend() != StateBackend::File {
        anyhow::bail!(crate::report::Refused {
            message: "runner serve runs tasks of a state dir on the file backend only; this \
                      tasks.toml selects another ([state] backend)"
                .into(),
            hint: Some("stop it (`runner serve --stop`): runner exec then runs in-process".into()),
        });
    }
    crate::exec::run(crate::exec::Request {
        policy: &policy,
        home: Some(&request.home),
        database_url: None,
        agent: &request.agent,
        task: crate::exec::TaskSource::File(&request.task),
        args: &request.args,
        io,
        watch_signals: false,
        tool: None,
        summary,
        served: Some(served),
    })
}

/// The final frame: the exit code, or the failure as `runner exec` would
/// print it; with the JSON summary when the client asked for it.
fn answer(mut stream: &UnixStream, result: anyhow::Result<u8>, summary: Option<Summary>) {
    let _ = match result {
        Ok(code) => protocol::write_json(&mut stream, Kind::Exit, &Finished { code, summary }),
        Err(error) => {
            let failure = Failure {
                code: crate::report::exec_exit_code(&error),
                message: crate::report::error_message(&error),
                hint: crate::report::hint_for(&error),
                detail: format!("{error:#}"),
                summary,
            };
            protocol::write_json(&mut stream, Kind::Failed, &failure)
        }
    };
}

/// Output frames on the connection; the client's terminals decide whether
/// the task's control characters are escaped, as they would for it.
fn forwarded(stream: &UnixStream, request: &Request) -> Option<(Forwarded, Forwarded)> {
    let frames = |kind, terminal| -> Option<Forwarded> {
        let stream = stream.try_clone().ok()?;
        Some(Forwarded::new(Box::new(Frames { stream, kind }), terminal))
    };
    Some((
        frames(Kind::Stdout, request.stdout_tty)?,
        frames(Kind::Stderr, request.stderr_tty)?,
    ))
}

/// A `Write` that sends each write as one output frame.
struct Frames {
    stream: UnixStream,
    kind: Kind,
}

impl Write for Frames {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let max = protocol::MAX_CONTROL_BYTES as usize;
        let len = buf.len().min(max);
        protocol::write_frame(&mut self.stream, self.kind, &buf[..len])?;
        Ok(len)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
