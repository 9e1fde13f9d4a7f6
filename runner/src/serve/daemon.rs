//! The daemon's life: bind the socket, accept clients of our uid, lock on
//! time, stop on `--stop` or a signal (the socket is removed).
//!
//! Connections are served by worker threads that live as long as the
//! daemon: each waits in `accept`, serves the connection it got itself
//! (request, run, answer) and waits again, so a hot call costs no thread
//! start and no hand-off between threads. When the last waiting worker
//! takes a connection it starts another first, so a long run never keeps
//! others waiting; workers beyond [`MAX_IDLE`] waiting end. Runs share the
//! engine and the hot components ([`Hot`]); one thread watches their
//! connections for the clients' signals ([`Watcher`]). A peer of another
//! uid is dropped before a byte is read. A stop (request or SIGINT/SIGTERM)
//! shuts the listening socket first, which wakes every waiting worker and
//! starts no new run, locks the store, and lets the runs in progress end
//! (each within its own timeout limit); a second signal ends the process
//! at once, which loses no record of a released value (each is durable
//! before its release).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::Context;

use super::connection::{self, Asked};
use super::hot::{Hot, Locked};
use super::watch::Watcher;
use super::{peer_uid, private_dir, socket_path};

/// Most workers kept waiting for a connection.
const MAX_IDLE: usize = 8;

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
    shared: Arc<Shared>,
    timeouts: Timeouts,
    /// SIGINT and SIGTERM, caught from before the socket exists: a signal
    /// sent as soon as a client could see the daemon stops it properly.
    signals: signal_hook::iterator::Signals,
}

/// What the daemon's threads share.
struct Shared {
    hot: Hot,
    listener: UnixListener,
    socket: PathBuf,
    watcher: Arc<Watcher>,
    stopping: AtomicBool,
    /// Workers waiting in `accept`.
    idle: AtomicUsize,
    /// Set once stopping; the main thread then winds the daemon down.
    stopped: (Mutex<bool>, Condvar),
}

impl Daemon {
    /// Binds the socket for the state dir of `hot`. A live daemon there is
    /// an error; a stale socket (nobody answers) is replaced.
    pub fn bind(hot: Hot, timeouts: Timeouts) -> anyhow::Result<Daemon> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .context("cannot handle SIGINT/SIGTERM")?;
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
        let watcher = Watcher::start().context("cannot start watching connections")?;
        let shared = Shared {
            hot,
            listener,
            socket,
            watcher,
            stopping: AtomicBool::default(),
            idle: AtomicUsize::default(),
            stopped: Default::default(),
        };
        Ok(Daemon {
            shared: Arc::new(shared),
            timeouts,
            signals,
        })
    }

    pub fn socket(&self) -> &Path {
        &self.shared.socket
    }

    /// Serves until stopped; removes the socket on the way out.
    pub fn serve(self) -> anyhow::Result<()> {
        let _clock = self.lock_clock();
        let shared = self.shared.clone();
        let _signals = self.on_signals();
        Shared::start_worker(&shared).context("cannot start a worker thread")?;
        shared.wait_stopped();
        finish(&shared.hot, &shared.socket);
        Ok(())
    }

    /// SIGINT or SIGTERM stops the daemon; a second one ends it at once.
    fn on_signals(self) -> signal_hook::iterator::Handle {
        let Daemon {
            shared,
            mut signals,
            ..
        } = self;
        let handle = signals.handle();
        std::thread::spawn(move || {
            for number in signals.forever() {
                if shared.stopping.load(Ordering::SeqCst) {
                    let _ = std::fs::remove_file(&shared.socket);
                    let _ = signal_hook::low_level::emulate_default_handler(number);
                }
                shared.stop();
            }
        });
        handle
    }

    /// Checks the idle time and the cap a few times a second.
    fn lock_clock(&self) -> std::thread::JoinHandle<()> {
        let (shared, timeouts) = (self.shared.clone(), self.timeouts);
        std::thread::spawn(move || {
            while !shared.stopping.load(Ordering::SeqCst) {
                shared.hot.lock_if_due(timeouts.idle, timeouts.cap);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    }
}

impl Shared {
    fn start_worker(shared: &Arc<Shared>) -> std::io::Result<()> {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("scopehold-serve".into())
            .spawn(move || shared.work())
            .map(drop)
    }

    /// A worker: accept, serve, again; ends when the daemon stops or
    /// enough other workers wait.
    fn work(self: Arc<Shared>) {
        loop {
            self.idle.fetch_add(1, Ordering::SeqCst);
            let accepted = self.listener.accept();
            let waiting = self.idle.fetch_sub(1, Ordering::SeqCst) - 1;
            if self.stopping.load(Ordering::SeqCst) {
                return;
            }
            let Ok((stream, _)) = accepted else { continue };
            // Someone must be in accept while this one serves; if no
            // thread can start, this one accepts again after serving.
            if waiting == 0 {
                let _ = Shared::start_worker(&self);
            }
            if same_user(&stream)
                && let Asked::Stop = connection::serve(stream, &self.hot, &self.watcher)
            {
                self.stop();
            }
            if self.idle.load(Ordering::SeqCst) >= MAX_IDLE {
                return;
            }
        }
    }

    /// Marks the daemon as stopping: no connection is accepted from now
    /// on, and the main thread winds it down.
    fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes every worker in accept (EINVAL), even with the socket's
        // file gone (removed by hand, its directory deleted).
        let _ = socket2::SockRef::from(&self.listener).shutdown(std::net::Shutdown::Both);
        let (stopped, wake) = &self.stopped;
        *stopped.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_all();
    }

    fn wait_stopped(&self) {
        let (stopped, wake) = &self.stopped;
        let mut done = stopped.lock().unwrap_or_else(|p| p.into_inner());
        while !*done {
            done = wake.wait(done).unwrap_or_else(|p| p.into_inner());
        }
    }
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
