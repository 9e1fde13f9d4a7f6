//! What makes repeat work cheap. The compiled-code cache: a repeat run loads
//! the compiled component from the owner-only cache dir; an unsafe dir or
//! artifact and a damaged artifact are never loaded (the component is compiled
//! again); `cache clear` empties it. Repeat resolutions: the same secret
//! version resolved again in one run is counted in `exec.end`, not recorded.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;

use crate::harness::*;

const HIT: &str = "compiled-code cache hit";

/// `runner exec hello.wasm` with debug logging, asserted to succeed.
fn exec_hello(world: &World) -> Output {
    let wasm = guest("hello");
    let out = world
        .cmd(&[
            "exec",
            wasm.to_str().unwrap(),
            "--agent",
            "support-analysis",
        ])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    out
}

fn cache_dir(world: &World) -> PathBuf {
    world.home().join("cache")
}

fn artifacts(world: &World) -> Vec<PathBuf> {
    std::fs::read_dir(cache_dir(world))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect()
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_mode(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_second_run_loads_the_cached_code() {
    let world = World::new();
    let first = exec_hello(&world);
    assert!(!stderr(&first).contains(HIT), "{}", text(&first));
    let files = artifacts(&world);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].to_string_lossy().ends_with(".cwasm"), "{files:?}");
    assert_eq!(mode(&cache_dir(&world)), 0o700);
    assert_eq!(mode(&files[0]), 0o600);
    let second = exec_hello(&world);
    assert!(stderr(&second).contains(HIT), "{}", text(&second));
    assert_eq!(stdout(&first), stdout(&second));
}

#[test]
fn a_cache_dir_others_can_write_is_not_used() {
    let world = World::new();
    exec_hello(&world);
    set_mode(&cache_dir(&world), 0o777);
    let out = exec_hello(&world);
    assert!(!stderr(&out).contains(HIT), "{}", text(&out));
    assert!(
        stderr(&out).contains("not using the compiled-code cache"),
        "{}",
        text(&out)
    );
    let clear = world.run(&["cache", "clear"]);
    assert!(!clear.status.success(), "{}", text(&clear));
    assert!(stderr(&clear).contains("hint:"), "{}", text(&clear));
}

#[test]
fn an_artifact_others_can_write_is_ignored_with_a_warning() {
    let world = World::new();
    exec_hello(&world);
    set_mode(&artifacts(&world)[0], 0o666);
    let out = exec_hello(&world);
    assert!(!stderr(&out).contains(HIT), "{}", text(&out));
    assert!(
        stderr(&out).contains("ignoring cached code"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_truncated_or_corrupted_artifact_is_compiled_again() {
    let world = World::new();
    exec_hello(&world);
    let artifact = artifacts(&world)[0].clone();
    let good = std::fs::read(&artifact).unwrap();
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x40;
    for damaged in [&good[..good.len() / 2], &flipped[..], &good[..0]] {
        std::fs::write(&artifact, damaged).unwrap();
        let out = exec_hello(&world);
        assert!(!stderr(&out).contains(HIT), "{}", text(&out));
        // The recompiled code replaced the damaged artifact.
        assert_eq!(std::fs::read(&artifact).unwrap(), good);
    }
    assert!(stderr(&exec_hello(&world)).contains(HIT));
}

#[test]
fn cache_clear_empties_the_cache() {
    let world = World::new();
    exec_hello(&world);
    assert_eq!(artifacts(&world).len(), 1);
    let out = world.ok(&["cache", "clear"]);
    assert!(stdout(&out).contains("removed 1"), "{}", text(&out));
    assert!(artifacts(&world).is_empty());
    let next = exec_hello(&world);
    assert!(!stderr(&next).contains(HIT), "{}", text(&next));
}

#[test]
fn repeat_resolutions_are_counted_in_exec_end_not_recorded_again() {
    let world = crate::limits::hostile_world("");
    let canary = canary();
    world.set_secret("analytics", "posthog-read", &canary);
    let out = world.exec("hog", "hostile", &["get-many:300:posthog-read"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("300 calls, 0 denied"),
        "{}",
        text(&out)
    );
    let resolves = world.records_of("secret.resolve");
    assert_eq!(resolves.len(), 1);
    assert_eq!(resolves[0]["version"], 1);
    assert_eq!(world.records_of("exec.end")[0]["repeats"], 299);
    let readable = stdout(&world.ok(&["audit", "log", "--kind", "exec.end"]));
    assert!(readable.contains(" repeats 299"), "{readable}");
    world.ok(&["audit", "verify"]);
    // A new run records its first resolution again.
    world.exec("hog", "hostile", &["get-many:2:posthog-read"]);
    assert_eq!(world.records_of("secret.resolve").len(), 2);
    assert_eq!(world.records_of("exec.end")[1]["repeats"], 1);
}

/// Not a test: extends the audit log of the state dir `$BENCH_HOME` (made by
/// `runner init`) to `$BENCH_RECORDS` records for `bench/run.sh`'s
/// `runner audit verify` measurement. Run with `--ignored --exact`.
#[test]
#[ignore = "benchmark helper (bench/run.sh)"]
fn bench_generate_audit_log() {
    use scopehold_core::audit::{Event, Record};
    use std::io::Write;
    let Some(home) = std::env::var_os("BENCH_HOME") else {
        return;
    };
    let total: u64 = std::env::var("BENCH_RECORDS").map_or(1_000_000, |n| n.parse().unwrap());
    let path = std::path::Path::new(&home).join("audit.jsonl");
    let first = std::fs::read_to_string(&path).unwrap();
    let mut last = Record::parse_line(first.lines().last().unwrap().as_bytes()).unwrap();
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    let mut out = std::io::BufWriter::new(file);
    // Resolutions carry MACs, as the runner writes them, and a checkpoint
    // anchors the end: verify measures the keyed path and says INTACT.
    let store = scopehold_core::store::Store::open(std::path::Path::new(&home)).unwrap();
    let keys = scopehold_core::audit::CheckpointKey::from_store(&store);
    let run = scopehold_core::audit::new_run_id().unwrap();
    for seq in last.seq + 1..total {
        let event = Event::SecretResolve {
            run,
            agent: "support-analysis".parse().unwrap(),
            project: "analytics".parse().unwrap(),
            secret: "posthog-read".parse().unwrap(),
            version: 1,
        };
        last = Record::seal(last.log, seq, last.ts, last.hash, event).unwrap();
        last = last.authenticated(&keys);
        writeln!(out, "{}", last.to_line().unwrap()).unwrap();
    }
    out.flush().unwrap();
    let checkpoint = scopehold_core::audit::Checkpoint::seal(&keys, last.log, last.seq, last.hash);
    checkpoint
        .unwrap()
        .store(std::path::Path::new(&home), true)
        .unwrap();
}
