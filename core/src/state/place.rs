//! [`Place`]: the backend a command works on, selected by tasks.toml's
//! `[state] backend` (the file backend when it says nothing), with the
//! database URL from `--database-url` or `SCOPEHOLD_DATABASE_URL`.
//!
//! Guarantees: every command reaches the store and the chain through the
//! selected place only (a `postgres` selection never falls back to files);
//! readers get one directory in the file layout ([`Reading`]): the state
//! dir itself, or a private snapshot of the database (chain, checkpoint,
//! store document; the key file linked, never copied), so the file readers
//! and the verifier give the same verdicts on both.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use super::postgres::{DATABASE_URL_ENV, Export, PgError, PostgresBackend};
use super::{Backend, Chain, FileBackend, State, StateError};
use crate::audit::{AuditError, AuditLog, CheckpointKey};
use crate::broker::StorePlace;
use crate::policy::{Policy, PolicyError, StateBackend};
use crate::store::{AskPassphrase, Store, StoreError, passphrase};

/// Where the state of a command lives.
#[derive(Debug, Clone)]
pub enum Place {
    /// The state dir's files.
    File(PathBuf),
    /// The database; the key file (if any) in the state dir.
    Postgres(PostgresBackend),
}

/// Why no place could be selected.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Database(#[from] PgError),
}

impl PlaceError {
    pub fn hint(&self) -> Option<String> {
        match self {
            PlaceError::Policy(_) => None,
            PlaceError::Database(error) => error.hint(),
        }
    }
}

impl Place {
    /// The place tasks.toml at `config` selects for the state dir `home`;
    /// `url` is `--database-url` (else the environment's).
    pub fn select(
        config: &Path,
        home: &Path,
        url: Option<&SecretString>,
    ) -> Result<Place, PlaceError> {
        Ok(Place::of(Policy::backend_of(config)?, home, url)?)
    }

    /// The place of `backend` for the state dir `home`.
    pub fn of(
        backend: StateBackend,
        home: &Path,
        url: Option<&SecretString>,
    ) -> Result<Place, PgError> {
        match backend {
            StateBackend::File => Ok(Place::File(home.into())),
            StateBackend::Postgres => {
                let url = match url {
                    Some(url) => url.clone(),
                    None => url_from_env()?,
                };
                Ok(Place::Postgres(PostgresBackend::connect(&url, home)?))
            }
        }
    }

    /// The state dir (the key file's; for files, everything's).
    pub fn home(&self) -> &Path {
        match self {
            Place::File(dir) => dir,
            Place::Postgres(db) => db.dir(),
        }
    }

    fn backend(&self) -> Box<dyn Backend> {
        match self {
            Place::File(dir) => Box::new(FileBackend::new(dir)),
            Place::Postgres(db) => Box::new(db.clone()),
        }
    }

    /// Opens the store for a change (see [`State::open_for_change_in`]).
    pub fn open_for_change(&self) -> Result<State, StateError> {
        State::open_for_change_in(self.backend(), &passphrase::current)
    }

    /// Opens the store with every check of an open (rollback included).
    pub fn open_store(&self, ask: AskPassphrase<'_>) -> Result<Store, StoreError> {
        self.backend().open_store(ask)
    }

    /// The chain, its appends authenticated with `store`'s key if given.
    pub fn chain(&self, store: Option<&Store>) -> Result<Chain, AuditError> {
        let key = store.map(CheckpointKey::from_store);
        match self {
            Place::File(dir) => {
                let log = AuditLog::open(dir)?;
                Ok(Chain::File(match key {
                    Some(key) => log.anchored(key),
                    None => log,
                }))
            }
            Place::Postgres(db) => Ok(db.chain(key)),
        }
    }

    /// Where a run's broker opens the store.
    pub fn store_place(&self) -> StorePlace {
        match self {
            Place::File(dir) => StorePlace::Dir(dir.clone()),
            Place::Postgres(db) => StorePlace::Postgres(db.clone()),
        }
    }

    /// A directory in the file layout to read the chain and store from.
    pub fn reading(&self) -> Result<Reading, PgError> {
        match self {
            Place::File(dir) => Ok(Reading {
                dir: dir.clone(),
                export: None,
            }),
            Place::Postgres(db) => {
                let export = db.pg().export()?;
                export.link_key(db.dir())?;
                Ok(Reading {
                    dir: export.dir().to_owned(),
                    export: Some(export),
                })
            }
        }
    }
}

/// The chain and store to read, in the file layout; a snapshot is removed
/// when this is dropped.
#[derive(Debug)]
pub struct Reading {
    dir: PathBuf,
    export: Option<Export>,
}

impl Reading {
    /// The directory holding `audit.jsonl`, `audit.checkpoint`, the store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether this is a snapshot of the database.
    pub fn is_snapshot(&self) -> bool {
        self.export.is_some()
    }
}

/// The URL in `SCOPEHOLD_DATABASE_URL`.
fn url_from_env() -> Result<SecretString, PgError> {
    std::env::var(DATABASE_URL_ENV)
        .ok()
        .filter(|url| !url.is_empty())
        .map(SecretString::from)
        .ok_or(PgError::MissingUrl)
}
