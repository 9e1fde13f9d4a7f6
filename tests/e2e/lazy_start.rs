//! A run pays only for what it uses (issue 7): a run that cannot need the
//! store (its agent holds no grants, or its component cannot ask for a
//! secret) never opens it and waits for no `fdatasync`; a run that could
//! ask opens it before its task starts, and a store that cannot be opened
//! refuses the run (issue 16, `readiness.rs`).

use crate::harness::*;

/// A world with one stored secret whose key file is then taken away, so any
/// attempt to open the store fails.
fn world_without_key() -> World {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", &canary());
    std::fs::remove_file(world.home().join("key")).unwrap();
    world
}

#[test]
fn a_run_that_asks_for_no_secret_never_opens_the_store() {
    let world = world_without_key();
    let out = world.exec("hello", "support-analysis", &["x"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("args: x"), "{}", text(&out));
    assert!(!stderr(&out).contains("store"), "{}", text(&out));
    let start = &world.records_of("exec.start")[0];
    let end = &world.records_of("exec.end")[0];
    assert_eq!(start["run"], end["run"]);
    assert_eq!(end["outcome"], "exited");
}

#[test]
fn a_store_that_cannot_be_opened_refuses_a_run_that_could_ask_for_a_secret() {
    let world = world_without_key();
    let out = world.exec("probe", "support-analysis", &["get:posthog-read", "exit:0"]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error: the task was not started: cannot open the secret store"),
        "{err}"
    );
    assert!(err.contains("key file"), "{err}");
    assert!(err.contains("hint: "), "{err}");
    // Refused before the task could ask: no answer, no run records.
    assert!(stdout(&out).is_empty(), "{}", text(&out));
    assert_eq!(
        world.records_of("exec.refused")[0]["reason"],
        "store-unusable"
    );
    assert!(world.records_of("exec.start").is_empty());
    assert!(world.records_of("secret.deny").is_empty());
    assert!(world.records_of("secret.resolve").is_empty());
}

#[test]
fn records_that_release_nothing_are_anchored_by_the_next_synced_one() {
    // `bare` holds no grants and is not pinned: its runs never open the
    // store (an agent with grants opens it to check cached code, see
    // docs/cache.md, and its records then carry MACs).
    let world = World::with_policy(&format!(
        "{POLICY}\n[agents.bare]\nproject = \"analytics\"\n"
    ));
    world.set_secret("analytics", "posthog-read", &canary());
    let hello = world.exec("hello", "bare", &[]);
    assert!(hello.status.success(), "{}", text(&hello));
    // The first sight of tasks.toml (policy.change), exec.start and
    // exec.end of the hello run follow the checkpoint.
    let shown = stdout(&world.run(&["audit", "verify"]));
    assert!(shown.contains("3 record(s) appended since"), "{shown}");
    // They carry no MAC (the hello run never opened the store): verify
    // counts them instead of calling them anchored.
    assert!(
        shown.contains("result: INTACT (anchored up to seq")
            && shown.contains("the last 3 record(s) unauthenticated)"),
        "{shown}"
    );
    let get = world.exec("probe", "support-analysis", &["get:posthog-read"]);
    assert!(get.status.success(), "{}", text(&get));
    // The resolution was synced and moved the checkpoint past the hello run;
    // only this run's exec.end follows it.
    let records = world.records();
    let resolve = records.iter().position(|r| r["kind"] == "secret.resolve");
    assert_eq!(resolve, Some(records.len() - 2));
    let shown = stdout(&world.run(&["audit", "verify"]));
    assert!(shown.contains("1 record(s) appended since"), "{shown}");
    let head = stdout(&world.ok(&["audit", "head"]));
    assert!(head.contains(&format!("size={}", records.len())), "{head}");
}

/// The default policy with `[audit] sync = "every-record"`.
fn every_record_world() -> World {
    let policy = format!("[audit]\nsync = \"every-record\"\n\n{POLICY}");
    let world = World::with_policy(&policy);
    world.set_secret("analytics", "posthog-read", &canary());
    world
}

#[test]
fn every_record_mode_anchors_each_run_at_once() {
    let world = every_record_world();
    let out = world.exec("probe", "support-analysis", &["get:nope", "exit:0"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(world.records_of("secret.deny").len(), 1);
    // The checkpoint covers the run's last record, exec.end.
    let shown = stdout(&world.run(&["audit", "verify"]));
    assert!(shown.contains("matches the log's head"), "{shown}");
    assert!(shown.contains("result: INTACT (anchored)"), "{shown}");
}

#[test]
fn every_record_mode_opens_the_store_before_the_task_starts() {
    let world = every_record_world();
    // A first run records the first sight of tasks.toml (policy.change).
    let settle = world.exec("hello", "support-analysis", &[]);
    assert!(settle.status.success(), "{}", text(&settle));
    let before = world.records().len();
    std::fs::remove_file(world.home().join("key")).unwrap();
    let out = world.exec("hello", "support-analysis", &[]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    assert!(!stdout(&out).contains("hello"), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("error: the task was not started: cannot open the secret store"),
        "{err}"
    );
    assert!(err.contains("hint: "), "{err}");
    // Only the refusal is recorded (unanchored: the key is gone).
    let records = world.records();
    assert_eq!(records.len(), before + 1, "{records:?}");
    assert_eq!(records[before]["kind"], "exec.refused");
    assert_eq!(records[before]["reason"], "store-unusable");
}
