//! One consistent view of key and store file, for readers and writers that
//! race a `rekey`.
//!
//! The key file and the store file are two files, read one after the other.
//! A rekey replaces both, under the store lock, so a reader without the lock
//! can read the old store file and the new key (or the reverse) and see a
//! pair that does not match. That is not damage, and must not be reported as
//! "wrong key or corrupted store": a failed first attempt is repeated once
//! under the lock, where the pair is consistent, and only a failure there is
//! reported. Likewise a writer that opened the store before a `rekey
//! --data-key` takes up the new data key from the key file under the lock
//! instead of calling the new file corrupted.

use std::path::Path;

use secrecy::SecretString;

use super::kek::{Kek, KekSource};
use super::sealing::unlock;
use super::{
    AskPassphrase, KEY_FILE, STORE_FILE, Store, StoreError, exists, format, hygiene, keyfile,
    recover,
};
use crate::store::format::StoreData;

impl Store {
    /// Opens the store without the rollback check: clean crash leftovers,
    /// read and parse the file, unwrap the data key, check the MAC.
    pub fn open_unchecked(dir: &Path, ask: AskPassphrase<'_>) -> Result<Store, StoreError> {
        hygiene::disable_core_dumps()?;
        recover::at_open(dir)?;
        let mut asked = None;
        let unauthenticated = || StoreError::Unauthenticated {
            path: dir.join(STORE_FILE),
        };
        let failed = match Store::try_open(dir, ask, &mut asked) {
            Ok(Some(store)) => return Ok(store),
            Ok(None) => unauthenticated(),
            Err(err) if may_be_a_race(&err) => err,
            Err(err) => return Err(err),
        };
        // Where the lock cannot be taken (a read-only state dir) no writer
        // runs either: the first failure stands.
        let Ok(_lock) = format::lock(dir) else {
            return Err(failed);
        };
        Store::try_open(dir, ask, &mut asked)?.ok_or_else(unauthenticated)
    }

    /// One attempt at opening: `None` when the key does not open the file.
    /// The passphrase is asked for at most once across attempts.
    fn try_open(
        dir: &Path,
        ask: AskPassphrase<'_>,
        asked: &mut Option<SecretString>,
    ) -> Result<Option<Store>, StoreError> {
        let key_path = dir.join(KEY_FILE);
        let Some(data) = format::read(dir)? else {
            return Err(match exists(&key_path)? {
                true => StoreError::MissingStoreFile {
                    path: dir.join(STORE_FILE),
                },
                false => StoreError::NotInitialised { dir: dir.into() },
            });
        };
        Store::unlock_data(dir, data, ask, asked, super::Held::File)
    }

    /// Unlocks `data` with the key file in `dir` or the passphrase (asked
    /// for at most once across attempts): `None` when the key does not
    /// open it.
    pub(super) fn unlock_data(
        dir: &Path,
        data: StoreData,
        ask: AskPassphrase<'_>,
        asked: &mut Option<SecretString>,
        held: super::Held,
    ) -> Result<Option<Store>, StoreError> {
        let key_path = dir.join(KEY_FILE);
        let kek = match &data.wrapping.source {
            KekSource::KeyFile if !exists(&key_path)? => {
                return Err(StoreError::MissingKeyFile { path: key_path });
            }
            KekSource::KeyFile => Kek::from_key_file(keyfile::read(&key_path)?),
            KekSource::Passphrase(params) => {
                let pass = match asked.take() {
                    Some(pass) => pass,
                    None => ask()?,
                };
                let kek = Kek::from_passphrase(&pass, params);
                *asked = Some(pass);
                kek?
            }
        };
        Ok(unlock(&data, &kek).map(|(key, subkeys)| Store {
            dir: dir.into(),
            held,
            key,
            subkeys,
            data,
        }))
    }

    /// Under the lock: the current file, checked against our data key and
    /// for a rollback. If another process gave the store a new data key
    /// since we opened it, the key file's new key is taken up first.
    pub(crate) fn reread_locked(&mut self) -> Result<StoreData, StoreError> {
        let path = self.dir.join(STORE_FILE);
        let data = format::read(&self.dir)?.ok_or(StoreError::MissingStoreFile { path })?;
        if data.key_id != self.data.key_id {
            self.take_new_key(&data)?;
        }
        self.checked(data)
    }

    /// Unlocks `data` (written by a data-key rekey since we opened the store)
    /// with the current key file. A passphrase store cannot be reopened
    /// without asking again: that is `RekeyedMeanwhile`.
    pub(crate) fn take_new_key(&mut self, data: &StoreData) -> Result<(), StoreError> {
        if data.wrapping.source != KekSource::KeyFile || self.uses_passphrase() {
            return Err(StoreError::RekeyedMeanwhile);
        }
        // A rekey killed before promoting `key.next` is completed first.
        recover::locked(&self.dir)?;
        let kek = Kek::from_key_file(keyfile::read(&self.dir.join(KEY_FILE))?);
        let (key, subkeys) = unlock(data, &kek).ok_or_else(|| self.unauthenticated())?;
        self.key = key;
        self.subkeys = subkeys;
        Ok(())
    }
}

impl Store {
    /// A second handle on this open store, for a run of `runner serve`: the
    /// same keys (no passphrase asked again), the file read again now under
    /// the lock and checked as at open (MAC, rollback). A store whose data
    /// key was changed since (`rekey --data-key`) is not taken up here:
    /// that is [`StoreError::RekeyedMeanwhile`], and the daemon must be
    /// started again. For a store in its file only (the daemon serves the
    /// file backend).
    pub fn reopen(&self) -> Result<Store, StoreError> {
        use secrecy::{ExposeSecret, SecretBox};
        let _lock = format::lock(&self.dir)?;
        let path = self.dir.join(STORE_FILE);
        let data = format::read(&self.dir)?.ok_or(StoreError::MissingStoreFile { path })?;
        if data.key_id != self.data.key_id {
            return Err(StoreError::RekeyedMeanwhile);
        }
        let copy = |key: &super::crypto::RootKey| SecretBox::new(Box::new(*key.expose_secret()));
        let store = Store {
            dir: self.dir.clone(),
            key: copy(&self.key),
            subkeys: copy(&self.subkeys),
            data: self.checked(data)?,
            held: super::document::Held::File,
        };
        super::rollback::check(&store)?;
        Ok(store)
    }
}

/// Errors a rekey finishing between our reads of the two files can cause:
/// the key file missing or changing under us.
fn may_be_a_race(err: &StoreError) -> bool {
    matches!(
        err,
        StoreError::MissingKeyFile { .. }
            | StoreError::Io { .. }
            | StoreError::KeyFileLength { .. }
    )
}
