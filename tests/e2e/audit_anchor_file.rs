//! `audit verify --anchor FILE` with a file of many `audit head` lines (as
//! the README suggests: `runner audit head >> anchors.txt`): every line for
//! this log is checked, lines of other logs are set aside when some line is
//! for this log, an anchor of another log alone is "another log", never
//! "forged", and an unreadable anchor says what was expected.

use crate::harness::*;

fn head(world: &World) -> String {
    stdout(&world.ok(&["audit", "head"])).trim().to_owned()
}

fn run_once(world: &World) {
    let out = world.exec("probe", "support-analysis", &["get:posthog-read"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

fn anchor_file(world: &World, lines: &[String]) -> String {
    let file = world.tmp.path().join("anchors.txt");
    let text = format!("# my anchors\n\n{}\n", lines.join("\n"));
    std::fs::write(&file, text).unwrap();
    file.to_str().unwrap().to_owned()
}

fn setup() -> World {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", &canary());
    world
}

#[test]
fn every_line_for_this_log_is_checked_and_others_set_aside() {
    let world = setup();
    run_once(&world);
    let early = head(&world);
    run_once(&world);
    run_once(&world);
    let late = head(&world);
    let foreign = head(&World::new());
    let file = anchor_file(&world, &[foreign, early, late]);
    let out = world.run(&["audit", "verify", "--anchor", &file]);
    let shown = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{shown}");
    assert_eq!(shown.matches("\nanchor (size").count(), 2, "{shown}");
    assert!(
        shown.contains("1 anchor(s) in the file are for other logs"),
        "{shown}"
    );
    assert!(shown.contains("result: INTACT (anchored)"), "{shown}");
    let out = world.run(&["audit", "verify", "--json", "--anchor", &file]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["other_log_anchors"], 1, "{value}");
    assert_eq!(value["checkpoints"].as_array().unwrap().len(), 3, "{value}");
    // Cutting the last run off is caught by the later line, even though the
    // earlier one still matches a prefix of the log.
    let text = std::fs::read_to_string(world.audit_path()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(
        world.audit_path(),
        lines[..lines.len() - 2].join("\n") + "\n",
    )
    .unwrap();
    std::fs::remove_file(world.home().join("audit.checkpoint")).unwrap();
    let out = world.run(&["audit", "verify", "--anchor", &file]);
    let shown = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("TRUNCATED"), "{shown}");
}

#[test]
fn an_anchor_of_another_log_names_both_logs_not_forged() {
    let world = setup();
    let other = World::new();
    let foreign = head(&other);
    let out = world.run(&["audit", "verify", "--anchor", &foreign]);
    let shown = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    let theirs = foreign
        .split(' ')
        .nth(2)
        .unwrap()
        .trim_start_matches("log=");
    let ours = world.records()[0]["log"].as_str().unwrap().to_owned();
    assert!(
        shown.contains(&format!("anchor is for log {theirs}, this is log {ours}")),
        "{shown}"
    );
    assert!(!shown.contains("FORGED"), "{shown}");
    // A file holding only other logs' anchors fails the same way.
    let file = anchor_file(&world, &[foreign]);
    let out = world.run(&["audit", "verify", "--anchor", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("result: INVALID: OTHER LOG"));
}

#[test]
fn an_unreadable_anchor_says_what_was_expected() {
    let world = setup();
    let out = world.run(&["audit", "verify", "--anchor", "deadbeef"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("neither an anchor line nor an existing file"),
        "{err}"
    );
    assert!(
        err.contains("hint: an anchor is a line printed by `runner audit head`"),
        "{err}"
    );
    let good = head(&world);
    let file = anchor_file(
        &world,
        &[good, "scopehold-audit-checkpoint v1 size=3".into()],
    );
    let out = world.run(&["audit", "verify", "--anchor", &file]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("line 4: expected `scopehold-audit-checkpoint v1 log=.."),
        "{err}"
    );
    let out = world.run(&[
        "audit",
        "verify",
        "--anchor",
        "scopehold-audit-checkpoint v1 x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--anchor: expected"),
        "{}",
        stderr(&out)
    );
}
