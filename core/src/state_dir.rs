//! The files of one state dir, named in one place: commands ask a
//! [`StateDir`] for a file's path instead of joining file names by hand, so
//! a file's name (and a backend that keeps no such file) changes here only.

use std::ops::Deref;
use std::path::{Path, PathBuf};

use crate::audit::{AUDIT_FILE, CHECKPOINT_FILE};
use crate::store::KEY_FILE;

/// A located state dir (see [`crate::home`] for where and how it is
/// checked). Derefs to its path, so it goes wherever a `&Path` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    pub fn new(path: impl Into<PathBuf>) -> StateDir {
        StateDir { path: path.into() }
    }

    /// The active segment of the audit log.
    pub fn audit_log(&self) -> PathBuf {
        self.path.join(AUDIT_FILE)
    }

    /// The audit log's local checkpoint.
    pub fn checkpoint(&self) -> PathBuf {
        self.path.join(CHECKPOINT_FILE)
    }

    /// The key file (when the store is not protected by a passphrase).
    pub fn key_file(&self) -> PathBuf {
        self.path.join(KEY_FILE)
    }
}

impl Deref for StateDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for StateDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}
