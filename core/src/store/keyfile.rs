//! The key file: 32 random bytes, raw, mode 0600.
//!
//! Creation never overwrites (`create_new`), so an existing key, and with it
//! every secret it protects, cannot be lost to a second `init`. Reading refuses
//! a key file that other users could read or replace, and one of the wrong
//! length, before a single byte of it is used. The bytes go straight into
//! zeroizing memory.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use secrecy::{ExposeSecret, SecretBox};

use super::StoreError;
use super::crypto::RootKey;

/// Length of the key file in bytes.
pub(crate) const KEY_LEN: u64 = 32;

/// Creates the key file with fresh random bytes, durably (file and
/// directory synced). Fails if it exists; removes it again on any error.
pub(crate) fn create(path: &Path) -> Result<RootKey, StoreError> {
    let mut fill_err = None;
    let key = SecretBox::init_with_mut(|k: &mut [u8; 32]| {
        fill_err = getrandom::fill(k).err();
    });
    if let Some(err) = fill_err {
        return Err(StoreError::Random(err));
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => StoreError::AlreadyInitialised {
                dir: parent(path),
                found: super::KEY_FILE,
            },
            _ => StoreError::io("create the key file", path)(source),
        })?;
    let written = file
        .write_all(key.expose_secret())
        .and_then(|()| file.sync_all())
        .map_err(StoreError::io("write the key file", path))
        // Its name too is durable before a store file that needs it exists.
        .and_then(|()| super::format::sync_dir(&parent(path)));
    if let Err(err) = written {
        let _ = std::fs::remove_file(path);
        return Err(err);
    }
    Ok(key)
}

/// Reads the key file after checking its type, permissions and length.
pub(crate) fn read(path: &Path) -> Result<RootKey, StoreError> {
    let mut file = File::open(path).map_err(StoreError::io("open the key file", path))?;
    // Checked on the open handle, so the file inspected is the file read.
    let meta = file
        .metadata()
        .map_err(StoreError::io("inspect the key file", path))?;
    if !meta.is_file() {
        return Err(StoreError::KeyFileNotRegular { path: path.into() });
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(StoreError::KeyFilePermissions {
            path: path.into(),
            mode,
        });
    }
    if meta.len() != KEY_LEN {
        return Err(StoreError::KeyFileLength {
            path: path.into(),
            len: meta.len(),
        });
    }
    read_exact_key(&mut file, path)
}

/// Reads exactly 32 bytes and checks nothing follows (the file may have grown
/// since it was inspected).
fn read_exact_key(file: &mut File, path: &Path) -> Result<RootKey, StoreError> {
    let mut read_err = None;
    let key = SecretBox::init_with_mut(|k: &mut [u8; 32]| {
        read_err = file.read_exact(k).err();
    });
    if let Some(source) = read_err {
        return Err(StoreError::io("read the key file", path)(source));
    }
    let mut extra = [0u8; 1];
    let more = file
        .read(&mut extra)
        .map_err(StoreError::io("read the key file", path))?;
    if more != 0 {
        return Err(StoreError::KeyFileLength {
            path: path.into(),
            len: KEY_LEN + 1,
        });
    }
    Ok(key)
}

fn parent(path: &Path) -> std::path::PathBuf {
    path.parent().unwrap_or(Path::new(".")).to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn create_then_read_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let made = create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read(&path).unwrap().expose_secret(), made.expose_secret());
    }

    #[test]
    fn create_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        fs::write(&path, b"keep me").unwrap();
        let err = create(&path).err().unwrap();
        assert!(
            matches!(err, StoreError::AlreadyInitialised { .. }),
            "{err}"
        );
        assert_eq!(fs::read(&path).unwrap(), b"keep me");
    }

    #[test]
    fn rejects_open_permissions_with_chmod_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        create(&path).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            let err = read(&path).err().unwrap();
            assert!(
                matches!(err, StoreError::KeyFilePermissions { .. }),
                "{err}"
            );
            assert!(err.hint().unwrap().starts_with("chmod 600 "), "{err}");
        }
    }

    #[test]
    fn rejects_wrong_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        for len in [0usize, 31, 33, 64] {
            fs::write(&path, vec![7u8; len]).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
            let err = read(&path).err().unwrap();
            assert!(
                matches!(err, StoreError::KeyFileLength { .. }),
                "{len}: {err}"
            );
        }
    }

    #[test]
    fn rejects_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
        let err = read(&path).err().unwrap();
        assert!(matches!(err, StoreError::KeyFileNotRegular { .. }), "{err}");
    }
}
