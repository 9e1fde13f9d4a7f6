//! Audit log rotation against the real binary: `runner audit rotate` and a
//! small `SCOPEHOLD_AUDIT_SEGMENT_BYTES` rotate the log while concurrent
//! `runner exec`s resolve secrets; verify, `audit log` and `audit grants`
//! read every segment; a deleted segment, an interrupted rotation and a
//! rolled-back store are each told apart.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::*;

const LIMIT: (&str, &str) = ("SCOPEHOLD_AUDIT_SEGMENT_BYTES", "2048");

/// `runner exec probe` with a small segment limit, started but not awaited.
fn exec_cmd(world: &World) -> Command {
    let steps = ["get:posthog-read", "get:nope"];
    let mut cmd = world.exec_cmd("probe", "support-analysis", &steps);
    cmd.env(LIMIT.0, LIMIT.1);
    cmd
}

/// Sealed segment files, sorted by name (= by first seq).
fn sealed(world: &World) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(world.home())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("audit.0") && name.ends_with(".jsonl")
        })
        .collect();
    files.sort();
    files
}

fn name(path: &std::path::Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn json_lines(out: &Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn verify(world: &World, extra: &[&str]) -> (Option<i32>, String) {
    let out = world.run(&[&["audit", "verify"][..], extra].concat());
    (out.status.code(), stdout(&out))
}

/// A world whose log was rotated by size (during 4 rounds of 3 concurrent
/// runs) and twice on demand. Returns it and the number of runs.
fn rotated_world(value: &str) -> (World, usize) {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", value);
    let mut runs = 0;
    for round in 0..4 {
        let children: Vec<_> = (0..3).map(|_| exec_cmd(&world).spawn().unwrap()).collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", text(&out));
            runs += 1;
        }
        if round % 2 == 1 {
            let out = world.ok(&["audit", "rotate"]);
            let shown = stdout(&out);
            assert!(shown.starts_with("sealed segment "), "{shown}");
            assert!(shown.contains("started segment "), "{shown}");
        }
    }
    (world, runs)
}

#[test]
fn rotated_log_verifies_and_every_segment_is_read() {
    let value = canary();
    let (world, runs) = rotated_world(&value);
    let files = sealed(&world);
    assert!(files.len() >= 4, "{files:?}");
    let (code, shown) = verify(&world, &[]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(
        shown.contains(&format!("{} segment files", files.len() + 1)),
        "{shown}"
    );
    assert!(shown.contains("result: INTACT (anchored)"), "{shown}");
    // `audit log` sees every record of every file, in chain order.
    let records = json_lines(&world.ok(&["audit", "log", "--json"]));
    let on_disk: usize = files
        .iter()
        .chain([&world.audit_path()])
        .map(|p| std::fs::read_to_string(p).unwrap().lines().count())
        .sum();
    assert_eq!(records.len(), on_disk);
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..on_disk as u64).collect::<Vec<_>>());
    let kinds = |kind: &str| records.iter().filter(|r| r["kind"] == kind).count();
    assert_eq!(kinds("segment.close"), files.len());
    assert_eq!(kinds("segment.open"), files.len());
    assert_eq!(kinds("exec.start"), runs);
    assert_eq!(kinds("secret.resolve"), runs);
    // Resolutions lie in sealed segments (which one depends on how the
    // concurrent runs interleave with the rotations), and grants count them.
    let sealed_resolves = files.iter().any(|path| {
        std::fs::read_to_string(path)
            .unwrap()
            .contains("\"kind\":\"secret.resolve\"")
    });
    assert!(sealed_resolves, "no resolution in a sealed segment");
    let grants = json_lines(&world.ok(&["audit", "grants", "--json"]));
    let row = grants
        .iter()
        .find(|r| r["secret"] == "posthog-read" && r["agent"] == "support-analysis")
        .unwrap();
    assert_eq!(row["resolutions"], runs);
    for path in files.iter().chain([&world.audit_path()]) {
        let bytes = std::fs::read(path).unwrap();
        assert!(!contains(&bytes, &value), "secret value in {}", name(path));
    }
}

#[test]
fn deleting_a_sealed_segment_is_named() {
    let (world, _) = rotated_world(&canary());
    let files = sealed(&world);
    let victim = &files[files.len() / 2];
    std::fs::remove_file(victim).unwrap();
    let (code, shown) = verify(&world, &[]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains(&format!("segment file {} is missing", name(victim))),
        "{shown}"
    );
    let out = world.run(&["audit", "verify", "--json"]);
    let json: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["verdict"], "invalid");
    let next = name(&files[files.len() / 2 + 1]);
    assert_eq!(json["first_problem"]["file"], next.as_str());
}

#[test]
fn an_interrupted_rotation_is_not_tampering_and_the_next_run_finishes_it() {
    let (world, _) = rotated_world(&canary());
    let out = exec_cmd(&world).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let anchor = stdout(&world.ok(&["audit", "head"])).trim().to_owned();
    let checkpoint = world.home().join("audit.checkpoint");
    let before = std::fs::read(&checkpoint).unwrap();
    world.ok(&["audit", "rotate"]);
    // The state a crash right after writing segment.close leaves behind:
    // not yet sealed under its name, no new segment, checkpoint not moved.
    let newest = sealed(&world).pop().unwrap();
    std::fs::rename(&newest, world.audit_path()).unwrap();
    std::fs::write(&checkpoint, before).unwrap();
    let (code, shown) = verify(&world, &[]);
    assert_eq!(code, Some(3), "{shown}");
    assert!(shown.contains("a rotation was interrupted"), "{shown}");
    assert!(
        shown.contains("TORN: intact up to an interrupted rotation"),
        "{shown}"
    );
    let out = exec_cmd(&world).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(newest.exists(), "the sealed name is back");
    let (code, shown) = verify(&world, &["--anchor", &anchor]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("anchor (size"), "{shown}");
}

#[test]
fn an_anchor_taken_before_rotations_verifies_after_them() {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", &canary());
    let anchor = stdout(&world.ok(&["audit", "head"])).trim().to_owned();
    for _ in 0..3 {
        world.ok(&["audit", "rotate"]);
        let out = exec_cmd(&world).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let (code, shown) = verify(&world, &["--anchor", &anchor]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("appended since"), "{shown}");
    // Three rotations on demand, and any the small segment limit adds.
    let files = 1 + sealed(&world).len();
    assert!(files >= 4, "{shown}");
    assert!(shown.contains(&format!("{files} segment files")), "{shown}");
}

#[test]
fn a_store_rolled_back_across_rotations_is_still_refused() {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", &canary());
    let store = world.home().join("secrets.json");
    let older = std::fs::read(&store).unwrap();
    world.set_secret("analytics", "second", &canary());
    // The newest store.write is now two segments back.
    world.ok(&["audit", "rotate"]);
    world.ok(&["audit", "rotate"]);
    assert!(
        !std::fs::read_to_string(world.audit_path())
            .unwrap()
            .contains("store.write")
    );
    std::fs::write(&store, older).unwrap();
    let out = world.run(&["secret", "list"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(stderr(&out).contains("rolled back"), "{}", text(&out));
}

#[test]
fn a_bad_segment_limit_is_refused_with_a_hint() {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", &canary());
    let out = world
        .cmd(&["audit", "rotate"])
        .env(LIMIT.0, "64MiB")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("SCOPEHOLD_AUDIT_SEGMENT_BYTES"), "{err}");
    assert!(err.contains("hint: "), "{err}");
    assert!(sealed(&world).is_empty());
}
