//! The database schema: versioned migrations embedded in the binary.
//!
//! Guarantees: migrations run in one transaction with the `schema_version`
//! row they add, under an advisory lock, so two hosts initialising at once
//! never both create (the second finds the schema there); a database whose
//! schema is newer than this binary knows is refused before anything reads
//! or writes it; migrations only ever add (nothing stored is dropped).

use deadpool_postgres::{GenericClient, Transaction};

use super::PgError;
use super::conn::db_err;

/// The migrations, in order; version N is `MIGRATIONS[N - 1]`.
const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_init.sql")];

/// The schema version this binary reads and writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Key of the advisory lock `init` holds while it looks and creates
/// (an arbitrary constant: "scopehold" in ASCII, truncated).
const INIT_LOCK: i64 = 0x7363_6f70_6568_6f6c;

/// What `init` found in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// No ScopeHold schema: it was created now, in the caller's transaction.
    Created,
    /// A schema this binary knows (migrated up to it if older): join it.
    Existing,
}

/// The schema version in the database, `None` when there is none.
pub(crate) async fn version(client: &impl GenericClient) -> Result<Option<i32>, PgError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])
        .await
        .map_err(db_err("look for the schema"))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let row = client
        .query_one("SELECT max(version) FROM schema_version", &[])
        .await
        .map_err(db_err("read the schema version"))?;
    Ok(row.get::<_, Option<i32>>(0))
}

/// Refuses a database this binary cannot use: no schema, or a newer one.
pub(crate) async fn check(client: &impl GenericClient) -> Result<(), PgError> {
    match version(client).await? {
        None => Err(PgError::NotInitialised),
        Some(found) if found > SCHEMA_VERSION => Err(PgError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        }),
        Some(found) if found < SCHEMA_VERSION => Err(PgError::SchemaTooOld {
            found,
            known: SCHEMA_VERSION,
        }),
        Some(_) => Ok(()),
    }
}

/// Under `init`'s advisory lock (held to the end of `tx`): creates the
/// schema if there is none, applies missing migrations to an older one,
/// refuses a newer one.
pub(crate) async fn ensure(tx: &Transaction<'_>) -> Result<Found, PgError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INIT_LOCK])
        .await
        .map_err(db_err("lock the schema"))?;
    let found = version(tx).await?;
    if let Some(found) = found
        && found > SCHEMA_VERSION
    {
        return Err(PgError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found.is_none() {
        tx.batch_execute(
            "CREATE TABLE schema_version (version integer PRIMARY KEY, \
             applied timestamptz NOT NULL DEFAULT now())",
        )
        .await
        .map_err(db_err("create the schema"))?;
    }
    let from = found.unwrap_or(0);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        let version = index as i32 + 1;
        tx.batch_execute(sql)
            .await
            .map_err(db_err("apply a schema migration"))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(db_err("record the schema version"))?;
    }
    Ok(match found {
        None => Found::Created,
        Some(_) => Found::Existing,
    })
}
