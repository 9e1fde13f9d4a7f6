//! The newest recorded store generation, read from the end of the log only.
//!
//! Every `store.write` record carries the store's new generation, and every
//! `segment.open` carries the log's store id (the `store` of `log.init`) and
//! the generation of the last `store.write` for that store before it (0:
//! none yet; a store's generation is 0 only before its first write). So the
//! newest recorded generation is decided by the active segment alone: the
//! last `store.write` for the store in it, or what its `segment.open`
//! carries, whichever is higher. Rotation computes the carried value for the
//! segment it seals the same way, reading at most that segment backwards.
//!
//! Guarantees: [`recorded_generation`] reads only the newest segment file
//! whose first record decides (the active one, unless it is missing, has no
//! complete first line, or its `segment.open` has no valid MAC); every line
//! it relies on is parsed strictly and its hash checked, so a modified
//! `store.write` or `segment.open` is an error, never a silently lower
//! generation; and only records whose MAC verifies with the store's key
//! count (`mac.rs`): a well-chained `store.write` appended by someone
//! without the key is passed over, so it cannot lower the generation. A log
//! that names another store, or whose `log.init` has no valid MAC for this
//! store, is refused.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::backward::BackwardChunks;
use super::checkpoint::CheckpointKey;
use super::mac::{self, RecordKey};
use super::record::{Event, MAX_LINE_BYTES, Record};
use super::segments;

/// Bytes read per step backwards.
const BLOCK: u64 = 1024 * 1024;
/// The canonical spelling of a store write's kind (exact: every record has
/// one spelling), so only lines holding it are parsed.
const NEEDLE: &[u8] = br#""kind":"store.write""#;

/// Why a segment file could not be read for its store writes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ScanError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Damaged(String),
}

/// A file of the log could not be read for the store's generation.
#[derive(Debug, thiserror::Error)]
#[error("{}: {reason}", .path.display())]
pub struct Unreadable {
    pub path: PathBuf,
    pub reason: String,
}

/// The newest generation the log whose active segment is `active` recorded,
/// with a valid MAC, for the store `key` comes from; `None` if none (or no
/// log). Reads the active segment, and an older one only when the newer
/// ones cannot decide (see the module doc). A log that belongs to another
/// store, or whose start is not authenticated by this store's key, is an
/// error (the store is not opened).
pub fn recorded_generation(active: &Path, key: &CheckpointKey) -> Result<Option<u64>, Unreadable> {
    let store = key.store_id().unwrap_or_default();
    let files = segments::segment_files(active).map_err(|e| Unreadable {
        path: active.into(),
        reason: e.to_string(),
    })?;
    let mut undecided = None;
    for path in files.iter().rev() {
        let decided = in_segment(path, store, key.record()).map_err(|e| Unreadable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        match decided {
            Decided::Newest(generation) => return Ok(generation),
            Decided::Unauthenticated => undecided = Some(path),
            Decided::NoRecord => {}
        }
    }
    // Only files without a single complete record: an interrupted init
    // (nothing recorded), unless a checkpoint says the log held records.
    let checkpoint = active.with_file_name(super::CHECKPOINT_FILE);
    match undecided {
        None if files.is_empty() || !checkpoint.exists() => Ok(None),
        None => Err(Unreadable {
            path: active.into(),
            reason: "the log holds no record, but its checkpoint says it held some: it was \
                     emptied"
                .into(),
        }),
        Some(path) => Err(Unreadable {
            path: path.clone(),
            reason: "no segment start is authenticated by this store's key".into(),
        }),
    }
}

/// What one segment file says about the newest generation.
enum Decided {
    /// This is the newest one (`None`: nothing recorded).
    Newest(Option<u64>),
    /// Its start is not authenticated: look in the file before it.
    Unauthenticated,
    /// It holds no complete record (or is missing): look before it.
    NoRecord,
}

/// What one segment file decides (see [`Decided`]).
fn in_segment(path: &Path, store: &str, key: &RecordKey) -> Result<Decided, ScanError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Decided::NoRecord),
        Err(e) => return Err(e.into()),
    };
    let len = file.metadata()?.len();
    let last = last_store_write(&file, len, store, Some(key))?;
    let Some(first) = first_record(&file)? else {
        return Ok(last.map_or(Decided::NoRecord, |g| Decided::Newest(Some(g))));
    };
    if let Some((owner, _)) = carried(&first).filter(|(owner, _)| *owner != store) {
        return Err(ScanError::Damaged(format!(
            "the log belongs to store {owner}, but this store file is store {store}: a store \
             from elsewhere was put in place; refusing it"
        )));
    }
    let authentic = mac::authentic(key, &first) == Some(true);
    Ok(match (&first.event, authentic) {
        // The start of the log: nothing before it.
        (Event::LogInit { .. }, true) => Decided::Newest(last),
        (Event::LogInit { .. }, false) => {
            return Err(ScanError::Damaged(format!(
                "its log.init (the log's binding to store {store}) has no valid MAC for this \
                 store's key: the log was not started with this store, or was forged"
            )));
        }
        (Event::SegmentOpen { generation, .. }, true) => {
            Decided::Newest(last.max(Some(*generation).filter(|g| *g > 0)))
        }
        // An unauthenticated start: only an authenticated write decides.
        _ => last.map_or(Decided::Unauthenticated, |g| Decided::Newest(Some(g))),
    })
}

/// The store id and generation a segment's first record carries into it
/// (`log.init`: the log's store, nothing recorded before it).
pub(crate) fn carried(first: &Record) -> Option<(&str, u64)> {
    match &first.event {
        Event::LogInit { store } => Some((store, 0)),
        Event::SegmentOpen {
            store, generation, ..
        } => Some((store, *generation)),
        _ => None,
    }
}

/// The generation in the last `store.write` for `store` within the first
/// `len` bytes of `file`, reading backwards and stopping at it. With `key`,
/// only a record whose MAC verifies counts (forged ones are passed over).
pub(crate) fn last_store_write(
    file: &File,
    len: u64,
    store: &str,
    key: Option<&RecordKey>,
) -> Result<Option<u64>, ScanError> {
    let mut chunks = BackwardChunks::new(file, len, BLOCK);
    let finder = memchr::memmem::Finder::new(NEEDLE);
    while let Some(chunk) = chunks.next_chunk().map_err(ScanError::Damaged)? {
        // Forward search is the vectorised one; hits are rare, so collect
        // them and take the newest first.
        let hits: Vec<usize> = finder.find_iter(chunk).collect();
        for &hit in hits.iter().rev() {
            let start = memchr::memrchr(b'\n', &chunk[..hit]).map_or(0, |p| p + 1);
            let end = hit + memchr::memchr(b'\n', &chunk[hit..]).unwrap_or(chunk.len() - hit);
            let record = checked(&chunk[start..end])?;
            if key.is_some_and(|key| mac::authentic(key, &record) != Some(true)) {
                continue;
            }
            match record.event {
                Event::StoreWrite {
                    store: ref written,
                    generation,
                } if written == store => return Ok(Some(generation)),
                _ => {}
            }
        }
    }
    Ok(None)
}

/// A segment file's first record, parsed strictly with its hash checked;
/// `None` if the file holds no complete line.
pub(crate) fn first_record(file: &File) -> Result<Option<Record>, ScanError> {
    let mut buf = vec![0u8; MAX_LINE_BYTES + 1];
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], n as u64)? {
            0 => break,
            read => n += read,
        }
        if memchr::memchr(b'\n', &buf[..n]).is_some() {
            break;
        }
    }
    match memchr::memchr(b'\n', &buf[..n]) {
        Some(end) => checked(&buf[..end]).map(Some),
        None => Ok(None),
    }
}

/// Parses a line strictly and checks its hash.
fn checked(line: &[u8]) -> Result<Record, ScanError> {
    let record = Record::parse_line(line).map_err(ScanError::Damaged)?;
    match record.compute_hash() == Some(record.hash) {
        true => Ok(record),
        false => Err(ScanError::Damaged(format!(
            "record seq {} was modified",
            record.seq
        ))),
    }
}
