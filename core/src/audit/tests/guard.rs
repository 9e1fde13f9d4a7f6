//! The append guard: a log that no longer holds what its checkpoint vouches
//! for, a checkpoint another key made, a missing checkpoint, and a clock
//! behind the log are each refused before anything is written; verify notes
//! records whose time goes back.

use std::fs;

use time::Duration;

use super::rotation::set;
use super::vectors_gen::vector_key;
use super::*;

fn keyless(dir: &Path) -> AuditLog {
    AuditLog::open(dir).unwrap()
}

fn keyed(dir: &Path) -> AuditLog {
    keyless(dir).anchored(vector_key())
}

fn cut_last_lines(path: &Path, n: usize) {
    let text = fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    fs::write(path, lines[..lines.len() - n].join("\n") + "\n").unwrap();
}

fn refused(result: Result<Record, AuditError>) -> String {
    match result {
        Err(err) => {
            assert!(err.refuses_appends(), "{err}");
            err.to_string()
        }
        Ok(record) => panic!("appended {record:?}"),
    }
}

#[test]
fn a_truncated_log_is_refused_with_and_without_the_key() {
    let (dir, log) = new_log();
    for v in 0..4 {
        log.append(set(v)).unwrap();
    }
    cut_last_lines(log.path(), 2);
    let before = fs::read(log.path()).unwrap();
    assert!(refused(keyed(dir.path()).append(set(9))).contains("cut off"));
    assert!(refused(keyless(dir.path()).append_unsynced(set(9))).contains("cut off"));
    assert_eq!(fs::read(log.path()).unwrap(), before, "nothing written");
}

#[test]
fn a_rechained_log_is_refused_by_a_keyed_writer_even_when_padded() {
    let (dir, log) = new_log();
    for v in 0..4 {
        log.append(set(v)).unwrap();
    }
    // Drop record 2, re-chain the rest, pad with one more: the log is as
    // long as before, but record 4 no longer hashes to the checkpoint head.
    let path = log.path();
    let mut rebuilt = read_records(path).unwrap();
    rebuilt.remove(2);
    rebuilt.push(rebuilt[1].clone());
    for i in 1..rebuilt.len() {
        let (prev, r) = (rebuilt[i - 1].hash, &rebuilt[i]);
        rebuilt[i] = Record::seal(r.log, i as u64, TS, prev, r.event.clone()).unwrap();
    }
    let text: String = lines_of(&rebuilt)
        .iter()
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(path, text).unwrap();
    assert!(refused(keyed(dir.path()).append(set(9))).contains("rewritten"));
}

#[test]
fn a_checkpoint_made_with_another_key_is_never_resealed() {
    let (dir, log) = new_log();
    log.append(set(1)).unwrap();
    let cp_path = dir.path().join(CHECKPOINT_FILE);
    let before = fs::read(&cp_path).unwrap();
    let other = CheckpointKey::new(Box::new([7u8; 32]).into());
    let err = refused(keyless(dir.path()).anchored(other).append(set(2)));
    assert!(err.contains("not made with this store's key"), "{err}");
    assert_eq!(fs::read(&cp_path).unwrap(), before);
}

#[test]
fn a_missing_checkpoint_stops_keyed_writers_only() {
    let (dir, log) = new_log();
    log.append(set(1)).unwrap();
    fs::remove_file(dir.path().join(CHECKPOINT_FILE)).unwrap();
    assert!(refused(keyed(dir.path()).append(set(2))).contains("missing"));
    keyless(dir.path()).append_unsynced(set(3)).unwrap();
    // `runner audit head` writes a new one after verifying; then appends go on.
    keyed(dir.path()).checkpoint_now().unwrap();
    keyed(dir.path()).append(set(4)).unwrap();
}

#[test]
fn a_clock_behind_the_log_is_refused_and_small_steps_back_are_absorbed() {
    let (_dir, log) = new_log();
    let last = log.append(set(1)).unwrap();
    let err = log
        .guard(&last, last.ts - Duration::seconds(2))
        .unwrap_err();
    assert!(matches!(err, AuditError::ClockBehind { .. }), "{err}");
    assert!(err.refuses_appends());
    log.guard(&last, last.ts - Duration::milliseconds(500))
        .unwrap();
}

#[test]
fn verify_notes_records_whose_time_goes_back() {
    let mut records = numbered_chain(LogId::from_bytes([1; 16]), 4);
    for i in 1..records.len() {
        let back = match i {
            2 | 4 => TS - Duration::minutes(5),
            _ => TS,
        };
        let (prev, r) = (records[i - 1].hash, &records[i]);
        records[i] = Record::seal(r.log, r.seq, back, prev, r.event.clone()).unwrap();
    }
    let (_dir, path) = write_log(&lines_of(&records));
    let report = verify(&path).unwrap();
    assert!(report.is_intact());
    assert_eq!(
        report.time_back,
        Some(TimeBack {
            first_seq: 2,
            count: 2
        })
    );
}

#[test]
fn check_appendable_says_beforehand_and_writes_nothing() {
    let (dir, log) = new_log();
    log.append(set(1)).unwrap();
    log.check_appendable().unwrap();
    cut_last_lines(log.path(), 1);
    let before = fs::read(log.path()).unwrap();
    let err = keyed(dir.path()).check_appendable().unwrap_err();
    assert!(err.refuses_appends(), "{err}");
    assert_eq!(fs::read(log.path()).unwrap(), before);
}

#[test]
fn complete_init_anchors_only_a_lone_log_init_of_this_store() {
    let (dir, log) = new_log();
    let cp = dir.path().join(CHECKPOINT_FILE);
    fs::remove_file(&cp).unwrap();
    let other = AuditLog::open(dir.path())
        .unwrap()
        .anchored(super::vectors_gen::vector_key_for("store-2"));
    assert!(other.complete_init().is_err(), "another store's log.init");
    log.complete_init().unwrap();
    assert!(cp.exists());
    log.append(set(1)).unwrap();
    fs::remove_file(&cp).unwrap();
    let err = log.complete_init().unwrap_err().to_string();
    assert!(err.contains("more than its log.init"), "{err}");
    assert!(!cp.exists(), "a longer log is never re-anchored");
}

/// A process takes the end of a log it wrote last as it left it
/// (`remember.rs`), so what anyone else did since must still be seen:
/// records another writer appended are chained after, and a last record
/// rewritten in place (same size, its mtime put back) refuses the append.
#[test]
fn a_log_changed_since_this_process_wrote_it_is_read_again() {
    let (dir, log) = new_log();
    let writer = keyless(dir.path());
    writer.append_unsynced(set(1)).unwrap();
    writer.append_unsynced(set(2)).unwrap();
    // Another writer: the same file by another path, as another process
    // (which remembers nothing of this one) would append to it.
    let other = dir.path().with_extension("other");
    std::os::unix::fs::symlink(dir.path(), &other).unwrap();
    keyless(&other).append_unsynced(set(3)).unwrap();
    let after = writer.append_unsynced(set(4)).unwrap();
    let records = read_records(log.path()).unwrap();
    assert_eq!(after.prev, records[records.len() - 2].hash, "chained after");
    assert_eq!(after.seq, records.len() as u64 - 1);
    // Past the clock tick of that append, the last record is rewritten in
    // place to another of the same size.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let path = log.path();
    let mtime = fs::metadata(path).unwrap().modified().unwrap();
    let text = fs::read_to_string(path).unwrap();
    let at = text.trim_end().rfind("\"version\":4").unwrap();
    fs::write(
        path,
        format!("{}\"version\":5{}", &text[..at], &text[at + 11..]),
    )
    .unwrap();
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let error = writer.append_unsynced(set(6)).unwrap_err();
    assert!(error.to_string().contains("was modified"), "{error}");
}
