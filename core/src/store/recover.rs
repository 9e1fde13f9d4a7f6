//! Cleaning up after a crash, at open: stale temp files and a half-done rekey
//! or `init`.
//!
//! A writer killed between creating its temp file and renaming it leaves
//! `.secrets.json.<random>.tmp` behind; those hold only ciphertext, but are
//! removed so they do not pile up. A key-file rekey writes the new key to
//! `key.next`, then the store file, then renames `key.next` over `key`; killed
//! in between, the store file names the new key's id. At open, `key.next` is
//! promoted if the store file was written with it and deleted otherwise.
//! `init` makes its key file the same way, so an `init` killed after
//! publishing the store file is completed here too; one killed before leaves
//! `key.next` without a store file, which is left for `runner init` to redo.
//! Everything here runs under the store lock, so it never touches the files
//! of a writer that is still running.

use std::fs;
use std::path::{Path, PathBuf};

use super::kek::{Kek, KekSource};
use super::{KEY_FILE, STORE_FILE, StoreError, format, keyfile};

/// The new key file of a rekey in progress.
pub const NEXT_KEY_FILE: &str = "key.next";

/// Cleans up if there is anything to clean; cheap when there is not.
pub(crate) fn at_open(dir: &Path) -> Result<(), StoreError> {
    if leftovers(dir)?.is_empty() {
        return Ok(());
    }
    let _lock = format::lock(dir)?;
    locked(dir)
}

/// The cleanup itself; the caller holds the store lock.
pub(crate) fn locked(dir: &Path) -> Result<(), StoreError> {
    for path in leftovers(dir)? {
        if path.ends_with(NEXT_KEY_FILE) {
            settle_next_key(dir, &path)?;
        } else {
            fs::remove_file(&path).map_err(StoreError::io("remove the stale file", &path))?;
        }
    }
    format::sync_dir(dir)
}

/// Temp files and `key.next` in `dir`.
fn leftovers(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let temp_prefix = format!(".{STORE_FILE}.");
    let mut found = Vec::new();
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(err) => return Err(StoreError::io("list", dir)(err)),
    };
    for item in listing {
        let name = item.map_err(StoreError::io("list", dir))?.file_name();
        let name = name.to_string_lossy();
        let temp = name.starts_with(&temp_prefix) && name.ends_with(".tmp");
        if temp || name == NEXT_KEY_FILE {
            found.push(dir.join(&*name));
        }
    }
    Ok(found)
}

/// Promotes `key.next` if the store file was sealed with it; deletes it only
/// when the store positively does not need it (a passphrase protects it, or
/// the current key file matches); otherwise leaves it for the operator.
fn settle_next_key(dir: &Path, next: &Path) -> Result<(), StoreError> {
    let Some(data) = format::read(dir)? else {
        return Ok(());
    };
    settle_next_key_for(dir, next, &data)
}

/// [`settle_next_key`] for the store document `data` (held by a database
/// backend when there is no store file).
pub(crate) fn settle_next_key_for(
    dir: &Path,
    next: &Path,
    data: &super::format::StoreData,
) -> Result<(), StoreError> {
    let key = dir.join(KEY_FILE);
    let matches = |path: &Path| {
        keyfile::read(path).is_ok_and(|root| Kek::from_key_file(root).id == data.wrapping.kek_id)
    };
    let file_protected = data.wrapping.source == KekSource::KeyFile;
    if file_protected && matches(next) {
        install_next_key(dir)
    } else if !file_protected || matches(&key) {
        fs::remove_file(next).map_err(StoreError::io("remove the unused key file", next))
    } else {
        Ok(())
    }
}

/// Renames `key.next` over `key` and makes the rename durable.
pub(crate) fn install_next_key(dir: &Path) -> Result<(), StoreError> {
    let key = dir.join(KEY_FILE);
    fs::rename(dir.join(NEXT_KEY_FILE), &key)
        .map_err(StoreError::io("install the new key file", &key))?;
    format::sync_dir(dir)
}
