//! The files of a rotated log: sealed segments beside the active one.
//!
//! The active segment is `audit.jsonl`. A sealed segment is named after the
//! seq of its first record, `audit.<first seq as 20 digits>.jsonl`, so that
//! names sort in chain order and say which records a file must hold. Only
//! names of exactly that shape are segments; anything else in the directory
//! (the rotation's temp file `audit.jsonl.next`, editor backups) is not part
//! of the log.
//!
//! Guarantees: [`Layout::files`] lists every segment once, in chain order,
//! even while a rotation is half done (the active file then may be a second
//! name of the newest sealed one: it is listed once).

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::record::MAX_LINE_BYTES;

/// Digits in a sealed segment's name: every u64 fits, and names sort by seq.
const DIGITS: usize = 20;

/// `audit.<first_seq>.jsonl` for the log whose active file is `active`.
pub fn sealed_path(active: &Path, first_seq: u64) -> PathBuf {
    let (stem, ext) = stem_ext(active);
    active.with_file_name(format!("{stem}.{first_seq:0DIGITS$}{ext}"))
}

/// The rotation's temp file for the next active segment.
pub(crate) fn next_path(active: &Path) -> PathBuf {
    let name = file_name(active);
    active.with_file_name(format!("{name}.next"))
}

/// The file name alone, for messages.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `("audit", ".jsonl")` for `audit.jsonl`.
fn stem_ext(active: &Path) -> (String, String) {
    let name = file_name(active);
    match name.rsplit_once('.') {
        Some((stem, ext)) => (stem.to_owned(), format!(".{ext}")),
        None => (name, String::new()),
    }
}

/// The first seq a sealed segment's name announces, if `name` is one.
fn parse_sealed(name: &str, stem: &str, ext: &str) -> Option<u64> {
    let digits = name
        .strip_prefix(stem)?
        .strip_prefix('.')?
        .strip_suffix(ext)?;
    let canonical = digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit());
    canonical.then(|| digits.parse().ok()).flatten()
}

/// One sealed segment file.
#[derive(Debug, Clone)]
pub(crate) struct Sealed {
    pub path: PathBuf,
    /// The seq its name announces for its first record.
    pub first_seq: u64,
}

/// Every file of a log.
#[derive(Debug)]
pub(crate) struct Layout {
    /// Sorted by name, which is by announced first seq.
    pub sealed: Vec<Sealed>,
    /// The active file, if it exists.
    pub active: Option<PathBuf>,
    /// The active file is the newest sealed one under a second name: a
    /// rotation stopped between sealing and putting the new segment in place.
    pub active_is_sealed: bool,
}

impl Layout {
    /// Lists the segments beside `active` (which need not exist).
    pub fn of(active: &Path) -> io::Result<Layout> {
        let dir = active.parent().unwrap_or(Path::new("."));
        let (stem, ext) = stem_ext(active);
        let mut sealed = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(first_seq) = parse_sealed(&name.to_string_lossy(), &stem, &ext) else {
                continue;
            };
            sealed.push(Sealed {
                path: entry.path(),
                first_seq,
            });
        }
        sealed.sort_by_key(|s| s.first_seq);
        let active_meta = match std::fs::metadata(active) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let active_is_sealed = match (&active_meta, sealed.last()) {
            (Some(meta), Some(last)) => same_file(meta, &std::fs::metadata(&last.path)?),
            _ => false,
        };
        Ok(Layout {
            sealed,
            active: active_meta.map(|_| active.to_owned()),
            active_is_sealed,
        })
    }

    /// Every file to read, in chain order, each once.
    pub fn files(&self) -> Vec<PathBuf> {
        let sealed = self.sealed.iter().map(|s| s.path.clone());
        let active = self.active.clone().filter(|_| !self.active_is_sealed);
        sealed.chain(active).collect()
    }
}

/// A consistent view of a log's files: taken under a shared lock on the
/// active file, so no rotation or append is half done while the files are
/// listed and opened. Sealed segments never change; the active file is read
/// only up to its length at that moment. So a reader sees one set of
/// segments even while a rotation runs beside it.
pub(crate) struct Snapshot {
    pub layout: Layout,
    /// One handle per [`Layout::files`] entry, opened under the lock.
    pub handles: Vec<File>,
    /// The active file's length under the lock.
    pub active_len: Option<u64>,
}

impl Snapshot {
    pub fn take(active: &Path) -> io::Result<Snapshot> {
        loop {
            let lock = match File::open(active) {
                Ok(file) => Some(file),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            };
            if let Some(file) = &lock {
                file.lock_shared()?;
                let locked = file.metadata()?;
                match std::fs::metadata(active) {
                    Ok(named) if same_file(&named, &locked) => {}
                    // Rotated away (or removed) while we waited.
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
            }
            let layout = Layout::of(active)?;
            let handles = layout
                .files()
                .iter()
                .map(File::open)
                .collect::<io::Result<Vec<File>>>()?;
            let active_len = match &lock {
                Some(file) => Some(file.metadata()?.len()),
                None => None,
            };
            return Ok(Snapshot {
                layout,
                handles,
                active_len,
            });
        }
    }
}

/// The log's files in chain order (sealed segments, then the active one).
/// For readers that look for the newest records of a kind: iterate it
/// backwards.
pub fn segment_files(active: &Path) -> io::Result<Vec<PathBuf>> {
    Ok(Layout::of(active)?.files())
}

/// Two metadata of the same inode.
pub(crate) fn same_file(a: &Metadata, b: &Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// The seq of a file's first line, if it has one that says so. Used only to
/// tell a missing segment from an extra one, so no strict parse.
pub(crate) fn first_seq(path: &Path) -> Option<u64> {
    #[derive(Deserialize)]
    struct SeqOnly {
        seq: u64,
    }
    let file = File::open(path).ok()?;
    let mut buf = vec![0u8; MAX_LINE_BYTES + 1];
    let n = file.read_at(&mut buf, 0).ok()?;
    let end = buf[..n].iter().position(|&b| b == b'\n')?;
    serde_json::from_slice::<SeqOnly>(&buf[..end])
        .ok()
        .map(|r| r.seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_names_round_trip_and_sort_by_seq() {
        let active = Path::new("/s/audit.jsonl");
        let path = sealed_path(active, 42);
        assert_eq!(path, Path::new("/s/audit.00000000000000000042.jsonl"));
        let name = file_name(&path);
        assert_eq!(parse_sealed(&name, "audit", ".jsonl"), Some(42));
        let max = file_name(&sealed_path(active, u64::MAX));
        assert_eq!(parse_sealed(&max, "audit", ".jsonl"), Some(u64::MAX));
        assert!(file_name(&sealed_path(active, 9)) < file_name(&sealed_path(active, 10)));
    }

    #[test]
    fn other_names_are_not_segments() {
        for name in [
            "audit.jsonl",
            "audit.jsonl.next",
            "audit.42.jsonl",
            "audit.0000000000000000004x.jsonl",
            "audit.000000000000000000042.jsonl",
            "audit.+0000000000000000042.jsonl",
            "audit.00000000000000000042.jsonl~",
            "audix.00000000000000000042.jsonl",
        ] {
            assert_eq!(parse_sealed(name, "audit", ".jsonl"), None, "{name}");
        }
    }
}
