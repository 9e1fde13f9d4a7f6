//! The script store: `<state dir>/scripts/<blake3 hex>`, the exact text of
//! every script that ran, so `runner audit show RUN` prints the code a key
//! was used with (docs/scripts.md).
//!
//! Guarantees: the directory is created with mode 0700 and refused if it is
//! a symlink, not a directory, owned by someone else or open to group or
//! others; entries are written atomically (a fresh 0600 temporary file,
//! fsynced, renamed, directory fsynced), never modified, and named by their
//! content's digest, so a text read back is checked against its name: an
//! entry replaced or damaged since is reported, never shown as what ran.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::policy::ComponentDigest;

use super::MAX_SCRIPT_BYTES;

/// Why the script store cannot keep or give back a script.
#[derive(Debug, thiserror::Error)]
pub enum ScriptStoreError {
    #[error("script store {} is not a directory owned by you with mode 0700", .0.display())]
    Unsafe(PathBuf),
    #[error("script store {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the script {digest} is not in the script store")]
    Missing { digest: ComponentDigest },
    #[error("the stored script {} does not match its digest: it was changed after the run", .0.display())]
    Altered(PathBuf),
}

impl ScriptStoreError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ScriptStoreError::Unsafe(path) => Some(format!(
                "make it private (`chmod 700 {}`), owned by you",
                path.display()
            )),
            _ => None,
        }
    }
}

/// The checked script directory of one state dir.
pub struct ScriptStore {
    dir: PathBuf,
}

impl ScriptStore {
    /// Opens `<home>/scripts`, creating it (mode 0700) when missing.
    pub fn open(home: &Path) -> Result<ScriptStore, ScriptStoreError> {
        let dir = home.join("scripts");
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(ScriptStoreError::Io { path: dir, source }),
        }
        let meta = fs::symlink_metadata(&dir).map_err(|source| ScriptStoreError::Io {
            path: dir.clone(),
            source,
        })?;
        let me = rustix::process::geteuid().as_raw();
        if !meta.is_dir() || meta.uid() != me || meta.permissions().mode() & 0o077 != 0 {
            return Err(ScriptStoreError::Unsafe(dir));
        }
        Ok(ScriptStore { dir })
    }

    fn path(&self, digest: &ComponentDigest) -> PathBuf {
        self.dir.join(digest.0.to_hex().as_str())
    }

    /// Keeps `text` under its digest; an intact entry already there is kept.
    pub fn keep(&self, digest: &ComponentDigest, text: &[u8]) -> Result<(), ScriptStoreError> {
        if self.get(digest).is_ok() {
            return Ok(());
        }
        let path = self.path(digest);
        let temp = self
            .dir
            .join(format!(".tmp-{}-{}", std::process::id(), nonce()));
        let result = write_synced(&temp, text).and_then(|()| {
            fs::rename(&temp, &path)?;
            File::open(&self.dir)?.sync_all()
        });
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.map_err(|source| ScriptStoreError::Io { path, source })
    }

    /// The text stored under `digest`, checked against it.
    pub fn get(&self, digest: &ComponentDigest) -> Result<Vec<u8>, ScriptStoreError> {
        let path = self.path(digest);
        let text = match crate::input::read_regular(&path, MAX_SCRIPT_BYTES) {
            Ok(text) => text,
            Err(crate::input::InputError::Open { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(ScriptStoreError::Missing { digest: *digest });
            }
            Err(error) => {
                let source = std::io::Error::other(error.to_string());
                return Err(ScriptStoreError::Io { path, source });
            }
        };
        if ComponentDigest::of(&text) != *digest {
            return Err(ScriptStoreError::Altered(path));
        }
        Ok(text)
    }
}

fn write_synced(path: &Path, text: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text)?;
    file.sync_all()
}

fn nonce() -> u64 {
    let mut bytes = [0u8; 8];
    // A clash only makes create_new fail, and the run is refused visibly.
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_comes_back_exactly_and_a_changed_one_is_reported() {
        let home = tempfile::tempdir().unwrap();
        let store = ScriptStore::open(home.path()).unwrap();
        let text = b"print('hello')\n";
        let digest = ComponentDigest::of(text);
        store.keep(&digest, text).unwrap();
        store.keep(&digest, text).unwrap();
        assert_eq!(store.get(&digest).unwrap(), text);
        let path = home.path().join("scripts").join(digest.0.to_hex().as_str());
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        fs::write(&path, b"print('other')\n").unwrap();
        assert!(matches!(
            store.get(&digest),
            Err(ScriptStoreError::Altered(_))
        ));
        // Keeping it again repairs the entry.
        store.keep(&digest, text).unwrap();
        assert_eq!(store.get(&digest).unwrap(), text);
        let other = ComponentDigest::of(b"x");
        assert!(matches!(
            store.get(&other),
            Err(ScriptStoreError::Missing { .. })
        ));
    }

    #[test]
    fn a_store_others_can_open_is_refused() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("scripts");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            ScriptStore::open(home.path()),
            Err(ScriptStoreError::Unsafe(_))
        ));
    }
}
