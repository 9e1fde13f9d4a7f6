//! The store file on disk: strict parsing, canonical encoding, atomic writes.
//!
//! The file is JSON (spec: docs/store-format.md). Parsing is strict: unknown
//! or duplicate fields, a foreign format version, malformed hex, timestamps or
//! names, and duplicate entries are all errors, and a file that fails to parse
//! is never rewritten. Writes go to a fresh 0600 temp file in the same
//! directory, are fsynced, renamed over the store file and the directory is
//! fsynced, so a reader or a crash sees the old file or the new one, never a
//! mix. Writers serialise on an exclusive lock of `store.lock`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::crypto::{self, Binding, Encoder, NONCE_LEN, TAG_LEN};
use super::kek::{KekRepr, KekSource};
use super::{EntryInfo, LOCK_FILE, STORE_FILE, StoreError};
use crate::names::{ProjectName, SecretName};

/// The store file format this code reads and writes.
pub const FORMAT_VERSION: u32 = 2;
/// Length of the wrapped data key: 32 key bytes and a 16-byte tag.
const WRAPPED_LEN: usize = 32 + TAG_LEN;

/// One stored secret: public metadata and the sealed value.
pub(crate) struct Entry {
    pub info: EntryInfo,
    pub nonce: [u8; NONCE_LEN],
    pub sealed: Vec<u8>,
}

/// The data key, sealed under a key-encryption key.
pub(crate) struct Wrapping {
    pub source: KekSource,
    /// Id of the key-encryption key that sealed it.
    pub kek_id: String,
    pub nonce: [u8; NONCE_LEN],
    pub wrapped: Vec<u8>,
}

/// The parsed store file. Entries are keyed (and so ordered) by project, name.
pub(crate) struct StoreData {
    pub store_id: String,
    pub wrapping: Wrapping,
    /// Id of the data key the entries are sealed with.
    pub key_id: String,
    /// The subkey seed (`Store::derive_subkey`), sealed under the data key so
    /// that subkeys survive a data key change.
    pub subkey_nonce: [u8; NONCE_LEN],
    pub subkey_seed: Vec<u8>,
    pub generation: u64,
    pub entries: BTreeMap<(ProjectName, SecretName), Entry>,
    pub mac: [u8; 32],
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRepr {
    format: u32,
    store_id: String,
    kek: KekRepr,
    kek_id: String,
    wrap_nonce: String,
    wrapped_key: String,
    key_id: String,
    subkey_nonce: String,
    subkey_seed: String,
    generation: u64,
    entries: Vec<EntryRepr>,
    mac: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryRepr {
    project: ProjectName,
    name: SecretName,
    version: u32,
    created: String,
    nonce: String,
    ciphertext: String,
}

/// Read first, leniently, so a newer format is reported as such rather than
/// as an unknown field.
#[derive(Deserialize)]
struct Probe {
    format: u64,
}

impl StoreData {
    /// A store without entries; its wrapping is filled in by the caller.
    pub(crate) fn empty(store_id: String, key_id: String, source: KekSource) -> Self {
        let entries = BTreeMap::new();
        let wrapping = Wrapping {
            source,
            kek_id: String::new(),
            nonce: [0; NONCE_LEN],
            wrapped: Vec::new(),
        };
        Self {
            store_id,
            wrapping,
            key_id,
            subkey_nonce: [0; NONCE_LEN],
            subkey_seed: Vec::new(),
            generation: 0,
            entries,
            mac: [0; 32],
        }
    }

    /// What an entry's ciphertext is bound to.
    pub(crate) fn binding<'a>(&'a self, info: &'a EntryInfo) -> Binding<'a> {
        Binding {
            format: FORMAT_VERSION,
            store_id: &self.store_id,
            key_id: &self.key_id,
            project: info.project.as_str(),
            name: info.name.as_str(),
            version: info.version,
        }
    }

    /// What the wrapped data key is bound to: this store, its KEK source
    /// and parameters, the KEK and the data key's id.
    pub(crate) fn wrap_aad(&self, kek_id: &str) -> Vec<u8> {
        Encoder::default()
            .str("scopehold store data key wrap v1")
            .bytes(&FORMAT_VERSION.to_le_bytes())
            .str(&self.store_id)
            .str(&self.wrapping.source.describe())
            .str(kek_id)
            .str(&self.key_id)
            .finish()
    }

    /// What the sealed subkey seed is bound to: this store and data key.
    pub(crate) fn subkey_aad(&self) -> Vec<u8> {
        Encoder::default()
            .str("scopehold store subkey seed v1")
            .bytes(&FORMAT_VERSION.to_le_bytes())
            .str(&self.store_id)
            .str(&self.key_id)
            .finish()
    }

    /// The canonical encoding the list MAC covers: every field of the file
    /// except the MAC itself, independent of JSON spelling and entry order.
    pub(crate) fn mac_input(&self) -> Vec<u8> {
        let mut enc = Encoder::default();
        enc.str("scopehold store entry list v1")
            .bytes(&FORMAT_VERSION.to_le_bytes())
            .str(&self.store_id)
            .str(&self.wrapping.source.describe())
            .str(&self.wrapping.kek_id)
            .bytes(&self.wrapping.nonce)
            .bytes(&self.wrapping.wrapped)
            .str(&self.key_id)
            .bytes(&self.subkey_nonce)
            .bytes(&self.subkey_seed)
            .bytes(&self.generation.to_le_bytes())
            .bytes(&(self.entries.len() as u64).to_le_bytes());
        for entry in self.entries.values() {
            let info = &entry.info;
            enc.str(info.project.as_str())
                .str(info.name.as_str())
                .bytes(&info.version.to_le_bytes())
                .bytes(&info.created.unix_timestamp_nanos().to_le_bytes())
                .bytes(&entry.nonce)
                .bytes(&entry.sealed);
        }
        enc.finish()
    }
}

/// Reads and parses the store file; `None` if it does not exist.
pub(crate) fn read(dir: &Path) -> Result<Option<StoreData>, StoreError> {
    let path = dir.join(STORE_FILE);
    match fs::read(&path) {
        Ok(bytes) => parse(&path, &bytes).map(Some),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(StoreError::io("read the store file", path)(err)),
    }
}

/// Parses store file bytes strictly.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<StoreData, StoreError> {
    let malformed = |reason: String| StoreError::Malformed {
        path: path.into(),
        reason,
    };
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
    if probe.format != u64::from(FORMAT_VERSION) {
        let (found, supported) = (probe.format, FORMAT_VERSION);
        return Err(StoreError::UnsupportedFormat {
            path: path.into(),
            found,
            supported,
        });
    }
    let repr: FileRepr = serde_json::from_slice(bytes).map_err(|e| malformed(e.to_string()))?;
    let data = from_repr(repr).map_err(malformed)?;
    // One spelling per store: any byte changed, even spacing, is refused.
    if serialize(&data) != bytes {
        return Err(malformed(
            "not in canonical form (spacing, escapes or field order were changed)".into(),
        ));
    }
    Ok(data)
}

fn from_repr(repr: FileRepr) -> Result<StoreData, String> {
    let store_id = checked_hex(repr.store_id, 16, "store_id")?;
    let wrapping = Wrapping {
        source: KekSource::from_repr(repr.kek)?,
        kek_id: checked_hex(repr.kek_id, 8, "kek_id")?,
        nonce: fixed::<NONCE_LEN>(&repr.wrap_nonce, "wrap_nonce")?,
        wrapped: fixed::<WRAPPED_LEN>(&repr.wrapped_key, "wrapped_key")?.to_vec(),
    };
    let key_id = checked_hex(repr.key_id, 8, "key_id")?;
    let subkey_nonce = fixed::<NONCE_LEN>(&repr.subkey_nonce, "subkey_nonce")?;
    let subkey_seed = fixed::<WRAPPED_LEN>(&repr.subkey_seed, "subkey_seed")?.to_vec();
    let mac = fixed::<32>(&repr.mac, "mac")?;
    let mut entries = BTreeMap::new();
    for entry in repr.entries {
        let key = (entry.project.clone(), entry.name.clone());
        let label = format!("{}/{}", entry.project, entry.name);
        if entries.insert(key, entry_from_repr(entry)?).is_some() {
            return Err(format!("secret {label} appears twice"));
        }
    }
    let generation = repr.generation;
    Ok(StoreData {
        store_id,
        wrapping,
        key_id,
        subkey_nonce,
        subkey_seed,
        generation,
        entries,
        mac,
    })
}

fn entry_from_repr(e: EntryRepr) -> Result<Entry, String> {
    let label = format!("secret {}/{}", e.project, e.name);
    if e.version == 0 {
        return Err(format!("{label} has version 0; versions start at 1"));
    }
    let created = OffsetDateTime::parse(&e.created, &Rfc3339)
        .map_err(|err| format!("{label} has an invalid `created` timestamp: {err}"))?
        .to_offset(time::UtcOffset::UTC);
    let nonce = fixed::<NONCE_LEN>(&e.nonce, &format!("{label} nonce"))?;
    let sealed = crypto::hex_decode(&e.ciphertext)
        .filter(|c| c.len() > TAG_LEN)
        .ok_or_else(|| format!("{label} ciphertext is not lowercase hex of a sealed value"))?;
    let info = EntryInfo {
        project: e.project,
        name: e.name,
        version: e.version,
        created,
    };
    Ok(Entry {
        info,
        nonce,
        sealed,
    })
}

fn checked_hex(text: String, len: usize, field: &str) -> Result<String, String> {
    fixed_len(&text, len, field)?;
    Ok(text)
}

pub(crate) fn fixed<const N: usize>(text: &str, field: &str) -> Result<[u8; N], String> {
    let bytes = fixed_len(text, N, field)?;
    Ok(bytes.try_into().expect("length checked"))
}

fn fixed_len(text: &str, len: usize, field: &str) -> Result<Vec<u8>, String> {
    crypto::hex_decode(text)
        .filter(|b| b.len() == len)
        .ok_or_else(|| format!("{field} must be {} lowercase hex digits", len * 2))
}

/// Serialises the store to its canonical JSON text.
pub(crate) fn serialize(data: &StoreData) -> Vec<u8> {
    let entries = data.entries.values().map(|e| EntryRepr {
        project: e.info.project.clone(),
        name: e.info.name.clone(),
        version: e.info.version,
        created: e
            .info
            .created
            .format(&Rfc3339)
            .expect("UTC timestamps format as RFC 3339"),
        nonce: crypto::hex_encode(&e.nonce),
        ciphertext: crypto::hex_encode(&e.sealed),
    });
    let repr = FileRepr {
        format: FORMAT_VERSION,
        store_id: data.store_id.clone(),
        kek: data.wrapping.source.to_repr(),
        kek_id: data.wrapping.kek_id.clone(),
        wrap_nonce: crypto::hex_encode(&data.wrapping.nonce),
        wrapped_key: crypto::hex_encode(&data.wrapping.wrapped),
        key_id: data.key_id.clone(),
        subkey_nonce: crypto::hex_encode(&data.subkey_nonce),
        subkey_seed: crypto::hex_encode(&data.subkey_seed),
        generation: data.generation,
        entries: entries.collect(),
        mac: crypto::hex_encode(&data.mac),
    };
    let mut text = serde_json::to_vec_pretty(&repr).expect("store file serialises");
    text.push(b'\n');
    text
}

/// Takes the store's exclusive write lock; released when the file is dropped.
pub(crate) fn lock(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(StoreError::io("open the lock file", &path))?;
    file.lock().map_err(StoreError::io("lock", &path))?;
    Ok(file)
}

/// Atomically replaces the store file with `data`. An error after the
/// rename (the directory sync) is [`StoreError::Unfinished`]: the new file is
/// in place and the caller must treat the change as made.
pub(crate) fn replace(dir: &Path, data: &StoreData) -> Result<(), StoreError> {
    let target = dir.join(STORE_FILE);
    let temp = write_temp(dir, &serialize(data))?;
    let renamed = fs::rename(&temp, &target);
    if let Err(err) = renamed {
        let _ = fs::remove_file(&temp);
        return Err(StoreError::io("replace the store file", target)(err));
    }
    sync_dir(dir).map_err(StoreError::unfinished)
}

/// Publishes `data` as the store file only if none exists (`init`). An
/// error after the link is [`StoreError::Unfinished`], as for `replace`.
pub(crate) fn create(dir: &Path, data: &StoreData) -> Result<(), StoreError> {
    let target = dir.join(STORE_FILE);
    let temp = write_temp(dir, &serialize(data))?;
    // A hard link, unlike rename, fails rather than replace an existing file.
    let linked = fs::hard_link(&temp, &target);
    let _ = fs::remove_file(&temp);
    linked.map_err(|err| match err.kind() {
        ErrorKind::AlreadyExists => StoreError::AlreadyInitialised {
            dir: dir.into(),
            found: STORE_FILE,
        },
        _ => StoreError::io("create the store file", &target)(err),
    })?;
    sync_dir(dir).map_err(StoreError::unfinished)
}

/// Writes and fsyncs a new 0600 temp file in `dir`; returns its path.
fn write_temp(dir: &Path, text: &[u8]) -> Result<std::path::PathBuf, StoreError> {
    let suffix = crypto::hex_encode(&crypto::random::<8>()?);
    let path = dir.join(format!(".{STORE_FILE}.{suffix}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(StoreError::io("create a temporary file", &path))?;
    if let Err(err) = file.write_all(text).and_then(|()| file.sync_all()) {
        let _ = fs::remove_file(&path);
        return Err(StoreError::io("write the temporary file", path)(err));
    }
    Ok(path)
}

/// Makes a rename or new file in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io("sync the directory", dir))
}
