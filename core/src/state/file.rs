//! The file backend: today's state dir (`secrets.json` and its key file,
//! `audit.jsonl` and its checkpoint), formats in docs/store-format.md and
//! docs/audit-format.md. A store change is written first (atomic replace),
//! then recorded: after a crash in between the log lags the store, which
//! the rollback check allows, and never leads it.

use std::path::{Path, PathBuf};

use crate::audit::{AuditError, AuditLog, CheckpointKey, Event, Record};
use crate::store::{AskPassphrase, Store, StoreError, passphrase};

use super::{Backend, Change, StateError, Written};

/// A state kept in a state dir.
#[derive(Debug, Clone)]
pub struct FileBackend {
    dir: PathBuf,
}

impl FileBackend {
    pub fn new(dir: &Path) -> FileBackend {
        FileBackend { dir: dir.into() }
    }

    /// The audit log, anchored with `store`'s checkpoint key.
    fn log(&self, store: &Store) -> Result<AuditLog, AuditError> {
        Ok(AuditLog::open(&self.dir)?.anchored(CheckpointKey::from_store(store)))
    }
}

impl Backend for FileBackend {
    fn open_store(&self, ask: AskPassphrase<'_>) -> Result<Store, StoreError> {
        Store::open_with(&self.dir, ask)
    }

    fn open_restored(&self, ask: AskPassphrase<'_>) -> Result<(Store, Option<u64>), StoreError> {
        Store::open_restored(&self.dir, ask)
    }

    fn check_appendable(&self, store: &Store) -> Result<(), AuditError> {
        self.log(store)?.check_appendable()
    }

    fn append(&self, store: &Store, event: Event) -> Result<Record, AuditError> {
        self.log(store)?.append(event)
    }

    fn write_store(&self, store: &mut Store, change: Change<'_>) -> Result<Written, StateError> {
        let reopen = || Store::open_with(&self.dir, &passphrase::current);
        let applied = change.apply(store, reopen)?;
        let log = self.log(store)?;
        let written = Event::StoreWrite {
            store: store.store_id().to_owned(),
            generation: store.generation(),
        };
        for event in applied.event.into_iter().chain([written]) {
            log.append(event).map_err(StateError::Unrecorded)?;
        }
        Ok(Written {
            entry: applied.entry,
            generation: store.generation(),
            unfinished: applied.unfinished,
        })
    }
}
