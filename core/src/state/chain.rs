//! [`Chain`]: the audit chain a run and the policy commands append to,
//! wherever the selected backend keeps it.
//!
//! Guarantees: an `append` returns `Ok` only once the record is durable in
//! the one chain (the file log fsynced; the database's transaction
//! committed with synchronous commit), so a caller that releases a value on
//! `Ok` never releases it unrecorded; `append_unsynced` orders the record
//! in the chain without waiting for the disk (the file backend's unsynced
//! records; an asynchronous commit in the database). Dispatch is an enum
//! match: the file backend's hot path does no extra work.

use std::sync::Arc;

use super::postgres::{PgError, PgState};
use crate::audit::{AuditError, AuditLog, CheckpointKey, Event, Record};

/// The audit chain of the selected backend.
#[derive(Debug, Clone)]
pub enum Chain {
    /// `audit.jsonl` in the state dir.
    File(AuditLog),
    /// The `audit_record` table; `key` once the store is open (then the
    /// records carry their MAC and the head's checkpoint moves).
    Postgres {
        pg: Arc<PgState>,
        key: Option<Arc<CheckpointKey>>,
    },
}

impl Chain {
    /// Appends `event`, durable when it returns `Ok`.
    pub fn append(&self, event: Event) -> Result<Record, AuditError> {
        match self {
            Chain::File(log) => log.append(event),
            Chain::Postgres { pg, key } => one(pg.append(vec![event], key.clone(), true)),
        }
    }

    /// Appends `event` in order, without waiting for it to be durable.
    pub fn append_unsynced(&self, event: Event) -> Result<Record, AuditError> {
        match self {
            Chain::File(log) => log.append_unsynced(event),
            Chain::Postgres { pg, key } => one(pg.append(vec![event], key.clone(), false)),
        }
    }

    /// The same chain, its appends authenticated with `key` from now on.
    pub fn anchored(self, key: CheckpointKey) -> Chain {
        match self {
            Chain::File(log) => Chain::File(log.anchored(key)),
            Chain::Postgres { pg, .. } => Chain::Postgres {
                pg,
                key: Some(Arc::new(key)),
            },
        }
    }

    /// Fails, appending nothing, where an append would fail now.
    pub fn check_appendable(&self) -> Result<(), AuditError> {
        match self {
            Chain::File(log) => log.check_appendable(),
            Chain::Postgres { pg, key } => pg
                .check_appendable(key.clone())
                .map_err(PgError::into_audit),
        }
    }
}

fn one(appended: Result<Vec<Record>, PgError>) -> Result<Record, AuditError> {
    let mut records = appended.map_err(PgError::into_audit)?;
    records.pop().ok_or(AuditError::Clock)
}
