//! Cheap change detection for the files a running task's answers depend on
//! (tasks.toml, the store file).
//!
//! A [`FileStamp`] is what one `stat` says about a file: device, inode,
//! size, modification and status-change times (nanoseconds). The writers of
//! both files replace them by rename (a new inode), a person's editor either
//! renames or rewrites (a new mtime or size), and `chmod`/`chown` move the
//! ctime: so an unchanged stamp means the file read last is still the one
//! in place, and the broker re-reads and re-checks a file only when its
//! stamp moved. A file that cannot be stat'ed has no stamp, which never
//! equals a previous one.
//!
//! One gap remains for a file rewritten in place: a second write of the
//! same size within the file system's timestamp granularity after the read
//! leaves the stamp as it was. [`FileStamp::is_recent`] lets a caller not
//! trust the stamp of a file modified within the last second (git's "racily
//! clean" rule).

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What `stat` (following symlinks) says about a file's identity and state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    /// The stamp of the file at `path` now; `None` if it cannot be stat'ed.
    pub fn of(path: &Path) -> Option<FileStamp> {
        std::fs::metadata(path)
            .ok()
            .map(|meta| FileStamp::from_meta(&meta))
    }

    /// Whether the file was modified (or its status changed) less than a
    /// second ago, or in the future: a same-size rewrite could still land
    /// in the same times. The ctime counts too: unlike the mtime, no user
    /// can set it back after a rewrite.
    pub(crate) fn is_recent(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let secs = |(s, ns): (i64, i64)| s as f64 + ns as f64 / 1e9;
        now - secs(self.mtime).max(secs(self.ctime)) < 1.0
    }

    /// The stamp of a file already opened (its `fstat`).
    pub(crate) fn from_meta(meta: &Metadata) -> FileStamp {
        FileStamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_with_rewrite_rename_and_chmod() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "a").unwrap();
        let first = FileStamp::of(&file).unwrap();
        assert_eq!(FileStamp::of(&file), Some(first));
        std::fs::write(&file, "ab").unwrap();
        let second = FileStamp::of(&file).unwrap();
        assert_ne!(second, first);
        let other = dir.path().join("g");
        std::fs::write(&other, "ab").unwrap();
        std::fs::rename(&other, &file).unwrap();
        let third = FileStamp::of(&file).unwrap();
        assert_ne!(third, second);
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_ne!(FileStamp::of(&file), Some(third));
        std::fs::remove_file(&file).unwrap();
        assert_eq!(FileStamp::of(&file), None);
    }

    /// The price of the freshness check when nothing changed: one stamp of
    /// tasks.toml and one of the store file per resolution. Run with
    /// `cargo test -p scopehold-core --lib stamp_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn stamp_cost() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tasks.toml");
        std::fs::write(&file, "[projects.a]\n").unwrap();
        let first = FileStamp::of(&file);
        let rounds = 200_000u32;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            assert_eq!(std::hint::black_box(FileStamp::of(&file)), first);
        }
        let each = start.elapsed() / rounds;
        println!(
            "FileStamp::of: {each:?} each, {:.0}/s",
            1.0 / each.as_secs_f64()
        );
    }
}
