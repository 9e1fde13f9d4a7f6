//! The client side: find the daemon serving a state dir, hand it a run,
//! relay its output, exit status and JSON summary.
//!
//! Guarantees: a daemon is used only if its socket sits in a private
//! directory of the user's and its peer (`SO_PEERCRED`) is the user's own
//! uid; anything else is no daemon (the run happens in-process, with a
//! warning when something was there that should not be). The client sends
//! what to run (the task file's bytes: a component, or a script's text),
//! never a key, and only after those checks. SIGINT and SIGTERM during the
//! run are forwarded, so the run stops as a one-shot run would; the exit
//! code, stdout and stderr are the run's.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::protocol::{self, Failure, Finished, Kind, Request};
use super::{peer_uid, private_dir, socket_path};
use crate::commands::exec_summary::Summary;

/// A failure the daemon reported, relayed as it was worded.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.message)]
pub struct Relayed(pub Failure);

/// The whole error chain of `error` as the JSON summary records it (a
/// daemon's as the daemon saw it).
pub fn detail(error: &anyhow::Error) -> String {
    match error.downcast_ref::<Relayed>() {
        Some(relayed) => relayed.0.detail.clone(),
        None => format!("{error:#}"),
    }
}

/// A connection to the daemon of a state dir.
pub struct Daemon {
    stream: UnixStream,
}

/// The daemon serving the state dir `--home` (or the usual lookup) names,
/// if one runs.
pub fn for_home(home: Option<&Path>) -> Option<Daemon> {
    let home = crate::home::locate(home).ok()?;
    connect_to(&socket_path(&home))
}

/// The daemon listening on `socket`, checked to be the user's own.
pub fn connect_to(socket: &Path) -> Option<Daemon> {
    if !socket.exists() {
        return None;
    }
    if let Err(unsafe_dir) = private_dir(socket) {
        eprintln!("scopehold: warning: not using runner serve: {unsafe_dir}");
        return None;
    }
    let stream = UnixStream::connect(socket).ok()?;
    let ours = rustix::process::geteuid().as_raw();
    match peer_uid(&stream) {
        Ok(uid) if uid == ours => Some(Daemon { stream }),
        _ => {
            eprintln!(
                "scopehold: warning: not using {}: its owner is not you",
                socket.display()
            );
            None
        }
    }
}

/// The task file's bytes as a run would read them (a script's text, or a
/// component); `None` when it cannot be read, so the run happens here and
/// fails as it would without a daemon.
pub fn task_bytes(task: &Path) -> Option<Vec<u8>> {
    match crate::script::Script::read(task) {
        Some(script) => script.ok().map(|script| script.text),
        None => crate::task_file::read(task).ok(),
    }
}

impl Daemon {
    /// Runs `request` (whose task file holds `bytes`) in the daemon, its
    /// output to this process's stdout and stderr; returns the run's exit
    /// code, or its failure as an error ([`Relayed`]).
    pub fn exec(self, request: crate::exec::Request<'_>, bytes: &[u8]) -> anyhow::Result<u8> {
        let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
        self.exec_to(request, bytes, (&mut out, &mut err))
    }

    /// [`Daemon::exec`], the run's stdout and stderr written to `streams`.
    pub fn exec_to(
        self,
        request: crate::exec::Request<'_>,
        bytes: &[u8],
        streams: (&mut dyn Write, &mut dyn Write),
    ) -> anyhow::Result<u8> {
        use std::io::IsTerminal;
        let crate::exec::TaskSource::File(task) = request.task else {
            anyhow::bail!("only a task file is run through runner serve");
        };
        let asked = Request {
            version: protocol::VERSION,
            home: absolute(&crate::home::locate(request.home)?)?,
            config: absolute(request.policy.path())?,
            task: task.to_owned(),
            agent: request.agent.to_owned(),
            args: request.args.to_vec(),
            stdout_tty: std::io::stdout().is_terminal(),
            stderr_tty: std::io::stderr().is_terminal(),
            summary: request.summary.is_some(),
        };
        self.send(&asked, bytes)?;
        let _forward = request.watch_signals.then(|| self.forward_signals());
        let (code, summary) = self.relay(streams);
        if let (Some(mine), Some(theirs)) = (request.summary, summary) {
            mine.adopt(theirs);
        }
        code
    }

    /// Sends a request and its task bytes.
    pub fn send(&self, request: &Request, bytes: &[u8]) -> anyhow::Result<()> {
        let mut stream = &self.stream;
        protocol::write_json(&mut stream, Kind::Request, request)
            .and_then(|()| protocol::write_frame(&mut stream, Kind::Task, bytes))
            .context("cannot send the run to runner serve")
    }

    /// Writes the run's output to `out` and `err` until its end; the exit
    /// code (or failure) and the run's summary.
    fn relay(
        &self,
        (out, err): (&mut dyn Write, &mut dyn Write),
    ) -> (anyhow::Result<u8>, Option<Summary>) {
        loop {
            let frame = protocol::read_frame(&mut &self.stream);
            let (kind, payload) = match frame {
                Ok(frame) => frame,
                Err(error) => return (Err(gone(error.into())), None),
            };
            match kind {
                // Output that cannot be written is lost, as on a closed pipe.
                Kind::Stdout => drop(out.write_all(&payload).and_then(|()| out.flush())),
                Kind::Stderr => drop(err.write_all(&payload)),
                Kind::Exit => {
                    return match protocol::parse::<Finished>(kind, &payload) {
                        Ok(finished) => (Ok(finished.code), finished.summary),
                        Err(error) => (Err(gone(error.into())), None),
                    };
                }
                Kind::Failed => {
                    return match protocol::parse::<Failure>(kind, &payload) {
                        Ok(mut failure) => {
                            let summary = failure.summary.take();
                            (Err(Relayed(failure).into()), summary)
                        }
                        Err(error) => (Err(gone(error.into())), None),
                    };
                }
                other => {
                    return (
                        Err(gone(anyhow::anyhow!("unexpected {other:?} frame"))),
                        None,
                    );
                }
            }
        }
    }

    /// Asks the daemon to stop; `Ok` once it said it will.
    pub fn stop(self) -> anyhow::Result<()> {
        let mut stream = &self.stream;
        protocol::write_json(
            &mut stream,
            Kind::Stop,
            &serde_json::json!({"version": protocol::VERSION}),
        )?;
        match protocol::read_frame(&mut stream) {
            Ok((Kind::Stopping, _)) => Ok(()),
            Ok((kind, _)) => anyhow::bail!("runner serve answered the stop with {kind:?}"),
            Err(error) => Err(error).context("runner serve did not answer the stop"),
        }
    }

    /// Forwards SIGINT and SIGTERM to the daemon while the run lasts.
    fn forward_signals(&self) -> Option<Forward> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).ok()?;
        let handle = signals.handle();
        let mut stream = self.stream.try_clone().ok()?;
        let thread = std::thread::spawn(move || {
            for number in signals.forever() {
                let byte = u8::try_from(number).unwrap_or(15);
                let _ = protocol::write_frame(&mut stream, Kind::Signal, &[byte]);
            }
        });
        Some(Forward(handle, Some(thread)))
    }
}

/// Stops forwarding signals when dropped.
struct Forward(
    signal_hook::iterator::Handle,
    Option<std::thread::JoinHandle<()>>,
);

impl Drop for Forward {
    fn drop(&mut self) {
        self.0.close();
        if let Some(thread) = self.1.take() {
            let _ = thread.join();
        }
    }
}

/// The daemon went away mid-run: what was released is in the log.
fn gone(error: anyhow::Error) -> anyhow::Error {
    let message = format!("runner serve stopped answering mid-run: {error:#}");
    let hint = "every secret released to the run is in the audit log (`runner audit verify`); \
                run the task again";
    Relayed(Failure::plain(
        crate::exit_code::RUNNER_ERROR,
        message,
        Some(hint.into()),
    ))
    .into()
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}
