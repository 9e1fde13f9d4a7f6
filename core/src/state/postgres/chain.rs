//! The audit chain in the database: appends, one transaction each.
//!
//! Guarantees:
//! - An append locks the single `chain_head` row (`SELECT ... FOR UPDATE`),
//!   seals its records after the head, inserts them and moves the head in
//!   the same transaction; it returns only after `COMMIT`, so a caller that
//!   releases a value on `Ok` releases it only with its record durable on the
//!   server (synchronous commit). Every host's appends form one chain: the
//!   row lock orders them, `UNIQUE (log, seq)` is the backstop.
//! - Before sealing, the head is checked as the file backend checks its
//!   tail and checkpoint: the last row must be the record the head names,
//!   a writer with the key refuses a checkpoint its key did not seal or a
//!   chain that no longer holds the checkpoint's head, and a clock more than
//!   a second behind the chain is refused. A refusal writes nothing.
//! - Records are the file backend's records (`Record::seal`, the same MAC),
//!   stored as their canonical line, so the same verifier checks them.

use deadpool_postgres::Transaction;
use time::OffsetDateTime;

use super::PgError;
use super::conn::db_err;
use crate::audit::{
    AuditError, Checkpoint, CheckpointKey, Event, Hash, LogId, MAX_LINE_BYTES, Record,
};

/// How far the clock may be behind the chain before appends are refused
/// (the file backend's tolerance).
const CLOCK_TOLERANCE: time::Duration = time::Duration::seconds(1);

/// The head row as read under its lock.
pub(crate) struct Head {
    pub log: LogId,
    pub seq: u64,
    pub hash: Hash,
    pub checkpoint: String,
}

/// A record ready to insert: the sealed record and its canonical line.
pub(crate) struct Sealed {
    pub record: Record,
    pub line: String,
}

/// Locks the head row and returns it with the last record it must name.
pub(crate) async fn lock_head(tx: &Transaction<'_>) -> Result<(Head, Record), PgError> {
    let head = tx
        .query_opt(
            "SELECT log, seq, hash, checkpoint FROM chain_head FOR UPDATE",
            &[],
        )
        .await
        .map_err(db_err("lock the chain head"))?
        .ok_or(PgError::NotInitialised)?;
    let head = Head {
        log: parse_field(head.get(0), "log")?,
        seq: u64::try_from(head.get::<_, i64>(1)).map_err(|_| damaged("head seq is negative"))?,
        hash: parse_field(head.get(2), "hash")?,
        checkpoint: head.get(3),
    };
    let last = tx
        .query_opt(
            "SELECT line FROM audit_record WHERE log = $1 ORDER BY seq DESC LIMIT 1",
            &[&head.log.to_string()],
        )
        .await
        .map_err(db_err("read the chain's last record"))?
        .ok_or_else(|| damaged("the chain head names a log with no records"))?;
    let last = parse_record(last.get(0))?;
    Ok((head, last))
}

/// Reads the record with `seq` (for the checkpoint check).
async fn record_at(tx: &Transaction<'_>, log: LogId, seq: u64) -> Result<Option<Record>, PgError> {
    let seq = i64::try_from(seq).map_err(|_| damaged("checkpoint seq out of range"))?;
    let row = tx
        .query_opt(
            "SELECT line FROM audit_record WHERE log = $1 AND seq = $2",
            &[&log.to_string(), &seq],
        )
        .await
        .map_err(db_err("read the checkpointed record"))?;
    row.map(|row| parse_record(row.get(0))).transpose()
}

/// Refuses an append the file backend would refuse: the last row is not
/// the head, the checkpoint is foreign or not in the chain, the clock is
/// behind. `key`: the writer holds the store key.
pub(crate) async fn guard(
    tx: &Transaction<'_>,
    head: &Head,
    last: &Record,
    key: Option<&CheckpointKey>,
) -> Result<(), PgError> {
    if last.seq != head.seq || last.hash != head.hash || last.compute_hash() != Some(last.hash) {
        return Err(diverged(
            "its last record is not the one the chain head names",
        ));
    }
    let checkpoint = Checkpoint::parse(&head.checkpoint)
        .map_err(|reason| diverged(&format!("its checkpoint is malformed: {reason}")))?;
    if let Some(key) = key {
        if !checkpoint.is_authentic(key) {
            return Err(diverged(
                "its checkpoint was not made with this store's key",
            ));
        }
        // The checkpoint is usually at the head (every keyed append moves
        // it): then the last record, already read, is the one it names.
        let at = match checkpoint.size.checked_sub(1) {
            Some(seq) if seq == last.seq && checkpoint.log == last.log => Some(last.hash),
            _ => record_at(tx, checkpoint.log, checkpoint.size.saturating_sub(1))
                .await?
                .map(|r| r.hash),
        };
        if checkpoint.log != head.log || at != Some(checkpoint.head) {
            return Err(diverged(
                "it no longer holds the record its checkpoint vouches for",
            ));
        }
    }
    let newest = last.ts.max(checkpoint.ts);
    let now = OffsetDateTime::now_utc();
    if now + CLOCK_TOLERANCE < newest {
        let format = |t| crate::audit::format_timestamp(t).unwrap_or_default();
        return Err(PgError::Audit(AuditError::ClockBehind {
            now: format(now),
            newest: format(newest),
        }));
    }
    Ok(())
}

/// Seals `events` one after the other after `last`, with the MAC when the
/// writer holds the key.
pub(crate) fn seal_all(
    mut last: Record,
    events: Vec<Event>,
    key: Option<&CheckpointKey>,
) -> Result<Vec<Sealed>, PgError> {
    let mut sealed = Vec::with_capacity(events.len());
    for event in events {
        let seq = last
            .seq
            .checked_add(1)
            .ok_or_else(|| damaged("seq at its maximum"))?;
        // Never before the previous record (the guard bounds the step back).
        let now = OffsetDateTime::now_utc().max(last.ts);
        let record = Record::seal(last.log, seq, now, last.hash, event).ok_or(AuditError::Clock)?;
        let record = match key {
            Some(key) => record.authenticated(key),
            None => record,
        };
        let line = record.to_line().ok_or(AuditError::Clock)?;
        if line.len() > MAX_LINE_BYTES {
            return Err(AuditError::RecordTooLarge { len: line.len() }.into());
        }
        last = record.clone();
        sealed.push(Sealed { record, line });
    }
    Ok(sealed)
}

/// Inserts the sealed records and moves the head (and, with the key, its
/// checkpoint) to the last one.
pub(crate) async fn insert_and_advance(
    tx: &Transaction<'_>,
    sealed: &[Sealed],
    host: &str,
    key: Option<&CheckpointKey>,
) -> Result<(), PgError> {
    let Some(last) = sealed.last().map(|s| &s.record) else {
        return Ok(());
    };
    let insert = tx
        .prepare_cached(
            "INSERT INTO audit_record (log, seq, kind, host, line) VALUES ($1, $2, $3, $4, $5)",
        )
        .await
        .map_err(db_err("prepare the record insert"))?;
    let log = last.log.to_string();
    for s in sealed {
        let seq = i64::try_from(s.record.seq).map_err(|_| damaged("seq out of range"))?;
        let kind = s.record.event.kind();
        tx.execute(&insert, &[&log, &seq, &kind, &host, &s.line])
            .await
            .map_err(db_err("insert an audit record"))?;
    }
    advance(tx, last, key).await
}

async fn advance(
    tx: &Transaction<'_>,
    last: &Record,
    key: Option<&CheckpointKey>,
) -> Result<(), PgError> {
    let seq = i64::try_from(last.seq).map_err(|_| damaged("seq out of range"))?;
    let ts = crate::audit::format_timestamp(last.ts).ok_or(AuditError::Clock)?;
    let hash = last.hash.to_string();
    match key {
        Some(key) => {
            let checkpoint = Checkpoint::seal(key, last.log, last.seq, last.hash)
                .ok_or(AuditError::Clock)?
                .to_string();
            tx.execute(
                "UPDATE chain_head SET seq = $1, hash = $2, ts = $3, checkpoint = $4",
                &[&seq, &hash, &ts, &checkpoint],
            )
            .await
        }
        None => {
            tx.execute(
                "UPDATE chain_head SET seq = $1, hash = $2, ts = $3",
                &[&seq, &hash, &ts],
            )
            .await
        }
    }
    .map_err(db_err("move the chain head"))?;
    Ok(())
}

/// One append transaction: lock, guard, seal, insert, advance, commit.
/// `synced`: wait for the commit to be durable (every record that releases
/// something or is a security event); otherwise the commit is asynchronous
/// (the file backend's unsynced appends: `exec.start`, `exec.end`).
pub(crate) async fn append(
    client: &mut deadpool_postgres::Client,
    events: Vec<Event>,
    key: Option<&CheckpointKey>,
    host: &str,
    synced: bool,
) -> Result<Vec<Record>, PgError> {
    let tx = client
        .transaction()
        .await
        .map_err(db_err("begin an append"))?;
    if !synced {
        tx.batch_execute("SET LOCAL synchronous_commit = off")
            .await
            .map_err(db_err("begin an append"))?;
    }
    let sealed = append_in(&tx, events, key, host).await?;
    tx.commit().await.map_err(db_err("commit an append"))?;
    Ok(sealed.into_iter().map(|s| s.record).collect())
}

/// Fails, appending nothing, where an append would fail now (the head row
/// locked and checked, then the transaction rolled back).
pub(crate) async fn check(
    client: &mut deadpool_postgres::Client,
    key: Option<&CheckpointKey>,
) -> Result<(), PgError> {
    let tx = client
        .transaction()
        .await
        .map_err(db_err("begin a check of the chain"))?;
    let (head, last) = lock_head(&tx).await?;
    guard(&tx, &head, &last, key).await?;
    tx.rollback()
        .await
        .map_err(db_err("end a check of the chain"))
}

/// The append inside a caller's transaction (a store write adds its
/// document change to the same one).
pub(crate) async fn append_in(
    tx: &Transaction<'_>,
    events: Vec<Event>,
    key: Option<&CheckpointKey>,
    host: &str,
) -> Result<Vec<Sealed>, PgError> {
    let (head, last) = lock_head(tx).await?;
    guard(tx, &head, &last, key).await?;
    let sealed = seal_all(last, events, key)?;
    insert_and_advance(tx, &sealed, host, key).await?;
    Ok(sealed)
}

pub(crate) fn parse_record(line: &str) -> Result<Record, PgError> {
    let record = Record::parse_line(line.as_bytes())
        .map_err(|reason| damaged(&format!("a record is malformed: {reason}")))?;
    Ok(record)
}

fn parse_field<T: std::str::FromStr>(text: String, field: &str) -> Result<T, PgError> {
    text.parse()
        .map_err(|_| damaged(&format!("the chain head's {field} is malformed")))
}

fn damaged(reason: &str) -> PgError {
    diverged(reason)
}

/// The file backend's refusal, naming the table instead of a file.
fn diverged(reason: &str) -> PgError {
    PgError::Audit(AuditError::Diverged {
        path: super::AUDIT_TABLE.into(),
        reason: reason.to_owned(),
    })
}
