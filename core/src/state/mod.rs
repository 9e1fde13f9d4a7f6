//! One handle on a state: the encrypted store and the audit chain that
//! vouches for it, opened and changed together.
//!
//! Guarantees:
//! - [`State::open_for_change`] opens the store with every check of an open
//!   (key, MAC, the log's key bound to this store, no generation below the
//!   newest authenticated `store.write`: a rollback), then refuses, changing
//!   nothing, when the audit chain would not take the change's records now
//!   (its checkpoint head gone, the clock behind it). A change the log would
//!   refuse is refused before it is made, not left in effect unrecorded.
//! - [`State::write_store`] makes one [`Change`] and appends its event and a
//!   `store.write` with the store's new generation, as one operation of the
//!   [`Backend`]. A change that took effect although a later step failed
//!   ([`StoreError::took_effect`]) is recorded too and handed back as
//!   [`Written::unfinished`]: nothing in effect goes unrecorded unless the
//!   record itself fails ([`StateError::Unrecorded`], which says so).
//! - Where the store document and the chain live is the backend's business
//!   (see `backend.rs` and docs/state-backends.md); the file backend
//!   ([`FileBackend`], today's state dir) is the default.

mod backend;
mod chain;
mod change;
mod file;
mod place;
/// The PostgreSQL backend (docs/postgres.md): [`postgres::PostgresBackend`]
/// and the database operations under it.
pub mod postgres;

#[cfg(test)]
mod tests;

use std::path::Path;

use crate::audit::{AuditError, Event};
use crate::store::{AskPassphrase, Store, StoreError, passphrase};

pub use backend::Backend;
pub use chain::Chain;
pub use change::{Change, Written, rekey_done};
pub use file::FileBackend;
pub use place::{Place, PlaceError, Reading};

/// An open store and the audit chain its changes go to.
pub struct State {
    backend: Box<dyn Backend>,
    store: Store,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl State {
    /// Opens the state dir `dir` for a change (passphrase from the
    /// environment or the terminal, if the store has one).
    pub fn open_for_change(dir: &Path) -> Result<State, StateError> {
        State::open_for_change_in(Box::new(FileBackend::new(dir)), &passphrase::current)
    }

    /// Opens `backend`'s store, checked as at every open, and refuses if
    /// its audit chain would not record a change now.
    pub fn open_for_change_in(
        backend: Box<dyn Backend>,
        ask: AskPassphrase<'_>,
    ) -> Result<State, StateError> {
        let store = backend.open_store(ask)?;
        backend
            .check_appendable(&store)
            .map_err(StateError::WouldNotRecord)?;
        Ok(State { backend, store })
    }

    /// Opens a store file that may be an older copy put back on purpose;
    /// with the newest generation the chain records when the file is below
    /// it (see [`Store::open_restored`]).
    pub fn open_restored(dir: &Path) -> Result<(State, Option<u64>), StateError> {
        let backend: Box<dyn Backend> = Box::new(FileBackend::new(dir));
        let (store, behind) = backend.open_restored(&passphrase::current)?;
        Ok((State { backend, store }, behind))
    }

    /// The open store (to read entries and metadata).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Makes `change` and records it (its event, then `store.write`).
    pub fn write_store(&mut self, change: Change<'_>) -> Result<Written, StateError> {
        self.backend.write_store(&mut self.store, change)
    }

    /// Accepts the restored store file: records `store.restore` first (a
    /// re-stamped file, which every open then accepts, always has its
    /// record; an interrupted re-stamp changes nothing), then re-stamps it
    /// above `recorded` and records the new generation.
    pub fn accept_restore(&mut self, recorded: u64) -> Result<Written, StateError> {
        let restore = Event::StoreRestore {
            store: self.store.store_id().to_owned(),
            generation: self.store.generation(),
            replaces: recorded,
        };
        self.backend
            .append(&self.store, restore)
            .map_err(StateError::RestoreUnrecorded)?;
        self.write_store(Change::AcceptRestore { recorded })
    }
}

/// Why a state could not be opened or changed. The messages are those the
/// commands have always printed; [`StateError::hint`] is the cause's hint.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// Checked before any change: nothing was changed.
    #[error("refusing to change the store: the audit log would not record the change")]
    WouldNotRecord(#[source] AuditError),
    /// The change is in effect; its record is missing.
    #[error("the store was changed, but the audit record failed")]
    Unrecorded(#[source] AuditError),
    /// Nothing was changed.
    #[error("the restored store file was not accepted: its audit record failed")]
    RestoreUnrecorded(#[source] AuditError),
}

impl StateError {
    /// A one-line remedy for the user, where there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            StateError::Store(error) => error.hint(),
            StateError::Audit(error)
            | StateError::WouldNotRecord(error)
            | StateError::Unrecorded(error)
            | StateError::RestoreUnrecorded(error) => error.hint(),
        }
    }
}
