//! Rotation: segments with open/close records, one chain across them, the
//! crash points of a rotation, and appenders racing a rotation.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;

use super::vectors_gen::vector_key;
use super::*;

pub(super) fn set(version: u32) -> Event {
    Event::SecretSet {
        project: project("p"),
        secret: secret("s"),
        version,
    }
}

/// Sealed segment files beside the log, sorted.
pub(super) fn sealed_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = segment_files(&dir.join(AUDIT_FILE)).unwrap();
    files.retain(|p| !p.ends_with(AUDIT_FILE));
    files
}

pub(super) fn lines_in(path: &Path) -> Vec<Record> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| Record::parse_line(l.as_bytes()).unwrap())
        .collect()
}

fn assert_intact(dir: &Path) -> VerifyReport {
    let report = verify(&dir.join(AUDIT_FILE)).unwrap();
    assert!(report.is_intact(), "{:?}", report.first_problem);
    report
}

#[test]
fn size_limit_rotates_into_segments_with_one_chain() {
    let (dir, log) = new_log();
    let log = log.with_segment_limit(1000);
    for v in 0..40 {
        log.append(set(v)).unwrap();
    }
    let report = assert_intact(dir.path());
    let sealed = sealed_files(dir.path());
    assert!(sealed.len() >= 5, "{sealed:?}");
    assert_eq!(report.segments, sealed.len() as u64 + 1);
    for (n, path) in sealed.iter().enumerate() {
        let records = lines_in(path);
        let (first, last) = (&records[0], records.last().unwrap());
        assert_eq!(
            *path,
            sealed_path(log.path(), first.seq),
            "named by first seq"
        );
        let opens =
            matches!(first.event, Event::SegmentOpen { segment, .. } if segment == n as u64);
        assert!(opens || (n == 0 && first.seq == 0), "{first:?}");
        let count = records.len() as u64;
        assert_eq!(
            last.event,
            Event::SegmentClose {
                segment: n as u64,
                records: count
            }
        );
    }
    let active = lines_in(log.path());
    assert!(matches!(active[0].event, Event::SegmentOpen { .. }));
    // Every record of every segment, in order, once.
    let all = read_records(log.path()).unwrap();
    let seqs: Vec<u64> = all.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..all.len() as u64).collect::<Vec<_>>());
    let versions: Vec<u32> = all
        .iter()
        .filter_map(|r| match r.event {
            Event::SecretSet { version, .. } => Some(version),
            _ => None,
        })
        .collect();
    assert_eq!(versions, (0..40).collect::<Vec<_>>());
}

#[test]
fn explicit_rotation_seals_and_chains() {
    let (dir, log) = new_log();
    let log = log.anchored(vector_key());
    log.append(set(1)).unwrap();
    let rotation = log.rotate().unwrap();
    assert_eq!(rotation.sealed_range(), (0, 0, 2));
    assert_eq!(rotation.sealed, sealed_path(log.path(), 0));
    assert_eq!(rotation.open.prev, rotation.close.hash);
    assert_eq!(rotation.open.event, open(1));
    assert_eq!(lines_in(log.path()), vec![rotation.open.clone()]);
    // A second rotation at once seals a segment holding only open + close.
    let again = log.rotate().unwrap();
    assert_eq!(again.sealed_range(), (1, 3, 4));
    let next = log.append(set(2)).unwrap();
    assert_eq!((next.seq, next.prev), (6, again.open.hash));
    assert_intact(dir.path());
    let cp = Checkpoint::load(&dir.path().join(CHECKPOINT_FILE))
        .unwrap()
        .unwrap();
    assert_eq!((cp.size, cp.head), (7, next.hash));
}

#[test]
fn an_anchor_from_before_rotations_verifies_after_them() {
    let (dir, log) = new_log();
    let log = log.anchored(vector_key()).with_segment_limit(600);
    for v in 0..5 {
        log.append(set(v)).unwrap();
    }
    let before = Checkpoint::load(&dir.path().join(CHECKPOINT_FILE))
        .unwrap()
        .unwrap();
    for v in 5..30 {
        log.append(set(v)).unwrap();
    }
    log.rotate().unwrap();
    assert!(sealed_files(dir.path()).len() >= 3);
    let checkpoints = vec![
        (AnchorSource::Exported, before),
        (
            AnchorSource::Local,
            Checkpoint::load(&dir.path().join(CHECKPOINT_FILE))
                .unwrap()
                .unwrap(),
        ),
    ];
    let result = verify_anchored(log.path(), checkpoints, Some(&vector_key())).unwrap();
    assert_eq!(result.verdict, Verdict::Intact);
    assert!(matches!(
        result.checks[0].outcome,
        AnchorOutcome::Extends { .. }
    ));
    assert_eq!(result.checks[1].outcome, AnchorOutcome::Matches);
}

/// A log rotated once, then put back into the state a crash after the
/// close record left: the active file ends with `segment.close`, the
/// sealed name and the new segment do not exist yet.
fn interrupted_after_close() -> (tempfile::TempDir, AuditLog, Rotation) {
    let (dir, log) = new_log();
    log.append(set(1)).unwrap();
    let checkpoint = saved_checkpoint(log.path());
    let rotation = log.rotate().unwrap();
    fs::rename(&rotation.sealed, log.path()).unwrap();
    checkpoint.restore();
    (dir, log, rotation)
}

/// The checkpoint file beside a log, as it is now.
pub(super) struct SavedCheckpoint(PathBuf, Vec<u8>);

pub(super) fn saved_checkpoint(log: &Path) -> SavedCheckpoint {
    let path = log.with_file_name(CHECKPOINT_FILE);
    let bytes = fs::read(&path).unwrap();
    SavedCheckpoint(path, bytes)
}

impl SavedCheckpoint {
    /// Puts it back: a crash before the checkpoint moved.
    pub(super) fn restore(&self) {
        fs::write(&self.0, &self.1).unwrap();
    }
}

pub(super) fn problem(dir: &Path) -> Problem {
    first_problem(&dir.join(AUDIT_FILE))
}

#[test]
fn crash_after_close_is_reported_and_finished_by_the_next_append() {
    let (dir, log, rotation) = interrupted_after_close();
    let p = problem(dir.path());
    assert_eq!(p.kind, ProblemKind::RotationInterrupted);
    assert!(!p.kind.is_tampering());
    assert_eq!((p.file.as_str(), p.line), (AUDIT_FILE, 4));
    let result = verify_anchored(log.path(), vec![], None).unwrap();
    assert_eq!(result.verdict, Verdict::Torn, "not invalid");
    // A stale, partly written next segment from the crash does not matter.
    fs::write(dir.path().join("audit.jsonl.next"), b"{\"v\":1,\"lo").unwrap();
    let record = log.append(set(2)).unwrap();
    assert_eq!(record.seq, rotation.open.seq + 1);
    assert_intact(dir.path());
    assert!(rotation.sealed.exists());
    assert!(!dir.path().join("audit.jsonl.next").exists());
    assert!(matches!(
        lines_in(log.path())[0].event,
        Event::SegmentOpen { segment: 1, .. }
    ));
}

#[test]
fn crash_after_sealing_before_the_new_segment_is_finished() {
    // The sealed name exists and is the active file under a second name.
    let (dir, log, rotation) = interrupted_after_close();
    fs::hard_link(log.path(), &rotation.sealed).unwrap();
    let p = problem(dir.path());
    assert_eq!(
        (p.kind.clone(), p.line),
        (ProblemKind::RotationInterrupted, 0)
    );
    let report = verify(log.path()).unwrap();
    assert_eq!(report.records, 3, "the shared file is read once");
    log.rotate().unwrap();
    let all = read_records(log.path()).unwrap();
    assert_eq!(all.len(), 6, "init, set, close, open, close, open: {all:?}");
    assert_intact(dir.path());
}

#[test]
fn crash_while_writing_the_close_record_is_a_torn_tail() {
    let (dir, log) = new_log();
    log.append(set(1)).unwrap();
    let checkpoint = saved_checkpoint(log.path());
    let rotation = log.rotate().unwrap();
    checkpoint.restore();
    // Back to the state before the rotation, with half a close record.
    let line = rotation.close.to_line().unwrap();
    let sealed = fs::read_to_string(&rotation.sealed).unwrap();
    let torn = sealed
        .strip_suffix(&format!("{line}\n"))
        .unwrap()
        .to_owned()
        + &line[..30];
    fs::remove_file(&rotation.sealed).unwrap();
    fs::write(log.path(), torn).unwrap();
    assert!(matches!(
        problem(dir.path()).kind,
        ProblemKind::TornTail { .. }
    ));
    log.rotate().unwrap();
    assert_intact(dir.path());
    let first = lines_in(&sealed_files(dir.path())[0]);
    assert!(
        matches!(first[2].event, Event::LogRecover { .. }),
        "{first:?}"
    );
}

#[test]
fn a_new_log_is_not_created_beside_an_earlier_logs_segments() {
    let (dir, log) = new_log();
    let rotation = log.rotate().unwrap();
    fs::remove_file(log.path()).unwrap();
    let err = AuditLog::create(dir.path(), "store-2").unwrap_err();
    assert!(
        matches!(&err, AuditError::AlreadyExists { path } if *path == rotation.sealed),
        "{err}"
    );
}

#[test]
fn bytes_after_a_close_are_refused() {
    let (_dir, log, _rotation) = interrupted_after_close();
    fs::OpenOptions::new()
        .append(true)
        .open(log.path())
        .unwrap()
        .write_all(b"{\"v\"")
        .unwrap();
    let err = log.append(set(2)).unwrap_err();
    assert!(matches!(err, AuditError::DamagedTail { .. }), "{err}");
}

#[test]
fn concurrent_appenders_across_rotations_form_one_chain() {
    const THREADS: u32 = 6;
    const EACH: u32 = 40;
    let (dir, _log) = new_log();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let dir = dir.path();
            s.spawn(move || {
                // Separate handles: separate opens, separate locks.
                // With the key: only a writer holding it rotates.
                let log = AuditLog::open(dir)
                    .unwrap()
                    .anchored(vector_key())
                    .with_segment_limit(2048);
                for i in 0..EACH {
                    match i % 3 {
                        0 => log.append_unsynced(set(t * 1000 + i)).unwrap(),
                        _ => log.append(set(t * 1000 + i)).unwrap(),
                    };
                }
            });
        }
    });
    let report = assert_intact(dir.path());
    assert!(report.segments >= 5, "{} segments", report.segments);
    let versions: BTreeSet<u32> = read_records(&dir.path().join(AUDIT_FILE))
        .unwrap()
        .iter()
        .filter_map(|r| match r.event {
            Event::SecretSet { version, .. } => Some(version),
            _ => None,
        })
        .collect();
    let expected: BTreeSet<u32> = (0..THREADS)
        .flat_map(|t| (0..EACH).map(move |i| t * 1000 + i))
        .collect();
    assert_eq!(versions, expected, "every append landed exactly once");
    assert_eq!(
        report.records,
        u64::from(THREADS * EACH) + 1 + 2 * (report.segments - 1)
    );
}

/// Writes `files` (each a list of records; the last is the active one) as
/// a segmented log in a fresh dir.
pub(super) fn write_segments(files: &[&[Record]]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let active = dir.path().join(AUDIT_FILE);
    let (last, sealed) = files.split_last().unwrap();
    for records in sealed {
        let text: String = lines_of(records).iter().map(|l| format!("{l}\n")).collect();
        fs::write(sealed_path(&active, records[0].seq), text).unwrap();
    }
    let text: String = lines_of(last).iter().map(|l| format!("{l}\n")).collect();
    fs::write(&active, text).unwrap();
    dir
}

/// `log.init`, then `events`, chained and sealed (hashes all valid).
pub(super) fn sealed_chain(events: Vec<Event>) -> Vec<Record> {
    chain(LogId::from_bytes([9; 16]), events)
}

pub(super) fn close(segment: u64, records: u64) -> Event {
    Event::SegmentClose { segment, records }
}

/// `segment.open` of a log of store `store-1` with no store write yet.
fn open(segment: u64) -> Event {
    Event::SegmentOpen {
        segment,
        store: "store-1".into(),
        generation: 0,
    }
}

/// The problem in `files`, which must be a segment-structure mismatch.
fn mismatch(files: &[&[Record]]) -> (String, u64, String) {
    let dir = write_segments(files);
    let p = problem(dir.path());
    match &p.kind {
        ProblemKind::SegmentMismatch(reason) => (p.file.clone(), p.line, reason.clone()),
        other => panic!("expected a segment mismatch, got {other:?} at {p}"),
    }
}

#[test]
fn well_formed_segments_built_by_hand_verify() {
    let r = sealed_chain(vec![set(1), close(0, 3), open(1), set(2)]);
    let dir = write_segments(&[&r[..3], &r[3..]]);
    assert_eq!(assert_intact(dir.path()).records, 5);
}

#[test]
fn segment_records_that_disagree_with_the_files_are_named() {
    let sealed_name = file_name_of(0);
    let r = sealed_chain(vec![set(1), close(0, 2), open(1), set(2)]);
    let (file, line, reason) = mismatch(&[&r[..3], &r[3..]]);
    assert_eq!((file.as_str(), line), (sealed_name.as_str(), 3));
    assert!(
        reason.contains("counts 2 records, the segment holds 3"),
        "{reason}"
    );

    let r = sealed_chain(vec![set(1), close(0, 3), open(2), set(2)]);
    let (file, line, reason) = mismatch(&[&r[..3], &r[3..]]);
    assert_eq!((file.as_str(), line), (AUDIT_FILE, 1));
    assert!(
        reason.contains("says segment 2, after segment 0"),
        "{reason}"
    );

    let r = sealed_chain(vec![set(1), close(1, 3), open(1), set(2)]);
    let (_, line, reason) = mismatch(&[&r[..3], &r[3..]]);
    assert!(
        reason.contains("says segment 1, in segment 0"),
        "{reason} {line}"
    );

    let r = sealed_chain(vec![set(1), open(1), set(2)]);
    let (_, line, reason) = mismatch(&[&r]);
    assert_eq!(line, 3);
    assert!(reason.contains("in the middle"), "{reason}");

    let r = sealed_chain(vec![set(1), close(0, 3), set(2), open(1)]);
    let (file, line, reason) = mismatch(&[&r[..4], &r[4..]]);
    assert_eq!((file.as_str(), line), (sealed_name.as_str(), 4));
    assert!(reason.contains("follows segment.close"), "{reason}");

    let r = sealed_chain(vec![set(1), close(0, 3), set(2)]);
    let (file, line, reason) = mismatch(&[&r[..3], &r[3..]]);
    assert_eq!((file.as_str(), line), (AUDIT_FILE, 1));
    assert!(
        reason.contains("does not start with segment.open"),
        "{reason}"
    );
}

fn file_name_of(first_seq: u64) -> String {
    let path = sealed_path(Path::new(AUDIT_FILE), first_seq);
    path.file_name().unwrap().to_string_lossy().into_owned()
}
