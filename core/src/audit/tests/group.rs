//! Group commit: every appender gets its own durable record back, batches
//! keep the chain and the checkpoint right, and one bad event fails alone.
//! Also the append and verify benchmarks (ignored; see BENCHMARKS.md).

use std::time::Instant;

use super::vectors_gen::vector_key;
use super::*;

fn set(version: u32) -> Event {
    Event::SecretSet {
        project: project("p"),
        secret: secret("s"),
        version,
    }
}

/// Runs `writers` threads doing `each` appends; returns all returned records.
fn hammer(dir: &Path, writers: u32, each: u32, alone: bool) -> Vec<Record> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|t| {
                s.spawn(move || {
                    let log = AuditLog::open(dir).unwrap().anchored(vector_key());
                    let append = |e| match alone {
                        true => log.append_alone(e),
                        false => log.append(e),
                    };
                    (0..each)
                        .map(|i| append(set(t * 10_000 + i)).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

#[test]
fn sixteen_writers_get_exactly_their_records_and_the_checkpoint_is_the_head() {
    let (dir, _log) = new_log();
    let mut returned = hammer(dir.path(), 16, 20, false);
    returned.sort_by_key(|r| r.seq);
    let path = dir.path().join(AUDIT_FILE);
    let on_disk = read_records(&path).unwrap();
    assert_eq!(
        returned[..],
        on_disk[1..],
        "returned records are the stored ones"
    );
    let cp = Checkpoint::load(&dir.path().join(CHECKPOINT_FILE))
        .unwrap()
        .unwrap();
    let checkpoints = vec![(AnchorSource::Local, cp)];
    let result = verify_anchored(&path, checkpoints, Some(&vector_key())).unwrap();
    assert_eq!(result.verdict, Verdict::Intact);
    assert_eq!(result.checks[0].outcome, AnchorOutcome::Matches);
}

#[test]
fn an_oversized_event_in_a_batch_fails_alone() {
    let (dir, log) = new_log();
    let huge = Event::LogInit {
        store: "x".repeat(MAX_LINE_BYTES),
    };
    let results = log.commit_batch(vec![set(1), huge, set(2)]).unwrap();
    assert!(matches!(results[1], Err(AuditError::RecordTooLarge { .. })));
    let seqs: Vec<u64> = [&results[0], &results[2]]
        .iter()
        .map(|r| r.as_ref().unwrap().seq)
        .collect();
    assert_eq!(seqs, [1, 2]);
    let report = verify(&dir.path().join(AUDIT_FILE)).unwrap();
    assert!(report.is_intact() && report.records == 3, "{report:?}");
}

/// Durable appends per second with 1, 4 and 16 writer threads, with and
/// without group commit:
/// `cargo test --release -p scopehold-core --lib audit::tests::group::append_throughput -- --ignored --nocapture`
#[test]
#[ignore = "timing; run in release"]
fn append_throughput() {
    for writers in [1u32, 4, 16] {
        for alone in [true, false] {
            let (dir, _log) = new_log();
            let each = 400 / writers;
            let start = Instant::now();
            hammer(dir.path(), writers, each, alone);
            let rate = f64::from(writers * each) / start.elapsed().as_secs_f64();
            let mode = if alone {
                "sync under lock"
            } else {
                "group commit"
            };
            println!("{writers:>2} writers, {mode:<20}: {rate:>8.0} durable appends/s");
        }
    }
}
