//! The backend trait: where a state's store document and audit chain live.
//!
//! A backend must guarantee (docs/state-backends.md says it at length):
//! - `open_store`: the store is authenticated (key, MAC) and refused when
//!   its generation is below the newest `store.write` the chain records for
//!   it with a valid MAC (a rollback), re-reading once before saying so (a
//!   writer may have finished in between: the chain never leads the store).
//! - `append`: a record is durable, in the one chain, when it returns `Ok`;
//!   concurrent appenders (threads, processes, hosts) form one chain, no
//!   fork and no gap; the chain's anchor (checkpoint) moves with it.
//! - `write_store`: the change and its records are one operation. The file
//!   backend writes the store, then appends (the chain may lag the store
//!   after a crash, never lead it); a database backend commits both in one
//!   transaction.
//! - Nothing secret reaches it in clear: values are sealed by [`Store`]
//!   before they are written, and records hold names and versions only.

use crate::audit::{AuditError, Event, Record};
use crate::store::{AskPassphrase, Store, StoreError};

use super::{Change, StateError, Written};

/// Where a state lives. The file backend ([`super::FileBackend`]) is the
/// state dir; every method is one operation of that place.
pub trait Backend {
    /// Opens and authenticates the store, refusing a rollback.
    fn open_store(&self, ask: AskPassphrase<'_>) -> Result<Store, StoreError>;

    /// Opens the store without refusing a rollback: the newest generation
    /// the chain records, when the store is below it (a deliberate restore).
    fn open_restored(&self, ask: AskPassphrase<'_>) -> Result<(Store, Option<u64>), StoreError>;

    /// Fails, appending nothing, if the chain would refuse `store`'s records
    /// now (its anchor no longer in the chain, the clock behind it).
    fn check_appendable(&self, store: &Store) -> Result<(), AuditError>;

    /// Appends one record, authenticated with `store`'s audit key, without a
    /// store change. Durable in the chain when it returns `Ok`.
    fn append(&self, store: &Store, event: Event) -> Result<Record, AuditError>;

    /// Makes `change` to `store` and appends its event and `store.write`
    /// (the new generation) as one operation.
    fn write_store(&self, store: &mut Store, change: Change<'_>) -> Result<Written, StateError>;
}
