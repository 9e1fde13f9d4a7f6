//! Changing keys: re-wrap the data key under a new key-encryption key, or
//! (with a new data key) re-encrypt every entry, in one atomic write.
//!
//! Guarantees:
//! - The old key file or passphrase no longer opens the store afterwards.
//! - Nothing is lost to a crash or an I/O error: a new key file is written
//!   (file and directory fsynced) as `key.next` before the store file that
//!   needs it, and promoted after; once the new store file is renamed into
//!   place the new key is never removed, whatever fails next (the error is
//!   `Unfinished`); `open` finishes or discards a half-done rekey (see
//!   `recover`).
//! - Every entry keeps its version, creation time and value.

use std::fs;

use super::crypto::{self, RootKey};
use super::format::StoreData;
use super::recover::{self, NEXT_KEY_FILE};
use super::sealing::{new_kek, open_entry, seal_header, seal_into, seal_subkey_seed};
use super::{Held, KEY_FILE, KeyProtection, Store, StoreError, format};

impl Store {
    /// Protects the data key with `protection` from now on; with
    /// `new_data_key`, also re-encrypts every entry under a fresh data key.
    pub fn rekey(
        &mut self,
        protection: KeyProtection,
        new_data_key: bool,
    ) -> Result<(), StoreError> {
        let _lock = self.write_lock()?;
        let data = match self.held {
            Held::File => {
                recover::locked(&self.dir)?;
                self.reread_locked()?
            }
            Held::Caller => self.copy_data()?,
        };
        let (key, mut data) = match new_data_key {
            true => reencrypt(&data, &self.key, &self.subkeys)?,
            false => (clone_key(&self.key), data),
        };
        let to_file = matches!(protection, KeyProtection::KeyFile);
        let next = self.dir.join(NEXT_KEY_FILE);
        let (kek, source) = new_kek(&next, protection)?;
        data.wrapping.source = source;
        data.generation += 1;
        let written = seal_header(&mut data, &kek, &key).and_then(|()| match self.held {
            Held::File => format::replace(&self.dir, &data),
            Held::Caller => Ok(()),
        });
        if let Err(err) = &written
            && !err.took_effect()
        {
            // The store file was not replaced: the new key opens nothing.
            let _ = fs::remove_file(&next);
            return written;
        }
        // From here the store file needs the new key: it is never removed,
        // and any failure leaves `key.next` for the next open to promote.
        self.key = key;
        self.data = data;
        if self.held == Held::Caller {
            // The caller commits the document, then calls `settle_rekey`.
            return written;
        }
        let installed = self.install_key_file(to_file);
        written.and(installed.map_err(StoreError::unfinished))
    }

    /// After the caller committed a rekeyed document: the new key file in
    /// place (`key.next` promoted), or the old one removed when a passphrase
    /// now protects the store. A kill before this is completed at the next
    /// open (`Store::open_document` promotes a `key.next` that opens it).
    pub fn settle_rekey(&self) -> Result<(), StoreError> {
        let to_file = !self.uses_passphrase();
        let pending = self.dir.join(NEXT_KEY_FILE).exists();
        match to_file && !pending {
            true => Ok(()),
            false => self.install_key_file(to_file),
        }
    }

    /// Drops the new key file of a rekey whose document was not committed.
    pub fn abandon_rekey(&self) {
        let _ = fs::remove_file(self.dir.join(NEXT_KEY_FILE));
    }

    /// Puts the new key file in place, or removes the old one when a
    /// passphrase now protects the store.
    fn install_key_file(&self, to_file: bool) -> Result<(), StoreError> {
        if to_file {
            return recover::install_next_key(&self.dir);
        }
        let key = self.dir.join(KEY_FILE);
        let removed = fs::remove_file(&key).or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        });
        removed.map_err(StoreError::io("remove the old key file", &key))?;
        format::sync_dir(&self.dir)
    }
}

/// A copy of `data` whose entries are sealed under a fresh data key.
/// The subkey seed is sealed again unchanged, so subkeys stay the same.
fn reencrypt(
    data: &StoreData,
    old: &RootKey,
    subkeys: &RootKey,
) -> Result<(RootKey, StoreData), StoreError> {
    let key = crypto::random_key()?;
    let source = data.wrapping.source.clone();
    let mut fresh = StoreData::empty(data.store_id.clone(), crypto::key_id(&key), source);
    fresh.generation = data.generation;
    seal_subkey_seed(&mut fresh, &key, subkeys)?;
    for entry in data.entries.values() {
        let value = open_entry(data, old, entry)?;
        seal_into(&mut fresh, &key, entry.info.clone(), &value)?;
    }
    Ok((key, fresh))
}

fn clone_key(key: &RootKey) -> RootKey {
    use secrecy::{ExposeSecret, SecretBox};
    SecretBox::init_with_mut(|k: &mut [u8; 32]| k.copy_from_slice(key.expose_secret()))
}
