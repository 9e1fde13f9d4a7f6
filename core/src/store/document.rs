//! A store whose document the caller keeps: a database backend holds the
//! store file's exact text in a row, this module opens it, changes it in
//! memory and hands the new text back; the key stays where it always is
//! (the key file in the state dir, or the passphrase).
//!
//! Guarantees: the text is parsed, unlocked and checked exactly as a store
//! file is (strict canonical form, key, whole-document MAC), so a document
//! from a database is trusted no more than a file; a change to it bumps the
//! generation and re-MACs as a file write does, but writes nothing: the
//! caller commits [`Store::document`] (with the generation it read, so a
//! concurrent writer is caught) and its audit records in one transaction.
//! The rollback check against the chain is the caller's (it holds the
//! chain). A new store's key file is made as `key.next` and installed only
//! once the caller has committed the document ([`Store::install_key`]).

use std::path::{Path, PathBuf};

use super::crypto;
use super::format::{self, StoreData};
use super::sealing::{new_kek, seal_header, seal_subkey_seed};
use super::{
    AskPassphrase, KEY_FILE, KeyProtection, STORE_FILE, Store, StoreError, exists, hygiene, recover,
};

/// Who keeps the store document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Held {
    /// The store file in the state dir, written by every change.
    File,
    /// The caller (a database backend): a change only updates the document
    /// in memory; the caller reads it back ([`Store::document`]) and
    /// commits it.
    Caller,
}

/// What errors call a store document held outside the state dir.
pub const DOCUMENT_LABEL: &str = "store_document (PostgreSQL table)";

impl Store {
    /// Opens the store document `text`, unlocked with the key file in `dir`
    /// or the passphrase. A `key.next` left by an interrupted `init` or
    /// rekey is promoted if the document was sealed with it.
    pub fn open_document(
        dir: &Path,
        text: &[u8],
        ask: AskPassphrase<'_>,
    ) -> Result<Store, StoreError> {
        hygiene::disable_core_dumps()?;
        let data = format::parse(Path::new(DOCUMENT_LABEL), text)?;
        let next = dir.join(recover::NEXT_KEY_FILE);
        if exists(&next)? {
            recover::settle_next_key_for(dir, &next, &data)?;
        }
        let unauthenticated = StoreError::Unauthenticated {
            path: DOCUMENT_LABEL.into(),
        };
        Store::unlock_data(dir, data, ask, &mut None, Held::Caller)?.ok_or(unauthenticated)
    }

    /// A new, empty store document (generation 0), for a database that
    /// holds none yet. A key file is made as `key.next` in `dir`: install
    /// it with [`Store::install_key`] once the document is committed, or
    /// drop it with [`Store::discard_key`] if it was not.
    pub fn create_document(dir: &Path, protection: KeyProtection) -> Result<Store, StoreError> {
        hygiene::disable_core_dumps()?;
        if exists(&dir.join(KEY_FILE))? {
            let dir = dir.into();
            return Err(StoreError::AlreadyInitialised {
                dir,
                found: KEY_FILE,
            });
        }
        let key = crypto::random_key()?;
        let store_id = crypto::hex_encode(&crypto::random::<16>()?);
        let next = dir.join(recover::NEXT_KEY_FILE);
        let (kek, source) = new_kek(&next, protection)?;
        let mut data = StoreData::empty(store_id, crypto::key_id(&key), source);
        let subkeys = crypto::random_key()?;
        let sealed = seal_subkey_seed(&mut data, &key, &subkeys)
            .and_then(|()| seal_header(&mut data, &kek, &key));
        if let Err(err) = sealed {
            let _ = std::fs::remove_file(&next);
            return Err(err);
        }
        Ok(Store {
            dir: dir.into(),
            held: Held::Caller,
            key,
            subkeys,
            data,
        })
    }

    /// Puts a created document's key file in place (a passphrase store has
    /// none).
    pub fn install_key(&self) -> Result<(), StoreError> {
        match self.uses_passphrase() {
            true => Ok(()),
            false => recover::install_next_key(&self.dir),
        }
    }

    /// Removes the key file a document that was never committed made.
    pub fn discard_key(&self) {
        let _ = std::fs::remove_file(self.dir.join(recover::NEXT_KEY_FILE));
    }

    /// The store document's exact text (what a store file would hold).
    pub fn document(&self) -> String {
        let text = format::serialize(&self.data);
        String::from_utf8(text).expect("the store document is JSON text")
    }

    /// Takes up `text`, the document as another writer left it: checked as
    /// at open (canonical form, key, MAC) and refused below this store's
    /// generation (a rollback). A data key changed by a rekey is taken up
    /// from the key file.
    pub fn take_document(&mut self, text: &[u8]) -> Result<(), StoreError> {
        let data = format::parse(Path::new(DOCUMENT_LABEL), text)?;
        if data.key_id != self.data.key_id {
            self.take_new_key(&data)?;
        }
        self.data = self.checked(data)?;
        Ok(())
    }

    /// What errors call the store document: the store file, or the label
    /// of a document the caller holds.
    pub(super) fn document_path(&self) -> PathBuf {
        match self.held {
            Held::File => self.dir.join(STORE_FILE),
            Held::Caller => DOCUMENT_LABEL.into(),
        }
    }

    /// The document's lock for a write: the store lock for a file; none for
    /// a document the caller holds (its commit checks the generation).
    pub(super) fn write_lock(&self) -> Result<Option<std::fs::File>, StoreError> {
        match self.held {
            Held::File => format::lock(&self.dir).map(Some),
            Held::Caller => Ok(None),
        }
    }

    /// A copy of the document to change (the original stays until the
    /// change is complete).
    pub(super) fn copy_data(&self) -> Result<StoreData, StoreError> {
        format::parse(Path::new(DOCUMENT_LABEL), &format::serialize(&self.data))
    }

    /// Refuses what only a store file supports (a rekey, an accepted
    /// restore) on a document the caller holds.
    pub(super) fn file_only(&self, what: &'static str) -> Result<(), StoreError> {
        match self.held {
            Held::File => Ok(()),
            Held::Caller => Err(StoreError::FileOnly(what)),
        }
    }
}
