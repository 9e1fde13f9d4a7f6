//! Checkpoints: the log's size and head hash, authenticated, kept outside the
//! log file.
//!
//! A hash chain cannot show that its newest records were cut off or that the
//! whole file was rewritten and rehashed. A checkpoint can: it records (log
//! id, number of records, hash of the last one, time) under a MAC keyed with
//! a key derived from the store's key, so whoever can write the log but not
//! read the store key cannot forge one. The writer refreshes
//! `audit.checkpoint` atomically after every append; `runner audit head`
//! prints it as one line meant to be kept elsewhere (an anchor).
//!
//! Guarantees: the text form is parsed strictly (one spelling per
//! checkpoint); the MAC covers a length-prefixed encoding of every field; a
//! checkpoint is written with temp file + fsync + rename + directory fsync, so
//! a crash leaves the old or the new one, never a mix.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretBox};
use time::OffsetDateTime;

use super::ids::{Hash, LogId};
use super::mac::{RECORD_MAC_CONTEXT, RecordKey};
use super::timestamp;

/// The checkpoint's file name inside the state dir.
pub const CHECKPOINT_FILE: &str = "audit.checkpoint";
/// `Store::derive_subkey` context for the checkpoint MAC key.
pub const CHECKPOINT_CONTEXT: &str = "scopehold audit checkpoint v1";
/// First word of the text form; names the format and its version.
const MAGIC: &str = "scopehold-audit-checkpoint";
pub const VERSION: &str = "v1";

/// The audit keys of one store: the checkpoint MAC key, the record MAC key
/// and the store's id (what the log must be bound to). Never printed.
pub struct CheckpointKey {
    checkpoint: SecretBox<[u8; 32]>,
    record: RecordKey,
    store: Option<String>,
}

impl CheckpointKey {
    /// From a bare 32-byte key (tests and test vectors): the record MAC key
    /// is derived from it, no store id is bound.
    pub fn new(key: SecretBox<[u8; 32]>) -> CheckpointKey {
        let record = blake3::derive_key(RECORD_MAC_CONTEXT, key.expose_secret());
        CheckpointKey {
            checkpoint: key,
            record: RecordKey::new(Box::new(record).into()),
            store: None,
        }
    }

    /// The keys the store derives for checkpoints and record MACs, bound to
    /// its id.
    pub fn from_store(store: &crate::store::Store) -> CheckpointKey {
        CheckpointKey {
            checkpoint: store.derive_subkey(CHECKPOINT_CONTEXT),
            record: RecordKey::new(store.derive_subkey(RECORD_MAC_CONTEXT)),
            store: Some(store.store_id().to_owned()),
        }
    }

    /// [`CheckpointKey::new`] bound to a store id (tests).
    #[cfg(test)]
    pub(crate) fn for_store(key: SecretBox<[u8; 32]>, store: &str) -> CheckpointKey {
        CheckpointKey {
            store: Some(store.to_owned()),
            ..CheckpointKey::new(key)
        }
    }

    /// The record MAC key.
    pub(crate) fn record(&self) -> &RecordKey {
        &self.record
    }

    /// The id of the store these keys come from, if bound to one.
    pub fn store_id(&self) -> Option<&str> {
        self.store.as_deref()
    }

    fn mac(&self, cp: &Checkpoint) -> Hash {
        let mut hasher = blake3::Hasher::new_keyed(self.checkpoint.expose_secret());
        hasher.update(&cp.encoding());
        hasher.finalize().into()
    }
}

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CheckpointKey([REDACTED])")
    }
}

/// A log's state at one moment: `size` records, the last one hashing to `head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub log: LogId,
    /// Number of records (the last one has seq `size - 1`).
    pub size: u64,
    pub head: Hash,
    /// UTC, whole microseconds.
    pub ts: OffsetDateTime,
    pub mac: Hash,
}

impl Checkpoint {
    /// A checkpoint for a log whose last record has `seq` and `head`.
    pub fn seal(key: &CheckpointKey, log: LogId, seq: u64, head: Hash) -> Option<Checkpoint> {
        Checkpoint::seal_at(key, log, seq, head, OffsetDateTime::now_utc())
    }

    /// [`Checkpoint::seal`] at a given time (test vectors are reproducible).
    pub(crate) fn seal_at(
        key: &CheckpointKey,
        log: LogId,
        seq: u64,
        head: Hash,
        ts: OffsetDateTime,
    ) -> Option<Checkpoint> {
        let ts = timestamp::truncate(ts);
        timestamp::format(ts)?;
        let mut cp = Checkpoint {
            log,
            size: seq.checked_add(1)?,
            head,
            ts,
            mac: Hash::ZERO,
        };
        cp.mac = key.mac(&cp);
        Some(cp)
    }

    /// Whether `key` made this checkpoint (constant-time comparison).
    pub(crate) fn is_authentic(&self, key: &CheckpointKey) -> bool {
        let expected = blake3::Hash::from_bytes(*key.mac(self).as_bytes());
        expected == blake3::Hash::from_bytes(*self.mac.as_bytes())
    }

    /// Length-prefixed fields, as in record hashing: no text ambiguity.
    fn encoding(&self) -> Vec<u8> {
        let ts = timestamp::format(self.ts).unwrap_or_default();
        let fields: [(&str, &[u8]); 5] = [
            ("v", VERSION.as_bytes()),
            ("log", self.log.as_bytes()),
            ("size", &self.size.to_le_bytes()),
            ("head", self.head.as_bytes()),
            ("time", ts.as_bytes()),
        ];
        super::encode::encode_fields(&fields)
    }

    /// Parses the one-line text form strictly (surrounding whitespace allowed,
    /// so a copy pasted from a ticket works).
    pub fn parse(text: &str) -> Result<Checkpoint, String> {
        let words: Vec<&str> = text.trim().split(' ').collect();
        let [magic, version, log, size, head, time, mac] = words[..] else {
            return Err(format!(
                "expected `{MAGIC} {VERSION} log=.. size=.. head=.. time=.. mac=..`"
            ));
        };
        if magic != MAGIC || version != VERSION {
            return Err(format!("not a {MAGIC} {VERSION} line"));
        }
        let size_text = field(size, "size")?;
        let size: u64 = size_text.parse().map_err(|_| "size is not a number")?;
        if size.to_string() != size_text || size == 0 {
            return Err("size is not a canonical positive number".into());
        }
        Ok(Checkpoint {
            log: field(log, "log")?.parse().map_err(|e| format!("{e}"))?,
            size,
            head: field(head, "head")?.parse().map_err(|e| format!("{e}"))?,
            ts: timestamp::parse(field(time, "time")?)?,
            mac: field(mac, "mac")?.parse().map_err(|e| format!("{e}"))?,
        })
    }

    /// Reads a checkpoint file; `Ok(None)` if there is none.
    pub fn load(path: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(CheckpointError::io("read", path, source)),
        };
        Checkpoint::parse(&text)
            .map(Some)
            .map_err(|reason| CheckpointError::Malformed {
                path: path.to_owned(),
                reason,
            })
    }

    /// Replaces `dir/audit.checkpoint` atomically (and with `durable`, also
    /// synced). Callers hold the log's lock, so checkpoints only move forward.
    pub fn store(&self, dir: &Path, durable: bool) -> Result<(), CheckpointError> {
        let path = dir.join(CHECKPOINT_FILE);
        let tmp = dir.join(format!("{CHECKPOINT_FILE}.tmp"));
        let write = || -> io::Result<()> {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(format!("{self}\n").as_bytes())?;
            if durable {
                file.sync_all()?;
            }
            std::fs::rename(&tmp, &path)?;
            match durable {
                true => File::open(dir)?.sync_all(),
                false => Ok(()),
            }
        };
        write().map_err(|source| CheckpointError::io("write", &path, source))
    }
}

fn field<'a>(word: &'a str, name: &str) -> Result<&'a str, String> {
    word.strip_prefix(name)
        .and_then(|rest| rest.strip_prefix('='))
        .ok_or_else(|| format!("expected `{name}=...`, found {:?}", short(word)))
}

fn short(word: &str) -> String {
    word.chars().take(40).collect()
}

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ts = timestamp::format(self.ts).unwrap_or_default();
        write!(
            f,
            "{MAGIC} {VERSION} log={} size={} head={} time={ts} mac={}",
            self.log, self.size, self.head, self.mac
        )
    }
}

/// Reading or writing a checkpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot {action} audit checkpoint {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("audit checkpoint {} is malformed: {reason}", .path.display())]
    Malformed { path: PathBuf, reason: String },
}

impl CheckpointError {
    fn io(action: &'static str, path: &Path, source: io::Error) -> CheckpointError {
        CheckpointError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    }

    /// A one-line remedy for the user, where there is one.
    pub fn hint(&self) -> Option<String> {
        match self {
            CheckpointError::Io { .. } => {
                Some("check that the state dir is writable by this user".into())
            }
            CheckpointError::Malformed { .. } => Some(
                "the checkpoint was edited or corrupted: compare the log with an exported \
                 anchor (`runner audit verify --anchor FILE`)"
                    .into(),
            ),
        }
    }
}
