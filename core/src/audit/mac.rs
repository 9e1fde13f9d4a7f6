//! Record MACs: what makes a record authentic, not only well chained.
//!
//! The record hash is public (anyone can recompute it), so a chain alone
//! cannot tell a record the runner wrote from one appended by whoever can
//! write the file. A writer that holds the store key adds `mac`, a keyed
//! blake3 over the record's hash with a key derived from the store
//! (`Store::derive_subkey(RECORD_MAC_CONTEXT)`). The hash covers every field
//! and `prev`, so a valid MAC vouches for the record and, through the chain,
//! for every record before it.
//!
//! Guarantees: the kinds in [`always_keyed`] are only ever written with the
//! key, so one of them without a valid MAC is a forgery (verify reports it
//! when it has the key; the store's rollback check ignores it); the MAC is
//! compared in constant time; the key is never printed.

use std::fmt;

use secrecy::{ExposeSecret, SecretBox};

use super::ids::Hash;
use super::record::Event;

/// `Store::derive_subkey` context for the record MAC key.
pub const RECORD_MAC_CONTEXT: &str = "scopehold audit record mac v1";

/// The record MAC key. Never printed.
pub(crate) struct RecordKey(SecretBox<[u8; 32]>);

impl RecordKey {
    pub(crate) fn new(key: SecretBox<[u8; 32]>) -> RecordKey {
        RecordKey(key)
    }

    /// The MAC of the record whose hash is `hash`.
    pub(crate) fn mac(&self, hash: &Hash) -> Hash {
        let fields: [(&str, &[u8]); 1] = [("hash", hash.as_bytes())];
        let mut hasher = blake3::Hasher::new_keyed(self.0.expose_secret());
        hasher.update(&super::encode::encode_fields(&fields));
        hasher.finalize().into()
    }

    /// Whether `mac` is this key's MAC of `hash` (constant-time comparison).
    pub(crate) fn verifies(&self, hash: &Hash, mac: &Hash) -> bool {
        blake3::Hash::from_bytes(*self.mac(hash).as_bytes())
            == blake3::Hash::from_bytes(*mac.as_bytes())
    }
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecordKey([REDACTED])")
    }
}

/// Kinds the runner writes only while it holds the store key: the log's
/// binding to its store (`log.init`), every release (`secret.resolve`) and
/// every store change (`secret.set`/`rotate`/`remove`, `store.write`,
/// `store.restore`, `store.rekey`). Without a valid MAC such a record is FORGED.
/// The others (a run's start and end, denials, HTTP requests, recoveries,
/// segment boundaries) may be written before the store is opened: without
/// a MAC they are merely unauthenticated until a later MAC covers them.
pub fn always_keyed(event: &Event) -> bool {
    matches!(
        event,
        Event::LogInit { .. }
            | Event::SecretResolve { .. }
            | Event::SecretSet { .. }
            | Event::SecretRotate { .. }
            | Event::SecretRemove { .. }
            | Event::StoreWrite { .. }
            | Event::StoreRestore { .. }
            | Event::StoreRekey { .. }
    )
}

/// Whether a record is authentic under `key`: `Some(true)` valid MAC,
/// `Some(false)` a MAC that fails or a missing one on an always-keyed kind
/// (forged), `None` no MAC on a kind that may lack one.
pub(crate) fn authentic(key: &RecordKey, record: &super::Record) -> Option<bool> {
    match &record.mac {
        Some(mac) => Some(key.verifies(&record.hash, mac)),
        None if always_keyed(&record.event) => Some(false),
        None => None,
    }
}
