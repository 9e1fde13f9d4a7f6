//! The PostgreSQL state backend: one encrypted store document and one audit
//! chain shared by every host that runs agents (docs/postgres.md).
//!
//! Guarantees:
//! - The database holds what the file backend holds in its files, in the
//!   same formats: the store document is the store file's bytes (sealed
//!   client-side: the server never sees a value or a key), each audit
//!   record is its canonical line, the head row holds the checkpoint. So
//!   the same parser, MAC checks and verifier apply, and a verdict on the
//!   table means what it means on a file.
//! - Each append is one transaction that locks the head row; a store write
//!   changes the document, its generation and appends its `store.write`
//!   record in one transaction (rollback protection).
//! - The database URL's password is never in an error or a log line.

mod backend;
#[cfg(test)]
mod bench;
mod chain;
mod conn;
mod document;
mod export;
mod schema;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use secrecy::SecretString;

use crate::audit::{AuditError, CheckpointKey, Event, Record};

pub use backend::{Initialised, PostgresBackend};
pub use conn::{DATABASE_URL_ENV, Db};
pub use document::Document;
pub use export::Export;
pub use schema::{Found, SCHEMA_VERSION};

/// What the backend's errors call the audit log (where a file backend
/// error names `audit.jsonl`).
pub const AUDIT_TABLE: &str = "audit_record (PostgreSQL table)";

/// What went wrong talking to the database. Never holds the URL.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("the database URL is not a valid PostgreSQL connection string")]
    Url,
    #[error("`[state] backend = \"postgres\"` needs a database URL")]
    MissingUrl,
    #[error("the database is unavailable ({0})")]
    Unavailable(String),
    #[error("database error: cannot {action}: {detail}")]
    Query {
        action: &'static str,
        detail: String,
    },
    #[error("the database holds no ScopeHold state")]
    NotInitialised,
    #[error("the database schema is version {found}; this runner knows up to version {known}")]
    SchemaTooNew { found: i32, known: i32 },
    #[error("the database schema is version {found}; this runner needs version {known}")]
    SchemaTooOld { found: i32, known: i32 },
    #[error("the store document changed while it was being written (another host wrote it)")]
    Conflict,
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl PgError {
    /// A one-line remedy for the user.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            PgError::Url => format!(
                "give `postgresql://USER:PASSWORD@HOST:PORT/DATABASE` in {DATABASE_URL_ENV} \
                 or --database-url"
            ),
            PgError::MissingUrl => format!("set {DATABASE_URL_ENV} or pass --database-url"),
            PgError::Unavailable(_) => "check that PostgreSQL is running and reachable at the \
                 database URL; no secret is released while it is not"
                .into(),
            PgError::Query { .. } => "check the database's log; run `runner audit verify`".into(),
            PgError::NotInitialised => {
                "run `runner init` with the database URL on one host first".into()
            }
            PgError::SchemaTooNew { .. } => {
                "another host's newer runner migrated the database: upgrade this runner".into()
            }
            PgError::SchemaTooOld { .. } => {
                "run `runner init` with the database URL to migrate the schema".into()
            }
            PgError::Conflict => "run the command again".into(),
            PgError::Audit(error) => return error.hint(),
        })
    }

    /// Whether the database could not be reached (a run's secrets are then
    /// `unavailable`).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, PgError::Unavailable(_))
    }

    /// As a store error (opening or changing the store document): the
    /// message and hint are kept, a refused append stays an audit error's.
    pub fn into_store(self) -> crate::store::StoreError {
        crate::store::StoreError::Database {
            conflict: matches!(self, PgError::Conflict),
            hint: self.hint(),
            message: self.to_string(),
        }
    }

    /// As an audit error (an append): the chain's own refusals as they
    /// are, a database failure with its message and hint.
    pub fn into_audit(self) -> AuditError {
        match self {
            PgError::Audit(error) => error,
            other => AuditError::Shared {
                hint: other.hint(),
                reason: other.to_string(),
            },
        }
    }

    /// The same error with `edit` applied to its free text.
    fn map_text(self, edit: impl Fn(&str) -> String) -> PgError {
        match self {
            PgError::Unavailable(text) => PgError::Unavailable(edit(&text)),
            PgError::Query { action, detail } => PgError::Query {
                action,
                detail: edit(&detail),
            },
            other => other,
        }
    }
}

/// Overrides the host name records are stored with (containers that share
/// a host name, tests that play several hosts).
pub const HOST_ENV: &str = "SCOPEHOLD_HOST";

/// `SCOPEHOLD_HOST` if set to a short printable name, else the host name.
fn host_name() -> String {
    std::env::var(HOST_ENV)
        .ok()
        .filter(|h| !h.is_empty() && h.len() <= 255 && h.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or_else(crate::operator::host_name)
}

/// One host's handle on the shared state.
#[derive(Debug)]
pub struct PgState {
    db: Db,
    /// This host's name, stored with every record it appends.
    host: String,
}

impl PgState {
    /// A handle on the database at `url` (connects at the first call).
    pub fn connect(url: &SecretString) -> Result<PgState, PgError> {
        Ok(PgState {
            db: Db::new(url)?,
            host: host_name(),
        })
    }

    /// Appends `events` in one transaction; `Ok` only once committed (and,
    /// with `synced`, durable). With `key` the records carry their MAC and
    /// the head's checkpoint moves with them.
    pub fn append(
        &self,
        events: Vec<Event>,
        key: Option<Arc<CheckpointKey>>,
        synced: bool,
    ) -> Result<Vec<Record>, PgError> {
        let host = self.host.clone();
        self.db.run(move |pool| async move {
            let mut client = pool.get().await.map_err(conn::pool_err)?;
            chain::append(&mut client, events, key.as_deref(), &host, synced).await
        })
    }

    /// Fails, appending nothing, where an append with `key` would fail now.
    pub fn check_appendable(&self, key: Option<Arc<CheckpointKey>>) -> Result<(), PgError> {
        self.db.run(move |pool| async move {
            let mut client = pool.get().await.map_err(conn::pool_err)?;
            chain::check(&mut client, key.as_deref()).await
        })
    }

    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    pub(crate) fn host(&self) -> &str {
        &self.host
    }
}
