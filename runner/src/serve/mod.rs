//! `runner serve`: the store unlocked once, components kept compiled, tasks
//! run for clients of the same user over a unix socket (docs/serve.md).
//!
//! Guarantees:
//! - the socket lives in a directory of the user's own with mode 0700
//!   (`$XDG_RUNTIME_DIR/scopehold/`, else the state dir) and has mode 0600;
//!   a connection whose peer (`SO_PEERCRED`) is another uid is refused
//!   before a byte of it is read, and a client talks only to a daemon of
//!   its own uid;
//! - no key ever leaves the daemon: clients send what to run and get the
//!   run's output and exit status ([`protocol`]);
//! - a run in the daemon is the same code as a one-shot `runner exec`
//!   ([`crate::exec::run`], with [`crate::exec::Served`]) with the same
//!   checks and audit records, each resolution durable before its value is
//!   released;
//! - the daemon locks itself after an idle time and after a hard cap from
//!   unlocking: the store and every key derived from it are dropped
//!   (zeroized); a locked daemon refuses runs with a hint to restart it.

pub mod client;
mod connection;
pub mod daemon;
mod hot;
pub mod protocol;
mod watch;

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use hot::Hot;

/// The runtime directory's variable; the socket goes into `scopehold/` there.
pub const RUNTIME_DIR_ENV: &str = "XDG_RUNTIME_DIR";
/// The socket's directory under the state dir when there is no runtime dir.
const FALLBACK_DIR: &str = "run";

/// Where the daemon for the state dir `home` listens: one socket per state
/// dir, named by a digest of its canonical path.
pub fn socket_path(home: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(home).unwrap_or_else(|_| home.to_owned());
    let digest = blake3::hash(canonical.as_os_str().as_encoded_bytes()).to_hex();
    let name = format!("{}.sock", &digest[..16]);
    socket_dir(&canonical).join(name)
}

fn socket_dir(home: &Path) -> PathBuf {
    match std::env::var_os(RUNTIME_DIR_ENV).filter(|dir| !dir.is_empty()) {
        Some(runtime) => PathBuf::from(runtime).join("scopehold"),
        None => home.join(FALLBACK_DIR),
    }
}

/// Why the socket's place is unsafe to use.
#[derive(Debug, thiserror::Error)]
#[error("socket dir {} is not a directory of yours with mode 0700", .0.display())]
pub struct UnsafeSocketDir(pub PathBuf);

/// Creates the socket's directory (0700) if missing and checks it is the
/// user's own and private: the only way in for another user.
pub fn private_dir(socket: &Path) -> Result<(), UnsafeSocketDir> {
    let dir = socket.parent().unwrap_or(Path::new("/")).to_owned();
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir);
    match std::fs::symlink_metadata(&dir) {
        Ok(meta)
            if meta.is_dir()
                && meta.uid() == rustix::process::geteuid().as_raw()
                && meta.permissions().mode() & 0o777 == 0o700 =>
        {
            Ok(())
        }
        _ => Err(UnsafeSocketDir(dir)),
    }
}

/// The uid at the other end of a unix socket (`SO_PEERCRED`: the kernel's
/// record of the peer's credentials when it connected; nothing the peer
/// sends).
///
/// The one `getsockopt` of the runner, through libc: rustix's `net`
/// feature would do it safely, but enabling it rebuilds rustix and all of
/// wasmtime's tree for one call.
pub fn peer_uid(stream: &std::os::unix::net::UnixStream) -> std::io::Result<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let size = std::mem::size_of::<libc::ucred>();
    let mut len = libc::socklen_t::try_from(size).map_err(std::io::Error::other)?;
    // SAFETY: the fd is open for the whole call (borrowed from `stream`);
    // `cred` is a writable `ucred` and `len` its size, so the kernel writes
    // at most `len` bytes into it and sets `len` to what it wrote.
    let status = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if status != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if usize::try_from(len).ok() != Some(size) {
        return Err(std::io::Error::other("SO_PEERCRED gave a short answer"));
    }
    Ok(cred.uid)
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn the_peer_of_a_socket_pair_is_this_uid() {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let uid = rustix::process::geteuid().as_raw();
        assert_eq!(peer_uid(&ours).unwrap(), uid);
    }

    #[test]
    fn a_socket_dir_open_to_others_is_refused_and_a_missing_one_made_private() {
        let tmp = tempfile::tempdir().unwrap();
        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(private_dir(&open.join("x.sock")).is_err());
        let made = tmp.path().join("made");
        private_dir(&made.join("x.sock")).unwrap();
        let mode = std::fs::metadata(&made).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
