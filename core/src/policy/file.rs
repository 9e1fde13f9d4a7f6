//! tasks.toml read and replaced under a lock, for the editing commands.
//!
//! Guarantees:
//! - One editor at a time: an exclusive lock on `.NAME.lock` next to the
//!   file is held from the read to the replace, so two `runner grant` at
//!   once serialise and neither loses the other's change.
//! - The replace is atomic: a temp file in the same directory, written and
//!   fsynced, given the original's mode and owner, renamed over the file,
//!   then the directory fsynced. Readers (a running `exec`) see the old or
//!   the new file, never a mix.
//! - A file changed since it was read (a hand edit, which takes no lock) is
//!   not overwritten: its content hash is compared under the lock just
//!   before the rename.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{Policy, PolicyError};

/// Why the file could not be read or replaced.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} changed while this command ran; nothing was written", path.display())]
    Changed { path: PathBuf },
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

impl FileError {
    pub fn hint(&self) -> Option<String> {
        match self {
            FileError::Io { .. } => Some("check the file's permissions and the disk".into()),
            FileError::Changed { .. } => Some("run the command again".into()),
            FileError::Policy(e) => e.hint(),
        }
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FileError {
    let path = path.to_owned();
    move |source| FileError::Io {
        action,
        path,
        source,
    }
}

/// The policy file as read under its lock; dropping it releases the lock.
pub struct LockedPolicy {
    path: PathBuf,
    text: String,
    policy: Policy,
    _lock: File,
}

impl LockedPolicy {
    /// Takes the lock (waiting for another editor), then reads and loads
    /// the file strictly.
    pub fn open(path: &Path) -> Result<LockedPolicy, FileError> {
        let lock_path = lock_path(path);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io("open the lock file", &lock_path))?;
        lock.lock().map_err(io("lock", &lock_path))?;
        let bytes = read_or_empty(path)?;
        let policy = Policy::from_bytes(&bytes, path)?;
        let text = String::from_utf8(bytes).unwrap_or_default();
        Ok(LockedPolicy {
            path: path.to_owned(),
            text,
            policy,
            _lock: lock,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Refuses when the file no longer holds what was read.
    pub(crate) fn check_unchanged(&self) -> Result<(), FileError> {
        let now = read_or_empty(&self.path)?;
        match blake3::hash(&now) == blake3::hash(self.text.as_bytes()) {
            true => Ok(()),
            false => Err(FileError::Changed {
                path: self.path.clone(),
            }),
        }
    }

    /// Atomically replaces the file with `text` (which the caller has
    /// checked loads), keeping its mode and owner.
    pub fn replace(&self, text: &str) -> Result<(), FileError> {
        let meta = match fs::metadata(&self.path) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io("stat", &self.path)(e)),
        };
        let dir = parent(&self.path);
        let temp = temp_path(&self.path);
        let written = write_temp(&temp, text, meta.as_ref());
        let renamed = written.and_then(|()| {
            self.check_unchanged()?;
            fs::rename(&temp, &self.path).map_err(io("replace", &self.path))
        });
        if let Err(error) = renamed {
            let _ = fs::remove_file(&temp);
            return Err(error);
        }
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync the directory", &dir))
    }
}

/// The file's bytes; a missing file reads as empty (the first `project
/// add` creates it).
fn read_or_empty(path: &Path) -> Result<Vec<u8>, FileError> {
    match fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        other => other.map_err(io("read", path)),
    }
}

/// Writes the temp file with the original's owner and mode (a new file:
/// ours, 0644 as an editor would make it).
fn write_temp(temp: &Path, text: &str, meta: Option<&fs::Metadata>) -> Result<(), FileError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(temp)
        .map_err(io("create", temp))?;
    match meta {
        Some(meta) => keep_owner_and_mode(&file, temp, meta)?,
        None => file
            .set_permissions(Permissions::from_mode(0o644))
            .map_err(io("set the mode of", temp))?,
    }
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io("write", temp))
}

fn keep_owner_and_mode(file: &File, temp: &Path, meta: &fs::Metadata) -> Result<(), FileError> {
    // The owner first (a chown may clear set-id bits), then the mode.
    let owner = std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()));
    // Only root may give a file away; a file we own already has our uid.
    if meta.uid() != rustix::process::geteuid().as_raw() {
        owner.map_err(io("keep the owner of", temp))?;
    }
    file.set_permissions(Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io("keep the mode of", temp))
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "tasks.toml".to_owned())
}

/// `.tasks.toml.lock` next to the file.
pub(crate) fn lock_path(path: &Path) -> PathBuf {
    parent(path).join(format!(".{}.lock", file_name(path)))
}

fn temp_path(path: &Path) -> PathBuf {
    let suffix = blake3::hash(format!("{:?}", std::time::SystemTime::now()).as_bytes());
    let suffix = &suffix.to_hex()[..16];
    parent(path).join(format!(
        ".{}.{}.{suffix}.tmp",
        file_name(path),
        std::process::id()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "[projects.a] # mine\n";

    fn file_with(text: &str, mode: u32) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tasks.toml");
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, Permissions::from_mode(mode)).unwrap();
        (dir, path)
    }

    #[test]
    fn a_file_changed_since_it_was_read_is_not_overwritten() {
        let (_dir, path) = file_with(POLICY, 0o644);
        let locked = LockedPolicy::open(&path).unwrap();
        let hand = "[projects.a] # mine\n[projects.b]\n";
        fs::write(&path, hand).unwrap();
        let err = locked.replace("[projects.c]\n").unwrap_err();
        assert!(matches!(err, FileError::Changed { .. }), "{err}");
        assert_eq!(fs::read_to_string(&path).unwrap(), hand);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn the_replacement_keeps_the_mode_and_is_complete() {
        let (_dir, path) = file_with(POLICY, 0o640);
        let locked = LockedPolicy::open(&path).unwrap();
        assert_eq!(locked.text(), POLICY);
        locked.replace("[projects.b]\n").unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o640);
        assert_eq!(fs::read_to_string(&path).unwrap(), "[projects.b]\n");
        assert!(lock_path(&path).ends_with(".tasks.toml.lock"));
    }

    #[test]
    fn a_file_that_does_not_load_is_refused_before_any_edit() {
        let (_dir, path) = file_with("[projects.a]\nbogus = 1\n", 0o644);
        assert!(matches!(
            LockedPolicy::open(&path),
            Err(FileError::Policy(_))
        ));
    }
}
