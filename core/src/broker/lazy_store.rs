//! The store of a run, opened on first use.
//!
//! Most runs of an agent framework need no secret; opening the store means
//! reading the key file (or asking for a passphrase and running Argon2id),
//! unwrapping the data key, checking the file's MAC and its generation
//! against the audit log. A run pays for that only when the task first asks
//! for a secret or a placeholder.
//!
//! A store that cannot be opened (missing key, failed integrity check, an
//! older file put back) is not the task's fault and not something it may
//! work around: the request is recorded as denied (`store-error`) and the
//! task is stopped with a runner error naming the cause ([`StoreUnusable`]).
//! It fails closed and loudly, as `runner exec` did when it opened the store
//! before the task started. A request the policy refuses anyway only loses
//! the refinement of its reason (`not-granted` stays `not-granted`).
//!
//! Once open, the store follows the file: before each request
//! [`LazyStore::refresh`] stats the store file and, only when its
//! [`FileStamp`] moved (a `secret rm`, `rotate` or `set` by another
//! process), takes up the new file through [`Store::refresh`]: under the
//! lock, with the key, MAC and rollback checks of an open. A file that fails
//! them makes the store unusable for the rest of the run, as at open.
//!
//! With the PostgreSQL backend ([`StorePlace::Postgres`]) the store is the
//! database's document: opened with the backend's rollback check, and
//! refreshed by asking the document's generation before each request (one
//! query), taking up another host's change when it moved. A database that
//! cannot be reached makes the store unusable, as a failed open does: the
//! run ends with the runner's error, nothing more is released.
//!
//! Nobody is asked for a passphrase while a task runs: here it comes from
//! the environment only; `runner exec` opens a store that would ask at the
//! terminal before the task starts ([`LazyStore::open_now`]).
//!
//! In `runner serve` the store is held open by the daemon: a run's store is
//! then a copy of it ([`Reopen`]), the file re-read under the lock and
//! checked (MAC, rollback) as at an open, with no key file read and nobody
//! asked.

use std::cell::{Cell, OnceCell};
use std::path::PathBuf;
use std::sync::Arc;

use super::stamp::FileStamp;
use crate::state::Backend;
use crate::state::postgres::PostgresBackend;
use crate::store::{AskPassphrase, STORE_FILE, Store, StoreError, passphrase};

/// Where a run's store is.
#[derive(Debug, Clone)]
pub enum StorePlace {
    /// The store file in this state dir.
    Dir(PathBuf),
    /// The document in the database (the key file, if any, in its dir).
    Postgres(PostgresBackend),
}

/// Why the run's store cannot be used; stops the task (a wasmtime trap
/// carrying this error) and becomes the run's outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot open the secret store: {message}")]
pub struct StoreUnusable {
    message: String,
    hint: Option<String>,
}

impl StoreUnusable {
    /// For a failure found before the store itself (a state dir that
    /// cannot be used).
    pub fn new(message: String, hint: Option<String>) -> Self {
        StoreUnusable { message, hint }
    }

    pub fn hint(&self) -> Option<String> {
        self.hint.clone()
    }
}

/// Opens the store of a run from a store held open elsewhere (`runner
/// serve`): no key file is read and nobody is asked.
pub type Reopen = Arc<dyn Fn() -> Result<Store, StoreUnusable> + Send + Sync>;

pub(crate) struct LazyStore {
    place: StorePlace,
    /// Set when the store comes from a held one rather than the place.
    held: Option<Reopen>,
    opened: OnceCell<Result<Store, StoreUnusable>>,
    /// The store file's stamp when the open store last read it.
    stamp: Cell<Option<FileStamp>>,
}

impl LazyStore {
    /// A store at `place`, not opened yet.
    pub fn new(place: StorePlace) -> Self {
        LazyStore {
            place,
            held: None,
            opened: OnceCell::new(),
            stamp: Cell::new(None),
        }
    }

    /// Opens the store through `reopen` instead of from the files.
    pub(crate) fn hold(&mut self, reopen: Reopen) {
        self.held = Some(reopen);
    }

    /// The store, opening it on the first call; a failure is kept, so the
    /// store is opened at most once per run. While a task runs nobody is
    /// asked for a passphrase (the task's clock runs, its output would mix
    /// with the prompt): it comes from the environment, or the store was
    /// opened before the task started ([`LazyStore::open_now`]).
    pub fn get(&self) -> Result<&Store, &StoreUnusable> {
        self.open_with(&passphrase::from_env_only)
    }

    /// Opens the store now, asking at the terminal if it needs to.
    pub(crate) fn open_now(&self) -> Result<&Store, &StoreUnusable> {
        self.open_with(&passphrase::current)
    }

    fn open_with(&self, ask: AskPassphrase<'_>) -> Result<&Store, &StoreUnusable> {
        self.opened
            .get_or_init(|| {
                match (&self.held, &self.place) {
                    (Some(reopen), StorePlace::Dir(dir)) => {
                        self.stamp.set(FileStamp::of(&dir.join(STORE_FILE)));
                        reopen()
                    }
                    (Some(reopen), StorePlace::Postgres(_)) => reopen(),
                    (None, StorePlace::Dir(dir)) => {
                        // Stamped before the read, so a write landing
                        // during the open is taken up by the next refresh.
                        self.stamp.set(FileStamp::of(&dir.join(STORE_FILE)));
                        Store::open_with(dir, ask).map_err(unusable)
                    }
                    (None, StorePlace::Postgres(db)) => db.open_store(ask).map_err(unusable),
                }
            })
            .as_ref()
    }

    /// Takes up the store file as it is now if another process changed it
    /// since it was read; a store not opened yet is left alone (its open
    /// will read the current file). A file that fails the checks of an open
    /// makes the store unusable for the rest of the run.
    pub(crate) fn refresh(&mut self) {
        let Some(Ok(store)) = self.opened.get_mut() else {
            return;
        };
        let refreshed = match &self.place {
            StorePlace::Dir(dir) => refresh_file(dir, &self.stamp, store),
            StorePlace::Postgres(db) => db.refresh(store),
        };
        if let Err(error) = refreshed {
            self.opened = OnceCell::from(Err(unusable(error)));
        }
    }

    /// The store if it has been opened successfully, without opening it.
    pub(crate) fn if_open(&self) -> Option<&Store> {
        self.opened.get().and_then(|opened| opened.as_ref().ok())
    }

    /// Why the store could not be opened, if it was tried and failed.
    pub fn failure(&self) -> Option<&StoreUnusable> {
        self.opened.get().and_then(|opened| opened.as_ref().err())
    }
}

/// Takes up the store file if its stamp moved since `stamp`.
fn refresh_file(
    dir: &std::path::Path,
    stamp: &Cell<Option<FileStamp>>,
    store: &mut Store,
) -> Result<(), StoreError> {
    let now = FileStamp::of(&dir.join(STORE_FILE));
    if now.is_some() && now == stamp.get() {
        return Ok(());
    }
    stamp.set(now);
    store.refresh()
}

impl From<crate::store::StoreError> for StoreUnusable {
    fn from(error: crate::store::StoreError) -> Self {
        unusable(error)
    }
}

fn unusable(error: crate::store::StoreError) -> StoreUnusable {
    StoreUnusable {
        message: error.to_string(),
        hint: error.hint(),
    }
}
