//! [`PostgresBackend`]: the [`Backend`] whose store document and audit
//! chain live in one PostgreSQL database shared by every host; only the key
//! (key file, or passphrase) is local.
//!
//! Guarantees (besides the trait's):
//! - `open_store` authenticates the document as a store file is (key, MAC,
//!   canonical form) and refuses it below the newest authenticated
//!   `store.write` in the chain, re-reading once first (a writer that
//!   committed in between).
//! - `write_store` takes up the document as it is now, makes the change in
//!   memory and commits the new document, its generation, the change's
//!   record and `store.write` in one transaction, over the generation it
//!   read; a concurrent writer makes it fail with nothing changed.
//! - A failure of the database is a [`StoreError::Database`] or a
//!   [`AuditError`] whose message names the database and whose hint says
//!   what to do; never the URL's password (see `conn`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::SecretString;

use super::{Document, PgError, PgState};
use crate::audit::{AuditError, CheckpointKey, Event, Record};
use crate::state::{Backend, Chain, Change, StateError, Written};
use crate::store::{AskPassphrase, DOCUMENT_LABEL, Store, StoreError};

/// The shared state in a database, and the state dir holding this host's
/// key file.
#[derive(Debug, Clone)]
pub struct PostgresBackend {
    pg: Arc<PgState>,
    dir: PathBuf,
}

impl PostgresBackend {
    /// A backend on the database at `url` (connected at the first call),
    /// with the key file (if any) in `dir`.
    pub fn connect(url: &SecretString, dir: &Path) -> Result<PostgresBackend, PgError> {
        Ok(PostgresBackend {
            pg: Arc::new(PgState::connect(url)?),
            dir: dir.into(),
        })
    }

    /// The database operations (init, export).
    pub fn pg(&self) -> &PgState {
        &self.pg
    }

    /// The state dir (the key file's).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The chain, its appends authenticated with `key` once there is one.
    pub fn chain(&self, key: Option<CheckpointKey>) -> Chain {
        Chain::Postgres {
            pg: self.pg.clone(),
            key: key.map(Arc::new),
        }
    }

    /// Reads and authenticates the document, without the rollback check.
    pub fn read_store(&self, ask: AskPassphrase<'_>) -> Result<Store, StoreError> {
        let document = self.pg.document().map_err(PgError::into_store)?;
        Store::open_document(&self.dir, document.text.as_bytes(), ask)
    }

    /// Takes up the document as another host left it, if its generation
    /// moved since `store` read it (one query when it did not).
    pub fn refresh(&self, store: &mut Store) -> Result<(), StoreError> {
        let now = self.pg.generation().map_err(PgError::into_store)?;
        if now == store.generation() {
            return Ok(());
        }
        let document = self.pg.document().map_err(PgError::into_store)?;
        store.take_document(document.text.as_bytes())
    }

    /// The newest generation the chain records for `store` with its MAC.
    fn recorded(&self, store: &Store) -> Result<Option<u64>, StoreError> {
        let key = Arc::new(CheckpointKey::from_store(store));
        let recorded = self.pg.recorded_generation(store.store_id(), key);
        recorded.map_err(PgError::into_store)
    }
}

impl Backend for PostgresBackend {
    fn open_store(&self, ask: AskPassphrase<'_>) -> Result<Store, StoreError> {
        let mut store = self.read_store(ask)?;
        let Some(recorded) = self.recorded(&store)? else {
            return Ok(store);
        };
        if store.generation() < recorded {
            // The chain never leads the document (one transaction), but a
            // writer may have committed between our two reads.
            self.refresh(&mut store)?;
        }
        match store.generation() < recorded {
            true => Err(StoreError::RolledBack {
                path: DOCUMENT_LABEL.into(),
                found: store.generation(),
                recorded,
            }),
            false => Ok(store),
        }
    }

    fn open_restored(&self, _: AskPassphrase<'_>) -> Result<(Store, Option<u64>), StoreError> {
        Err(StoreError::FileOnly("accept-restore"))
    }

    fn check_appendable(&self, store: &Store) -> Result<(), AuditError> {
        let key = Arc::new(CheckpointKey::from_store(store));
        self.pg
            .check_appendable(Some(key))
            .map_err(PgError::into_audit)
    }

    fn append(&self, store: &Store, event: Event) -> Result<Record, AuditError> {
        let key = Arc::new(CheckpointKey::from_store(store));
        let records = self.pg.append(vec![event], Some(key), true);
        let mut records = records.map_err(PgError::into_audit)?;
        records.pop().ok_or(AuditError::Clock)
    }

    fn write_store(&self, store: &mut Store, change: Change<'_>) -> Result<Written, StateError> {
        // A writer on another host that committed between our read and our
        // commit wins; the change is made again on its document.
        for attempt in 1..WRITE_ATTEMPTS {
            let Some(copy) = change.again() else { break };
            match self.write_once(store, copy) {
                Err(StateError::Store(StoreError::Database { conflict: true, .. })) => {
                    back_off(attempt);
                }
                done => return done,
            }
        }
        let rekey = change.is_rekey();
        let written = self.write_once(store, change);
        if rekey {
            match &written {
                Ok(_) => store.settle_rekey()?,
                Err(_) => store.abandon_rekey(),
            }
        }
        written
    }
}

/// How often a change is tried against concurrent writers before the
/// command fails (nothing changed) asking to run it again.
const WRITE_ATTEMPTS: u32 = 16;

/// Waits a random while, longer after each lost race, so writers that
/// collided do not collide again in step.
fn back_off(attempt: u32) {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    let millis = u64::from(byte[0] % 20 + 1) * u64::from(attempt);
    std::thread::sleep(std::time::Duration::from_millis(millis));
}

impl PostgresBackend {
    /// Reads the document as it is now, makes `change` to it in memory and
    /// commits document, generation and records over the generation read.
    fn write_once(&self, store: &mut Store, change: Change<'_>) -> Result<Written, StateError> {
        let current = self.pg.document().map_err(PgError::into_store)?;
        store.take_document(current.text.as_bytes())?;
        let expected = store.generation();
        let file_only = || Err(StoreError::FileOnly("accept-restore"));
        let applied = change.apply(store, file_only)?;
        let document = Document {
            store_id: store.store_id().to_owned(),
            generation: store.generation(),
            text: store.document(),
        };
        let key = Arc::new(CheckpointKey::from_store(store));
        let events = applied.event.into_iter().collect();
        self.pg
            .write_document(expected, document, events, key)
            .map_err(|error| StateError::Store(error.into_store()))?;
        Ok(Written {
            entry: applied.entry,
            generation: store.generation(),
            unfinished: applied.unfinished,
        })
    }
}

/// What `runner init` did with the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initialised {
    /// It held no state: schema, store and chain were created.
    Created,
    /// It held a store this host's key opens: nothing was changed.
    Joined,
}

impl PostgresBackend {
    /// `runner init`: joins the database's store when it has one (the key
    /// file in the state dir, or the passphrase, must open it: a stranger's
    /// key changes nothing), else creates schema, store and chain, with a
    /// new key file (made as `key.next`, installed once committed) or
    /// `passphrase`. Never re-creates: two hosts racing both end joined to
    /// the one store that was committed first.
    pub fn initialise(
        &self,
        protection: impl FnOnce() -> Result<crate::store::KeyProtection, StoreError>,
    ) -> Result<(Store, Initialised), StoreError> {
        match self.pg.document() {
            Ok(_) => return Ok((self.join()?, Initialised::Joined)),
            Err(PgError::NotInitialised | PgError::SchemaTooOld { .. }) => {}
            Err(error) => return Err(error.into_store()),
        }
        let store = Store::create_document(&self.dir, protection()?)?;
        let document = Document {
            store_id: store.store_id().to_owned(),
            generation: store.generation(),
            text: store.document(),
        };
        let key = Arc::new(CheckpointKey::from_store(&store));
        match self.pg.initialise(document, key) {
            Ok(super::Found::Created) => {
                store.install_key()?;
                Ok((store, Initialised::Created))
            }
            Ok(super::Found::Existing) => {
                store.discard_key();
                Ok((self.join()?, Initialised::Joined))
            }
            Err(error) => {
                store.discard_key();
                Err(error.into_store())
            }
        }
    }

    fn join(&self) -> Result<Store, StoreError> {
        match self.open_store(&crate::store::passphrase::current) {
            Err(StoreError::MissingKeyFile { path }) => Err(StoreError::NoKeyToJoin { path }),
            opened => opened,
        }
    }
}
