//! Concurrent appenders and verify at scale.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::{Duration, Instant};

use super::*;

#[test]
fn concurrent_appenders_form_one_chain() {
    const THREADS: u32 = 8;
    const EACH: u32 = 50;
    let (dir, _log) = new_log();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let dir = dir.path();
            s.spawn(move || {
                let log = AuditLog::open(dir).unwrap();
                for i in 0..EACH {
                    let event = Event::SecretSet {
                        project: project("p"),
                        secret: secret("s"),
                        version: t * 1000 + i,
                    };
                    log.append(event).unwrap();
                }
            });
        }
    });
    let path = dir.path().join(AUDIT_FILE);
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{:?}", report.first_problem);
    assert_eq!(report.records, u64::from(THREADS * EACH) + 1);

    let records = read_records(&path).unwrap();
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..=u64::from(THREADS * EACH)).collect::<Vec<_>>());
    let versions: BTreeSet<u32> = records[1..]
        .iter()
        .map(|r| match r.event {
            Event::SecretSet { version, .. } => version,
            ref other => panic!("unexpected {other:?}"),
        })
        .collect();
    let expected: BTreeSet<u32> = (0..THREADS)
        .flat_map(|t| (0..EACH).map(move |i| t * 1000 + i))
        .collect();
    assert_eq!(versions, expected, "every append landed exactly once");
}

/// Writes a log of `n` records quickly (in memory, one write).
fn big_log(n: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    let lines = lines_of(&chain(
        LogId::from_bytes([5; 16]),
        (1..n).map(|i| Event::SecretResolve {
            run: run_id(i as u8),
            agent: agent("support-analysis"),
            project: project("analytics"),
            secret: secret("posthog-read"),
            version: i,
        }),
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for line in &lines {
        writeln!(file, "{line}").unwrap();
    }
    file.flush().unwrap();
    (dir, path)
}

#[test]
fn verify_handles_100k_records() {
    let (_dir, path) = big_log(100_000);
    let report = verify(&path).unwrap();
    assert!(report.is_intact(), "{:?}", report.first_problem);
    assert_eq!(report.records, 100_000);
}

/// This thread's time on a CPU (Linux), so that the rate is per core even
/// when other processes compete for the machine.
fn thread_cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    Duration::from_nanos(stat.split_whitespace().next().unwrap().parse().unwrap())
}

/// Throughput against the target (500,000 records/s on one core), on
/// 1,000,000 records, printed:
/// `cargo test --release -p scopehold-core --lib audit::tests::concurrent::verify_throughput -- --ignored --nocapture`
#[test]
#[ignore = "timing; run in release"]
fn verify_throughput() {
    let n = 1_000_000;
    let (_dir, path) = big_log(n);
    let _ = verify(&path).unwrap(); // warm the page cache
    let (wall, cpu) = (Instant::now(), thread_cpu_time());
    let report = verify(&path).unwrap();
    let per_cpu_sec = f64::from(n) / (thread_cpu_time() - cpu).as_secs_f64();
    let per_wall_sec = f64::from(n) / wall.elapsed().as_secs_f64();
    println!("verify: {per_cpu_sec:.0} records per CPU second ({per_wall_sec:.0} per wall second)");
    assert!(report.is_intact());
    // A benchmark, not a timed test: the target is reported, not asserted
    // (BENCHMARKS.md records what was measured).
    let verdict = if per_cpu_sec >= 500_000.0 {
        "met"
    } else {
        "MISSED"
    };
    println!("target 500,000 records per CPU second: {verdict}");
}
