//! Rollback detection: the store's generation against the audit log.
//!
//! Every store write is followed by a `store.write` audit record carrying the
//! new generation. A store file whose generation is below the newest recorded
//! one is an older copy put back, and is refused. Records are appended after
//! the write, so the log can lag the store (a crash in between, or two
//! writers finishing out of order) but never lead it: the check has no false
//! alarms.
//!
//! Only the active segment of the log is read, backwards from its end: its
//! last `store.write` for this store, or else the generation its
//! `segment.open` carries from the segments before it (see
//! `crate::audit::recorded_generation`). So the cost of a store open is
//! bounded by the segment size, not by the age of the log.

use std::path::Path;

use crate::audit::{AUDIT_FILE, CheckpointKey, recorded_generation};

use super::{AskPassphrase, STORE_FILE, Store, StoreError, crypto, format};

/// The newest generation the audit log recorded for `store`, with a valid
/// MAC under its key (a record anyone can append does not count), if any.
pub(crate) fn recorded(store: &Store) -> Result<Option<u64>, StoreError> {
    let key = CheckpointKey::from_store(store);
    recorded_generation(&store.dir.join(AUDIT_FILE), &key).map_err(|e| {
        StoreError::AuditUnreadable {
            path: e.path,
            reason: e.reason,
        }
    })
}

/// Refuses the store if the audit log recorded a newer generation for it,
/// belongs to another store, or was not started with this store's key.
/// A state dir without an audit log has nothing to compare with.
pub(crate) fn check(store: &Store) -> Result<(), StoreError> {
    let (dir, generation) = (&store.dir, store.generation());
    let Some(recorded) = recorded(store)? else {
        return Ok(());
    };
    match generation < recorded {
        true => Err(StoreError::RolledBack {
            path: dir.join(STORE_FILE),
            found: generation,
            recorded,
        }),
        false => Ok(()),
    }
}

/// Accepting an older store file restored on purpose (`runner accept-restore`).
impl Store {
    /// Opens a store file that may be an older copy put back on purpose (a
    /// restore from a backup): key and MAC are checked as always, a rollback
    /// is not refused but returned as the newest generation the audit log
    /// recorded, when the file is below it.
    pub fn open_restored(
        dir: &Path,
        ask: AskPassphrase<'_>,
    ) -> Result<(Store, Option<u64>), StoreError> {
        let store = Store::open_unchecked(dir, ask)?;
        let recorded = recorded(&store)?;
        let behind = recorded.filter(|recorded| store.generation() < *recorded);
        Ok((store, behind))
    }

    /// Re-stamps an accepted restore above `recorded`, the newest generation
    /// the audit log holds, so the file is no longer a rollback. Returns
    /// the new generation (to be recorded as `store.write`).
    pub fn accept_restore(&mut self, recorded: u64) -> Result<u64, StoreError> {
        self.file_only("accept-restore")?;
        let _lock = format::lock(&self.dir)?;
        let mut data = self.reread()?;
        data.generation = data.generation.max(recorded) + 1;
        data.mac = crypto::list_mac(&self.key, &data.mac_input());
        format::replace(&self.dir, &data)?;
        self.data = data;
        Ok(self.data.generation)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    use super::super::Store;
    use super::super::tests::{project, secret, value};
    use super::*;
    use crate::audit::{AuditLog, Event, Record, read_records, segment_files};

    fn written(store: &str, generation: u64) -> Event {
        Event::StoreWrite {
            store: store.into(),
            generation,
        }
    }

    /// The store's log, as `runner init` makes it (log.init with a MAC,
    /// first checkpoint), rotating at `limit` bytes.
    fn log_of(store: &Store, limit: u64) -> AuditLog {
        AuditLog::create_anchored(store.dir(), CheckpointKey::from_store(store))
            .unwrap()
            .with_segment_limit(limit)
    }

    /// Appends `n` records that are not store writes of the log's store:
    /// another store's writes, with higher generations that must not count.
    fn fill(log: &AuditLog, n: u64) {
        for i in 0..n {
            log.append(written("other-store", 1000 + i)).unwrap();
        }
    }

    /// The sealed segment files of the log in `dir`.
    fn sealed(dir: &Path) -> Vec<PathBuf> {
        let mut files = segment_files(&dir.join(AUDIT_FILE)).unwrap();
        files.pop();
        files
    }

    /// A store written three times (generations 1-3, each audited as
    /// `secret set` does), then rotated past: the active segment holds no
    /// store.write for it. Returns the store file as it was at generation 1.
    fn rotated_past_writes(dir: &Path) -> (Store, Vec<u8>) {
        let mut store = Store::init(dir).unwrap();
        let log = log_of(&store, 1024);
        let mut old = Vec::new();
        for v in 0..3 {
            let name = secret(&format!("s{v}"));
            store.set(&project("p"), &name, &value(b"v")).unwrap();
            log.append(written(store.store_id(), store.generation()))
                .unwrap();
            if v == 0 {
                old = fs::read(dir.join(STORE_FILE)).unwrap();
            }
            fill(&log, 6);
        }
        fill(&log, 8);
        assert!(sealed(dir).len() >= 3, "{:?}", sealed(dir));
        let all = read_records(&dir.join(AUDIT_FILE)).unwrap();
        let active_start = all
            .iter()
            .rposition(|r| matches!(r.event, Event::SegmentOpen { .. }))
            .unwrap();
        let ours = |r: &&crate::audit::Record| matches!(&r.event, Event::StoreWrite { store: s, .. } if s == store.store_id());
        assert_eq!(all[active_start..].iter().filter(ours).count(), 0);
        (store, old)
    }

    fn assert_rolled_back(dir: &Path, old: &[u8]) {
        let current = fs::read(dir.join(STORE_FILE)).unwrap();
        Store::open(dir).unwrap();
        fs::write(dir.join(STORE_FILE), old).unwrap();
        let err = Store::open(dir).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::RolledBack {
                    found: 1,
                    recorded: 3,
                    ..
                }
            ),
            "{err}"
        );
        fs::write(dir.join(STORE_FILE), current).unwrap();
        Store::open(dir).unwrap();
    }

    #[test]
    fn a_rollback_is_refused_when_the_newest_write_is_in_a_sealed_segment() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, old) = rotated_past_writes(dir.path());
        assert_rolled_back(dir.path(), &old);
    }

    #[test]
    fn the_check_reads_only_the_active_segment() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, old) = rotated_past_writes(dir.path());
        // Sealed segments replaced by garbage of the same length, which
        // holds the needle: reading any of them would fail the check.
        for path in sealed(dir.path()) {
            let len = fs::metadata(&path).unwrap().len() as usize;
            let junk = b"{\"kind\":\"store.write\",\xff}\n".repeat(len);
            fs::write(&path, &junk[..len]).unwrap();
        }
        assert_rolled_back(dir.path(), &old);
    }

    /// The well-chained record someone without the key can append: the
    /// public hash recomputed, no MAC.
    fn forge_after_last(dir: &Path, event: Event) {
        let path = dir.join(AUDIT_FILE);
        let last = read_records(&path).unwrap().pop().unwrap();
        let forged = Record::seal(last.log, last.seq + 1, last.ts, last.hash, event).unwrap();
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str(&forged.to_line().unwrap());
        text.push('\n');
        fs::write(&path, text).unwrap();
    }

    #[test]
    fn a_forged_store_write_does_not_lower_the_recorded_generation() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::init(dir.path()).unwrap();
        let log = log_of(&store, u64::MAX);
        let old = fs::read(dir.path().join(STORE_FILE)).unwrap();
        for name in ["a", "b"] {
            store
                .set(&project("p"), &secret(name), &value(b"v"))
                .unwrap();
            log.append(written(store.store_id(), store.generation()))
                .unwrap();
        }
        fs::write(dir.path().join(STORE_FILE), &old).unwrap();
        forge_after_last(dir.path(), written(store.store_id(), 0));
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::RolledBack {
                    found: 0,
                    recorded: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_store_from_elsewhere_is_refused_naming_both_ids() {
        let (ours, theirs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store = Store::init(ours.path()).unwrap();
        log_of(&store, u64::MAX);
        let other = Store::init(theirs.path()).unwrap();
        for file in [STORE_FILE, super::super::KEY_FILE] {
            fs::copy(theirs.path().join(file), ours.path().join(file)).unwrap();
        }
        let err = Store::open(ours.path()).unwrap_err().to_string();
        assert!(err.contains(store.store_id()), "{err}");
        assert!(err.contains(other.store_id()), "{err}");
    }

    #[test]
    fn a_log_start_without_this_stores_mac_is_refused() {
        // A log begun by someone without the key (log.init with no MAC)
        // vouches for nothing: the store is not opened against it.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        let log = AuditLog::create(dir.path(), store.store_id()).unwrap();
        log.append(written(store.store_id(), 7)).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::AuditUnreadable { .. }), "{err}");
        assert!(err.to_string().contains("log.init"), "{err}");
    }

    #[test]
    fn no_audit_log_means_nothing_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(dir.path()).unwrap();
        check(&store).unwrap();
    }
}
