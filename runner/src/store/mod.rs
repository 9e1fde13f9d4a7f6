//! The encrypted secret store: a key file and a store file in the state dir.
//!
//! Guarantees (formats: docs/store-format.md):
//! - Values are only ever on disk sealed with XChaCha20-Poly1305 under a key
//!   derived from the key file; the associated data binds each ciphertext to
//!   its store, key, project, name and version, so moving it fails.
//! - A keyed MAC over the whole entry list (and a generation counter) detects
//!   deleted, added or altered entries. A store that fails it releases no
//!   value and accepts no write.
//! - A wrong key file and a corrupted store give the same error.
//! - Nothing stored is lost: `init` never overwrites, a file that does not
//!   parse is never rewritten, and writes are atomic (temp file, fsync,
//!   rename, fsync dir) under an exclusive lock, re-reading the file under
//!   the lock so concurrent writers (threads or processes) never lose an
//!   update.
//! - Values, keys and ciphertexts never appear in errors or `Debug` output.

mod crypto;
mod error;
mod format;
mod keyfile;
mod value;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_tamper;

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{SecretBox, SecretSlice};
use time::OffsetDateTime;

use crate::names::{ProjectName, SecretName};
use crypto::RootKey;
use format::{Entry, StoreData};

pub use error::StoreError;
pub use value::read_value;

/// The key file in the state dir: 32 random bytes, mode 0600.
pub const KEY_FILE: &str = "key";
/// The store file in the state dir.
pub const STORE_FILE: &str = "secrets.json";
/// The file writers lock to serialise updates.
pub const LOCK_FILE: &str = "store.lock";
/// Largest accepted secret value, in bytes.
pub const MAX_VALUE_LEN: usize = 1024 * 1024;

/// Public metadata of a stored secret; holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    pub project: ProjectName,
    pub name: SecretName,
    /// 1 when set, +1 at each rotation; only the newest version is kept.
    pub version: u32,
    /// When this version was stored (UTC).
    pub created: OffsetDateTime,
}

/// An open store: metadata and ciphertexts in memory, the key in a `SecretBox`.
pub struct Store {
    dir: PathBuf,
    key: RootKey,
    key_id: String,
    data: StoreData,
    /// Whether the file's key id and entry-list MAC match the key file.
    intact: bool,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("store_id", &self.data.store_id)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Create the key file and an empty store in `dir` (which exists). Error
    /// if either exists already (never overwrite: nothing stored may be lost).
    pub fn init(dir: &Path) -> Result<Store, StoreError> {
        if !dir.is_dir() {
            let source = std::io::Error::from(std::io::ErrorKind::NotFound);
            return Err(StoreError::io("use the state directory", dir)(source));
        }
        let _lock = format::lock(dir)?;
        if dir.join(STORE_FILE).exists() {
            return Err(StoreError::AlreadyInitialised {
                dir: dir.into(),
                found: STORE_FILE,
            });
        }
        let key_path = dir.join(KEY_FILE);
        let key = keyfile::create(&key_path)?;
        let store_id = crypto::hex_encode(&crypto::random::<16>()?);
        let mut store = Store::assemble(dir, key, |key_id| StoreData::empty(store_id, key_id));
        store.data.mac = crypto::list_mac(&store.key, &store.data.mac_input());
        if let Err(err) = format::create(dir, &store.data) {
            // The new key protects nothing yet; leaving it would make the
            // next `init` refuse and `open` report a missing store.
            let _ = std::fs::remove_file(&key_path);
            return Err(err);
        }
        Ok(store)
    }

    /// Open an existing store: check key file permissions/length, read and
    /// validate the store file.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let key_path = dir.join(KEY_FILE);
        let store_path = dir.join(STORE_FILE);
        match (exists(&key_path)?, exists(&store_path)?) {
            (false, false) => return Err(StoreError::NotInitialised { dir: dir.into() }),
            (false, true) => return Err(StoreError::MissingKeyFile { path: key_path }),
            (true, false) => return Err(StoreError::MissingStoreFile { path: store_path }),
            (true, true) => {}
        }
        let key = keyfile::read(&key_path)?;
        let data = format::read(dir)?.ok_or(StoreError::MissingStoreFile { path: store_path })?;
        Ok(Store::assemble(dir, key, |_| data))
    }

    fn assemble(dir: &Path, key: RootKey, data: impl FnOnce(String) -> StoreData) -> Store {
        let key_id = crypto::key_id(&key);
        let data = data(key_id.clone());
        let intact = is_intact(&key, &key_id, &data);
        Store {
            dir: dir.into(),
            key,
            key_id,
            data,
            intact,
        }
    }

    /// The store's random id (32 hex digits).
    pub fn store_id(&self) -> &str {
        &self.data.store_id
    }

    /// The directory holding the store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Counts writes since `init`; a lower value than seen before means the
    /// file was rolled back (the audit log records it to check this).
    pub fn generation(&self) -> u64 {
        self.data.generation
    }

    /// Checks the store file against the key file (key id and entry-list MAC).
    /// `entries` works either way; `decrypt` and writes fail on a store that
    /// does not pass.
    pub fn check_integrity(&self) -> Result<(), StoreError> {
        match self.intact {
            true => Ok(()),
            false => Err(self.unauthenticated()),
        }
    }

    /// All entries, sorted by project, then name.
    pub fn entries(&self) -> impl Iterator<Item = &EntryInfo> {
        self.data.entries.values().map(|e| &e.info)
    }

    pub fn find(&self, project: &ProjectName, name: &SecretName) -> Option<&EntryInfo> {
        self.entry(project, name).map(|e| &e.info)
    }

    /// Which projects hold a secret called `name` (sorted).
    pub fn projects_holding(&self, name: &SecretName) -> Vec<ProjectName> {
        let holding = self.entries().filter(|info| &info.name == name);
        holding.map(|info| info.project.clone()).collect()
    }

    /// Decrypt the newest version. No file I/O: the file was read at open.
    pub fn decrypt(
        &self,
        project: &ProjectName,
        name: &SecretName,
    ) -> Result<(EntryInfo, SecretSlice<u8>), StoreError> {
        let entry = self
            .entry(project, name)
            .ok_or_else(|| not_found(project, name))?;
        let undecryptable = || StoreError::Undecryptable {
            project: project.clone(),
            name: name.clone(),
        };
        if !self.intact {
            return Err(undecryptable());
        }
        let binding = self.data.binding(&entry.info);
        let value = crypto::open(&self.key, &binding, &entry.nonce, &entry.sealed);
        Ok((entry.info.clone(), value.ok_or_else(undecryptable)?))
    }

    /// Add a new secret (version 1). `AlreadyExists` if project/name exists.
    pub fn set(
        &mut self,
        project: &ProjectName,
        name: &SecretName,
        value: &SecretSlice<u8>,
    ) -> Result<EntryInfo, StoreError> {
        self.modify(|store, key| {
            if store.entries.contains_key(&(project.clone(), name.clone())) {
                let (project, name) = (project.clone(), name.clone());
                return Err(StoreError::AlreadyExists { project, name });
            }
            seal_into(store, key, project, name, 1, value)
        })
    }

    /// Replace the value with a new version (version + 1). `NotFound` if absent.
    pub fn rotate(
        &mut self,
        project: &ProjectName,
        name: &SecretName,
        value: &SecretSlice<u8>,
    ) -> Result<EntryInfo, StoreError> {
        self.modify(|store, key| {
            let old = store.entries.get(&(project.clone(), name.clone()));
            let old = old.ok_or_else(|| not_found(project, name))?.info.version;
            let version = old
                .checked_add(1)
                .ok_or(StoreError::VersionExhausted(old))?;
            seal_into(store, key, project, name, version, value)
        })
    }

    /// Remove a secret. `NotFound` if absent.
    pub fn remove(
        &mut self,
        project: &ProjectName,
        name: &SecretName,
    ) -> Result<EntryInfo, StoreError> {
        self.modify(|store, _| {
            let removed = store.entries.remove(&(project.clone(), name.clone()));
            Ok(removed.ok_or_else(|| not_found(project, name))?.info)
        })
    }

    /// Derive a 32-byte subkey for another purpose (e.g. the audit checkpoint
    /// MAC) from the store key: blake3 `derive_key(context, key)`.
    ///
    /// Panics if `context` is one of the store's own contexts: handing out the
    /// data or MAC key would be a programming error.
    pub fn derive_subkey(&self, context: &str) -> SecretBox<[u8; 32]> {
        assert!(
            !crypto::RESERVED_CONTEXTS.contains(&context),
            "derive_subkey: context {context:?} is reserved for the store itself"
        );
        crypto::derive(context, &self.key)
    }

    fn entry(&self, project: &ProjectName, name: &SecretName) -> Option<&Entry> {
        self.data.entries.get(&(project.clone(), name.clone()))
    }

    fn unauthenticated(&self) -> StoreError {
        StoreError::Unauthenticated {
            path: self.dir.join(STORE_FILE),
        }
    }

    /// The write path: lock, re-read the current file, check it against our
    /// key, apply `change`, bump the generation, re-MAC, replace atomically.
    fn modify(
        &mut self,
        change: impl FnOnce(&mut StoreData, &RootKey) -> Result<EntryInfo, StoreError>,
    ) -> Result<EntryInfo, StoreError> {
        let _lock = format::lock(&self.dir)?;
        let store_path = self.dir.join(STORE_FILE);
        let mut data =
            format::read(&self.dir)?.ok_or(StoreError::MissingStoreFile { path: store_path })?;
        if !is_intact(&self.key, &self.key_id, &data) {
            return Err(self.unauthenticated());
        }
        let info = change(&mut data, &self.key)?;
        data.generation += 1;
        data.mac = crypto::list_mac(&self.key, &data.mac_input());
        format::replace(&self.dir, &data)?;
        self.data = data;
        self.intact = true;
        Ok(info)
    }
}

/// Whether `data` was written under `key`: key id and entry-list MAC match.
fn is_intact(key: &RootKey, key_id: &str, data: &StoreData) -> bool {
    let mac = crypto::list_mac(key, &data.mac_input());
    // Both checks always run, so timing does not tell which one failed.
    let id_ok = data.key_id == key_id;
    crypto::mac_matches(&data.mac, mac) & id_ok
}

/// Like `Path::exists`, but an unreadable directory is an error, not "absent".
fn exists(path: &Path) -> Result<bool, StoreError> {
    path.try_exists().map_err(StoreError::io("look for", path))
}

fn not_found(project: &ProjectName, name: &SecretName) -> StoreError {
    StoreError::NotFound {
        project: project.clone(),
        name: name.clone(),
    }
}

/// Seals `value` as `version` of project/name and stores it in `store`.
fn seal_into(
    store: &mut StoreData,
    key: &RootKey,
    project: &ProjectName,
    name: &SecretName,
    version: u32,
    value: &SecretSlice<u8>,
) -> Result<EntryInfo, StoreError> {
    use secrecy::ExposeSecret;
    value::check_len(value.expose_secret().len())?;
    let created = OffsetDateTime::now_utc();
    let info = EntryInfo {
        project: project.clone(),
        name: name.clone(),
        version,
        created,
    };
    let (nonce, sealed) = crypto::seal(key, &store.binding(&info), value)?;
    store.entries.insert(
        (project.clone(), name.clone()),
        Entry {
            info: info.clone(),
            nonce,
            sealed,
        },
    );
    Ok(info)
}
