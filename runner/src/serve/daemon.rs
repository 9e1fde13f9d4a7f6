//! The daemon's life: bind the socket, accept clients of our uid, lock on
//! time, stop on `--stop` or a signal (the socket is removed).
//!
//! Each connection runs on its own thread; runs share the engine and the
//! hot components ([`Hot`]). A peer of another uid is dropped before a byte
//! is read. A stop (request or SIGINT/SIGTERM) closes the socket first, so
//! no new run starts, locks the store, and lets the runs in progress end
//! (each within its own timeout limit); a second signal ends the process
//! at once, which loses no record of a released value (each is durable
//! before its release).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;

use super::connection::{self, Asked};
use super::hot::{Hot, Locked};
use super::{peer_uid, private_dir, socket_path};

/// When the daemon locks itself.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// No run for this long.
    pub idle: Duration,
    /// This long after unlocking, whatever the use.
    pub cap: Duration,
}

/// A bound, listening daemon.
pub struct Daemon {
    hot: Arc<Hot>,
    listener: UnixListener,
    socket: PathBuf,
    stopping: Arc<AtomicBool>,
    timeouts: Timeouts,
}

impl Daemon {
    /// Binds the socket for the state dir of `hot`. A live daemon there is
    /// an error; a stale socket (nobody answers) is replaced.
    pub fn bind(hot: Hot, timeouts: Timeouts) -> anyhow::Result<Daemon> {
        let socket = socket_path(hot.home());
        private_dir(&socket)?;
        if UnixStream::connect(&socket).is_ok() {
            anyhow::bail!(crate::report::Refused {
                message: format!(
                    "a daemon already serves this state dir on {}",
                    socket.display()
                ),
                hint: Some("stop it with `runner serve --stop` first".into()),
            });
        }
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket)
            .with_context(|| format!("cannot listen on {}", socket.display()))?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private", socket.display()))?;
        Ok(Daemon {
            hot: Arc::new(hot),
            listener,
            socket,
            stopping: Arc::default(),
            timeouts,
        })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Serves until stopped; removes the socket on the way out.
    pub fn serve(self) -> anyhow::Result<()> {
        let _signals = self.on_signals()?;
        let _clock = self.lock_clock();
        for stream in self.listener.incoming() {
            if self.stopping.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            if !same_user(&stream) {
                continue;
            }
            let (hot, stopping, socket) =
                (self.hot.clone(), self.stopping.clone(), self.socket.clone());
            std::thread::spawn(move || {
                if let Asked::Stop = connection::serve(stream, &hot) {
                    stop(&stopping, &socket);
                }
            });
        }
        finish(&self.hot, &self.socket);
        Ok(())
    }

    /// SIGINT or SIGTERM stops the daemon; a second one ends it at once.
    fn on_signals(&self) -> anyhow::Result<signal_hook::iterator::Handle> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .context("cannot handle SIGINT/SIGTERM")?;
        let handle = signals.handle();
        let (hot, stopping, socket) =
            (self.hot.clone(), self.stopping.clone(), self.socket.clone());
        std::thread::spawn(move || {
            for number in signals.forever() {
                if stopping.load(Ordering::SeqCst) {
                    let _ = std::fs::remove_file(&socket);
                    let _ = signal_hook::low_level::emulate_default_handler(number);
                }
                // With its socket gone (removed by hand, its directory
                // deleted) nothing wakes the accept loop: stop from here.
                if !stop(&stopping, &socket) {
                    finish(&hot, &socket);
                    std::process::exit(i32::from(crate::exit_code::OK));
                }
            }
        });
        Ok(handle)
    }

    /// Checks the idle time and the cap a few times a second.
    fn lock_clock(&self) -> std::thread::JoinHandle<()> {
        let (hot, stopping, timeouts) = (self.hot.clone(), self.stopping.clone(), self.timeouts);
        std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                hot.lock_if_due(timeouts.idle, timeouts.cap);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    }
}

/// Marks the daemon as stopping and wakes its accept loop; `false` when
/// the socket could not be reached to wake it.
fn stop(stopping: &AtomicBool, socket: &Path) -> bool {
    stopping.store(true, Ordering::SeqCst);
    UnixStream::connect(socket).is_ok()
}

/// Removes the socket, locks, waits for runs in progress.
fn finish(hot: &Hot, socket: &Path) {
    let _ = std::fs::remove_file(socket);
    hot.lock(Locked::Stopping);
    while hot.active() > 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("scopehold: runner serve stopped; the store is locked");
}

/// Whether the peer runs as this process's effective uid.
fn same_user(stream: &UnixStream) -> bool {
    let ours = rustix::process::geteuid().as_raw();
    match peer_uid(stream) {
        Ok(uid) if uid == ours => true,
        Ok(uid) => {
            let message = format!("refused: this daemon serves uid {ours} only, not uid {uid}");
            eprintln!("scopehold: {message}");
            let failure = super::protocol::Failure::plain(crate::exit_code::REFUSED, message, None);
            let _ =
                super::protocol::write_json(&mut &*stream, super::protocol::Kind::Failed, &failure);
            false
        }
        Err(error) => {
            eprintln!("scopehold: refused a connection whose peer is unknown: {error}");
            false
        }
    }
}
