//! Checkpoints and anchors: `runner audit head` exports the log's head,
//! `runner audit verify` catches truncation and rewriting against the local
//! checkpoint and against an exported anchor, says "unanchored" rather than
//! "ok" without one, and stays correct under 16 concurrent `runner exec`s.

use crate::harness::*;

/// A world with one secret and `runs` runs that each resolve it.
fn world_with_runs(runs: usize) -> World {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", &canary());
    for _ in 0..runs {
        let out = world.exec("probe", "support-analysis", &["get:posthog-read"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    world
}

fn verify(world: &World, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let out = world.run(&args);
    (out.status.code(), stdout(&out))
}

fn head(world: &World) -> String {
    stdout(&world.ok(&["audit", "head"])).trim().to_owned()
}

fn cut_last_lines(world: &World, n: usize) {
    let text = std::fs::read_to_string(world.audit_path()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kept = &lines[..lines.len() - n];
    std::fs::write(world.audit_path(), kept.join("\n") + "\n").unwrap();
}

#[test]
fn fresh_log_is_anchored_and_head_round_trips() {
    let world = world_with_runs(1);
    let (code, shown) = verify(&world, &[]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("local checkpoint"), "{shown}");
    assert!(shown.contains("result: INTACT (anchored)"), "{shown}");
    let line = head(&world);
    assert!(
        line.starts_with("scopehold-audit-checkpoint v1 log="),
        "{line}"
    );
    let size = world.records().len();
    assert!(line.contains(&format!(" size={size} ")), "{line}");
    let (code, shown) = verify(&world, &["--anchor", &line]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("anchor (size"), "{shown}");
}

#[test]
fn cutting_the_newest_records_is_truncated() {
    let world = world_with_runs(2);
    let anchor = head(&world);
    cut_last_lines(&world, 2);
    let (code, shown) = verify(&world, &[]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("result: INVALID: TRUNCATED"), "{shown}");
    // Rolling the local checkpoint back with the log is caught by the anchor.
    std::fs::remove_file(world.home().join("audit.checkpoint")).unwrap();
    let (code, shown) = verify(&world, &[]);
    assert_eq!(code, Some(3), "{shown}");
    assert!(shown.contains("UNANCHORED"), "{shown}");
    // (The first line holds the temp dir's random path.)
    assert!(!shown.lines().skip(1).any(|l| l.contains("ok")), "{shown}");
    let file = world.tmp.path().join("anchor.txt");
    std::fs::write(&file, format!("{anchor}\n")).unwrap();
    let (code, shown) = verify(&world, &["--anchor", file.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("TRUNCATED"), "{shown}");
}

#[test]
fn a_log_rebuilt_from_another_init_is_rewritten() {
    let world = world_with_runs(1);
    let anchor = head(&world);
    // Someone who can write the state dir replaces the log wholesale with a
    // valid log of their own (a fresh init elsewhere) and its checkpoint.
    let other = World::new();
    std::fs::copy(other.audit_path(), world.audit_path()).unwrap();
    let (code, shown) = verify(&world, &[]);
    assert_eq!(code, Some(1), "{shown}");
    // Its log.init carries the other store's MAC, not this one's.
    assert!(shown.contains("result: INVALID: FORGED"), "{shown}");
    assert!(
        shown.contains("this log.init record does not verify"),
        "{shown}"
    );
    for name in ["audit.checkpoint", "key", "store.json"] {
        let (from, to) = (other.home().join(name), world.home().join(name));
        if from.exists() {
            std::fs::copy(from, to).unwrap();
        }
    }
    let (code, shown) = verify(&world, &["--anchor", &anchor]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("OTHER LOG: anchor is for log"), "{shown}");
    assert!(shown.contains("result: INVALID: OTHER LOG"), "{shown}");
}

#[test]
fn json_output_names_verdict_and_first_problem() {
    let world = world_with_runs(1);
    let out = world.run(&["audit", "verify", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(value["verdict"], "intact");
    assert_eq!(value["records_valid"], world.records().len());
    let text = std::fs::read_to_string(world.audit_path()).unwrap();
    std::fs::write(
        world.audit_path(),
        text.replacen("\"seq\":2,", "\"seq\":9,", 1),
    )
    .unwrap();
    let out = world.run(&["audit", "verify", "--json"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(value["verdict"], "invalid");
    assert_eq!(value["first_problem"]["line"], 3);
    assert_eq!(value["first_problem"]["tampering"], true);
}

#[test]
fn without_the_store_key_the_chain_is_checked_but_not_anchored() {
    let world = world_with_runs(1);
    std::fs::remove_file(world.home().join("key")).unwrap();
    let (code, shown) = verify(&world, &[]);
    assert_eq!(code, Some(3), "{shown}");
    assert!(shown.contains("cannot be authenticated"), "{shown}");
    // The run's exec.end is written without a sync and is past the
    // checkpoint; its secret.resolve is the checkpoint's head. Cut both.
    cut_last_lines(&world, 2);
    let (code, shown) = verify(&world, &[]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("TRUNCATED"), "{shown}");
}

#[test]
fn torn_tail_is_reported_then_recovered_by_the_next_run() {
    let world = world_with_runs(1);
    let mut text = std::fs::read(world.audit_path()).unwrap();
    text.extend_from_slice(b"{\"v\":1,\"log\":\"00");
    std::fs::write(world.audit_path(), text).unwrap();
    let (code, shown) = verify(&world, &[]);
    assert_eq!(code, Some(3), "{shown}");
    assert!(shown.contains("result: TORN"), "{shown}");
    let out = world.exec("probe", "support-analysis", &["get:posthog-read"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(world.records_of("log.recover").len(), 1);
    let (code, shown) = verify(&world, &[]);
    assert_eq!(code, Some(0), "{shown}");
}

#[test]
fn sixteen_concurrent_execs_leave_exactly_their_records() {
    let world = world_with_runs(0);
    let before = world.records().len();
    let steps = ["get:posthog-read", "get:posthog-read"];
    let children: Vec<_> = (0..16)
        .map(|_| {
            world
                .exec_cmd("probe", "support-analysis", &steps)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert_eq!(world.records_of("exec.start").len(), 16);
    // The second get of the same version in a run is a counted repeat.
    assert_eq!(world.records_of("secret.resolve").len(), 16);
    let ends = world.records_of("exec.end");
    assert_eq!(ends.len(), 16);
    assert!(ends.iter().all(|end| end["repeats"] == 1), "{ends:?}");
    // The first runs of a policy record its grants (`policy.change`, at
    // least once: concurrent first sights may each record it).
    let changes = world.records_of("policy.change").len();
    assert!(changes >= 1);
    assert_eq!(world.records().len(), before + 16 * 3 + changes);
    let (code, shown) = verify(&world, &[]);
    assert_eq!(code, Some(0), "{shown}");
    // The checkpoint follows the last synced record (a resolution); the
    // exec.end records after it need no sync.
    assert!(shown.contains("result: INTACT (anchored)"), "{shown}");
}
