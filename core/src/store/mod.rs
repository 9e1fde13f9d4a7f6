//! The encrypted secret store: a store file and, by default, a key file in
//! the state dir.
//!
//! Guarantees (formats: docs/store-format.md):
//! - Values are only ever on disk sealed with XChaCha20-Poly1305 under a key
//!   derived from a random data key; the associated data binds each
//!   ciphertext to its store, data key, project, name and version, so moving
//!   it fails. The data key is on disk only wrapped by a key-encryption key
//!   from the key file (mode 0600) or from a passphrase through Argon2id,
//!   whose header parameters are capped before the KDF runs.
//! - A keyed MAC over the whole file (header and entry list) detects deleted,
//!   added, swapped or altered entries; a store that fails it, or whose key
//!   does not unwrap, is refused at open with one error for both causes.
//! - A generation counter, raised by every write and recorded in the audit
//!   log by the commands, lets `open` refuse an older copy put back.
//! - Nothing stored is lost: `init` never overwrites, a file that does not
//!   parse is never rewritten, and writes are atomic (temp file, fsync,
//!   rename, fsync dir) under an exclusive lock, re-reading the file under
//!   the lock so concurrent writers (threads or processes) never lose an
//!   update. Crash leftovers are cleaned at open. An error after the rename
//!   is `Unfinished`: the change is in effect (never undone, its new key
//!   never removed) and the caller records it as made.
//! - No false alarms under concurrency: key and store file are read under
//!   one consistent view (see `view`), and an apparent rollback is re-read
//!   before it is reported.
//! - Values, keys and ciphertexts never appear in errors or `Debug` output,
//!   and the process stops being dumpable before any key is read.

mod crypto;
mod document;
mod error;
mod format;
/// The store file format this runner reads and writes (shown by `runner --version`).
pub use format::FORMAT_VERSION as STORE_FORMAT_VERSION;
mod hygiene;
mod kek;
mod keyfile;
pub mod passphrase;
mod recover;
mod rekey;
mod rollback;
mod sealing;
mod value;
mod view;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_custody;
#[cfg(test)]
mod tests_document;
#[cfg(test)]
mod tests_json;
#[cfg(test)]
mod tests_tamper;
#[cfg(test)]
mod tests_view;

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{SecretBox, SecretSlice, SecretString};
use time::OffsetDateTime;

use crate::names::{ProjectName, SecretName};
use crypto::RootKey;
use document::Held;
use format::{Entry, StoreData};
use kek::KekSource;
use sealing::{is_intact, new_kek, open_entry, seal_header, seal_into, seal_subkey_seed};

pub use document::DOCUMENT_LABEL;
pub use error::StoreError;
pub use kek::{MAX_LANES, MAX_MEMORY_KIB, MAX_PASSES, MIN_PASSPHRASE_LEN};
pub use recover::NEXT_KEY_FILE;
pub use value::read_value;

/// The key file in the state dir: 32 random bytes, mode 0600.
pub const KEY_FILE: &str = "key";
/// The store file in the state dir.
pub const STORE_FILE: &str = "secrets.json";
/// The file writers lock to serialise updates.
pub const LOCK_FILE: &str = "store.lock";
/// Largest accepted secret value, in bytes.
pub(crate) const MAX_VALUE_LEN: usize = 1024 * 1024;

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

/// What protects the data key: a new key file, or a passphrase. Holds a
/// secret, so it has no `Debug`.
pub enum KeyProtection {
    KeyFile,
    Passphrase(SecretString),
}

/// Supplies the passphrase when (and only when) the store needs one.
pub(crate) type AskPassphrase<'a> = &'a dyn Fn() -> Result<SecretString, StoreError>;

/// An open, authenticated store: metadata and ciphertexts in memory, the data
/// key in a `SecretBox`.
pub struct Store {
    dir: PathBuf,
    /// Whether the store file in `dir` is the document, or the caller
    /// holds it (a database backend: see `document`).
    held: Held,
    key: RootKey,
    /// Root of `derive_subkey`; kept across data key changes.
    subkeys: RootKey,
    data: StoreData,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("store_id", &self.data.store_id)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Create a key file and an empty store in `dir` (which exists). Error
    /// if either exists already (never overwrite: nothing stored may be lost).
    pub fn init(dir: &Path) -> Result<Store, StoreError> {
        Store::init_with(dir, KeyProtection::KeyFile)
    }

    /// Create an empty store whose data key is protected as `protection` says.
    pub fn init_with(dir: &Path, protection: KeyProtection) -> Result<Store, StoreError> {
        hygiene::disable_core_dumps()?;
        if !dir.is_dir() {
            let source = std::io::Error::from(std::io::ErrorKind::NotFound);
            return Err(StoreError::io("use the state directory", dir)(source));
        }
        let _lock = format::lock(dir)?;
        for found in [STORE_FILE, KEY_FILE] {
            if exists(&dir.join(found))? {
                return Err(StoreError::AlreadyInitialised {
                    dir: dir.into(),
                    found,
                });
            }
        }
        let key = crypto::random_key()?;
        let store_id = crypto::hex_encode(&crypto::random::<16>()?);
        // The key file is made as `key.next` and promoted once the store file
        // exists: a crash in between leaves what `open` completes (promote)
        // or `runner init` recognises as an interrupted init (no store file).
        let next = dir.join(recover::NEXT_KEY_FILE);
        let to_file = matches!(protection, KeyProtection::KeyFile);
        let (kek, source) = new_kek(&next, protection)?;
        let mut data = StoreData::empty(store_id, crypto::key_id(&key), source);
        let subkeys = crypto::random_key()?;
        let published = seal_subkey_seed(&mut data, &key, &subkeys)
            .and_then(|()| seal_header(&mut data, &kek, &key))
            .and_then(|()| format::create(dir, &data));
        if let Err(err) = &published
            && !err.took_effect()
        {
            // The new key protects nothing yet.
            let _ = std::fs::remove_file(&next);
            return Err(published.unwrap_err());
        }
        let store = Store {
            dir: dir.into(),
            held: Held::File,
            key,
            subkeys,
            data,
        };
        let installed = match to_file {
            true => recover::install_next_key(dir).map_err(StoreError::unfinished),
            false => Ok(()),
        };
        published.and(installed).map(|()| store)
    }

    /// Whether opening the store in `dir` would ask a person: its data key
    /// is wrapped by a passphrase and `SCOPEHOLD_PASSPHRASE` is not set.
    /// Reads the store file's header only (no key, no KDF); a missing or
    /// unreadable file says no (opening it will say what is wrong).
    pub fn asks_at_terminal(dir: &Path) -> bool {
        if std::env::var_os(passphrase::PASSPHRASE_ENV).is_some() {
            return false;
        }
        matches!(
            format::read(dir),
            Ok(Some(data)) if matches!(data.wrapping.source, KekSource::Passphrase(_))
        )
    }

    /// Open an existing store, asking for the passphrase (environment or
    /// terminal) if it has one. See [`Store::open_with`].
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Store::open_with(dir, &passphrase::current)
    }

    /// Open an existing store: clean crash leftovers, read and parse the
    /// file, unwrap the data key, check the MAC, refuse a rollback.
    pub fn open_with(dir: &Path, ask: AskPassphrase<'_>) -> Result<Store, StoreError> {
        let mut store = Store::open_unchecked(dir, ask)?;
        match rollback::check(&store) {
            Err(rolled_back @ StoreError::RolledBack { .. }) => {
                // The log never leads the file: a writer that finished
                // between our read of the file and of the log explains a
                // lower generation. Read the file again before saying so.
                let Ok(_lock) = format::lock(dir) else {
                    return Err(rolled_back);
                };
                store.data = store.reread_locked()?;
                rollback::check(&store)?;
            }
            other => other?,
        }
        Ok(store)
    }

    /// The store's random id (32 hex digits).
    pub fn store_id(&self) -> &str {
        &self.data.store_id
    }

    /// The directory holding the store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Counts writes since `init`; the commands record it in the audit log
    /// (`store.write`) and `open` refuses a file with a lower value.
    pub fn generation(&self) -> u64 {
        self.data.generation
    }

    /// Whether the data key is protected by a passphrase (else a key file).
    pub fn uses_passphrase(&self) -> bool {
        matches!(self.data.wrapping.source, KekSource::Passphrase(_))
    }

    /// Takes up the store file as it is now (another process wrote it since
    /// it was read: a `secret rm`, a rotation): read under the lock and
    /// checked as at open (key, MAC, a generation neither below this
    /// store's nor below the audit log's). After an error the store must
    /// not be used any more.
    pub(crate) fn refresh(&mut self) -> Result<(), StoreError> {
        if self.held == Held::Caller {
            return Ok(());
        }
        let _lock = format::lock(&self.dir)?;
        self.data = self.reread_locked()?;
        rollback::check(self)
    }

    /// Re-reads the store file and checks it against the open store's key.
    #[cfg(test)]
    pub(crate) fn check_integrity(&self) -> Result<(), StoreError> {
        self.reread().map(drop)
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
        let value = open_entry(&self.data, &self.key, entry);
        Ok((entry.info.clone(), value?))
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
            let created = OffsetDateTime::now_utc();
            seal_into(store, key, entry_info(project, name, 1, created), value)
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
            let created = OffsetDateTime::now_utc();
            seal_into(
                store,
                key,
                entry_info(project, name, version, created),
                value,
            )
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
    /// MAC): blake3 `derive_key(context, seed)` over the store's random
    /// subkey seed, which is sealed under the data key and carried over by
    /// every rekey, so subkeys never change for the life of the store.
    ///
    /// Panics if `context` is one of the store's own contexts: handing out the
    /// data or MAC key would be a programming error.
    pub fn derive_subkey(&self, context: &str) -> SecretBox<[u8; 32]> {
        assert!(
            !crypto::RESERVED_CONTEXTS.contains(&context),
            "derive_subkey: context {context:?} is reserved for the store itself"
        );
        crypto::derive(context, &self.subkeys)
    }

    fn entry(&self, project: &ProjectName, name: &SecretName) -> Option<&Entry> {
        self.data.entries.get(&(project.clone(), name.clone()))
    }

    fn unauthenticated(&self) -> StoreError {
        StoreError::Unauthenticated {
            path: self.document_path(),
        }
    }

    /// The current file, checked against our data key and for a rollback
    /// since we read it. The caller holds the lock if it means to write.
    fn reread(&self) -> Result<StoreData, StoreError> {
        let store_path = self.dir.join(STORE_FILE);
        let data =
            format::read(&self.dir)?.ok_or(StoreError::MissingStoreFile { path: store_path })?;
        self.checked(data)
    }

    /// `data` (just read), checked against our data key and for a rollback.
    fn checked(&self, data: StoreData) -> Result<StoreData, StoreError> {
        if !is_intact(&self.key, &data) {
            return Err(self.unauthenticated());
        }
        if data.generation < self.data.generation {
            let (found, recorded) = (data.generation, self.data.generation);
            let path = self.document_path();
            return Err(StoreError::RolledBack {
                path,
                found,
                recorded,
            });
        }
        Ok(data)
    }

    /// The write path: lock, re-read the current file, check it against our
    /// key, apply `change`, bump the generation, re-MAC, replace atomically.
    /// A document the caller holds is changed in memory only.
    fn modify(
        &mut self,
        change: impl FnOnce(&mut StoreData, &RootKey) -> Result<EntryInfo, StoreError>,
    ) -> Result<EntryInfo, StoreError> {
        let _lock = self.write_lock()?;
        let mut data = match self.held {
            Held::File => self.reread_locked()?,
            Held::Caller => self.copy_data()?,
        };
        let info = change(&mut data, &self.key)?;
        data.generation += 1;
        data.mac = crypto::list_mac(&self.key, &data.mac_input());
        self.publish(data)?;
        Ok(info)
    }

    /// Replaces the store file with `data`. Once the new file is in place it
    /// is this store's state, even if a later step fails (`Unfinished`).
    fn publish(&mut self, data: StoreData) -> Result<(), StoreError> {
        if self.held == Held::Caller {
            self.data = data;
            return Ok(());
        }
        let written = format::replace(&self.dir, &data);
        if written.as_ref().is_ok() || written.as_ref().is_err_and(StoreError::took_effect) {
            self.data = data;
        }
        written
    }
}

fn entry_info(
    project: &ProjectName,
    name: &SecretName,
    version: u32,
    created: OffsetDateTime,
) -> EntryInfo {
    EntryInfo {
        project: project.clone(),
        name: name.clone(),
        version,
        created,
    }
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
