//! The store document in the database, and `init`.
//!
//! Guarantees: `initialise` creates schema, document, `log.init` and head
//! in one transaction, or joins a database that has them (never
//! re-creates: nothing stored is lost); a document write is one
//! transaction with its `store.write` record, and only succeeds over the
//! generation the writer read (a concurrent writer makes it `Conflict`, the
//! caller re-reads and re-applies, as under the file backend's lock).

use std::sync::Arc;

use time::OffsetDateTime;

use super::chain::{self, insert_and_advance};
use super::conn::{db_err, pool_err};
use super::schema::{self, Found};
use super::{PgError, PgState};
use crate::audit::{AuditError, CheckpointKey, Event, Hash, LogId, Record};

/// The store file's bytes as one row: what the file backend keeps in
/// `secrets.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub store_id: String,
    pub generation: u64,
    /// The store file's exact text (docs/store-format.md); holds only
    /// ciphertexts.
    pub text: String,
}

impl PgState {
    /// `runner init`: creates the schema with `document` (generation 0), the
    /// chain's `log.init` for it and the head; or, when the database is
    /// initialised already, changes nothing and says so (`Existing`).
    pub fn initialise(
        &self,
        document: Document,
        key: Arc<CheckpointKey>,
    ) -> Result<Found, PgError> {
        let host = self.host().to_owned();
        self.db().run(move |pool| async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            let tx = client.transaction().await.map_err(db_err("begin init"))?;
            let found = schema::ensure(&tx).await?;
            let has_store = tx
                .query_opt("SELECT 1 FROM store_document", &[])
                .await
                .map_err(db_err("look for the store"))?
                .is_some();
            if !has_store {
                create(&tx, &document, &key, &host).await?;
            }
            tx.commit().await.map_err(db_err("commit init"))?;
            Ok(match has_store {
                true => Found::Existing,
                false => found,
            })
        })
    }

    /// The current store document.
    pub fn document(&self) -> Result<Document, PgError> {
        self.db().run(|pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            schema::check(&client).await?;
            let row = client
                .query_opt(
                    "SELECT store_id, generation, document FROM store_document",
                    &[],
                )
                .await
                .map_err(db_err("read the store"))?
                .ok_or(PgError::NotInitialised)?;
            Ok(Document {
                store_id: row.get(0),
                generation: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
                text: row.get(2),
            })
        })
    }

    /// Replaces the document (read at generation `expected`) with
    /// `document` and appends `events` (the change's own record) and its
    /// `store.write` record, in one transaction. Returns the `store.write`.
    pub fn write_document(
        &self,
        expected: u64,
        document: Document,
        mut events: Vec<Event>,
        key: Arc<CheckpointKey>,
    ) -> Result<Record, PgError> {
        let host = self.host().to_owned();
        self.db().run(move |pool| async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            let tx = client
                .transaction()
                .await
                .map_err(db_err("begin a store write"))?;
            let (expected, generation) = (to_i64(expected)?, to_i64(document.generation)?);
            let changed = tx
                .execute(
                    "UPDATE store_document SET generation = $1, document = $2 \
                     WHERE generation = $3 AND store_id = $4",
                    &[&generation, &document.text, &expected, &document.store_id],
                )
                .await
                .map_err(db_err("write the store"))?;
            if changed != 1 {
                return Err(PgError::Conflict);
            }
            events.push(Event::StoreWrite {
                store: document.store_id.clone(),
                generation: document.generation,
            });
            let sealed = chain::append_in(&tx, events, Some(&key), &host).await?;
            tx.commit().await.map_err(db_err("commit a store write"))?;
            let written = sealed.into_iter().last().map(|s| s.record);
            written.ok_or_else(|| PgError::Query {
                action: "write the store",
                detail: "no record was sealed".into(),
            })
        })
    }

    /// The document's generation now (one cheap query: a run asks it
    /// before each request to take up another host's change).
    pub fn generation(&self) -> Result<u64, PgError> {
        self.db().run(|pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let row = client
                .query_opt("SELECT generation FROM store_document", &[])
                .await
                .map_err(db_err("read the store's generation"))?
                .ok_or(PgError::NotInitialised)?;
            Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
        })
    }

    /// The generation of the newest `store.write` for `store` whose MAC
    /// verifies with `key` (what the document must not be below). Rows
    /// without a valid MAC are passed over, as the file backend's rollback
    /// check counts only authenticated records.
    pub fn recorded_generation(
        &self,
        store: &str,
        key: Arc<CheckpointKey>,
    ) -> Result<Option<u64>, PgError> {
        let store = store.to_owned();
        self.db().run(move |pool| async move {
            let client = pool.get().await.map_err(pool_err)?;
            let mut below = i64::MAX;
            loop {
                let rows = client
                    .query(
                        "SELECT seq, line FROM audit_record WHERE kind = 'store.write' \
                         AND seq < $1 ORDER BY seq DESC LIMIT 64",
                        &[&below],
                    )
                    .await
                    .map_err(db_err("read the store's recorded generation"))?;
                if rows.is_empty() {
                    return Ok(None);
                }
                for row in rows {
                    below = row.get(0);
                    if let Some(generation) = authentic_write(row.get(1), &store, &key) {
                        return Ok(Some(generation));
                    }
                }
            }
        })
    }
}

/// The generation a `store.write` line records for `store`, if the line is
/// intact and its MAC verifies.
fn authentic_write(line: &str, store: &str, key: &CheckpointKey) -> Option<u64> {
    let record = chain::parse_record(line).ok()?;
    let Event::StoreWrite {
        store: s,
        generation,
    } = &record.event
    else {
        return None;
    };
    let intact = record.compute_hash() == Some(record.hash);
    let authentic = record.mac.is_some() && record.clone().authenticated(key).mac == record.mac;
    (s == store && intact && authentic).then_some(*generation)
}

/// The first rows of a new database: document, `log.init`, head.
async fn create(
    tx: &deadpool_postgres::Transaction<'_>,
    document: &Document,
    key: &CheckpointKey,
    host: &str,
) -> Result<(), PgError> {
    tx.execute(
        "INSERT INTO store_document (store_id, generation, document) VALUES ($1, $2, $3)",
        &[
            &document.store_id,
            &to_i64(document.generation)?,
            &document.text,
        ],
    )
    .await
    .map_err(db_err("store the store"))?;
    let log = LogId::random().map_err(AuditError::Random)?;
    let event = Event::LogInit {
        store: document.store_id.clone(),
    };
    let record = Record::seal(log, 0, OffsetDateTime::now_utc(), Hash::ZERO, event)
        .ok_or(AuditError::Clock)?
        .authenticated(key);
    let line = record.to_line().ok_or(AuditError::Clock)?;
    let ts = crate::audit::format_timestamp(record.ts).ok_or(AuditError::Clock)?;
    // A placeholder head (no checkpoint yet) the first advance overwrites.
    tx.execute(
        "INSERT INTO chain_head (log, seq, hash, ts, checkpoint) VALUES ($1, 0, $2, $3, '')",
        &[&log.to_string(), &record.hash.to_string(), &ts],
    )
    .await
    .map_err(db_err("create the chain head"))?;
    let sealed = [chain::Sealed { record, line }];
    insert_and_advance(tx, &sealed, host, Some(key)).await
}

fn to_i64(value: u64) -> Result<i64, PgError> {
    i64::try_from(value).map_err(|_| PgError::Query {
        action: "store a number",
        detail: "out of range".into(),
    })
}
