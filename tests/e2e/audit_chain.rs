//! `runner audit verify` proves an intact log and names the first bad record
//! of a tampered one.

use crate::harness::*;

/// A world whose log holds a dozen records.
fn busy_world() -> World {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", &canary());
    for _ in 0..3 {
        let out = world.exec(
            "probe",
            "support-analysis",
            &["get:posthog-read", "get:nope"],
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    assert!(world.records().len() >= 12);
    world
}

fn lines(world: &World) -> Vec<String> {
    std::fs::read_to_string(world.audit_path())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(world: &World, lines: &[String]) {
    std::fs::write(world.audit_path(), lines.join("\n") + "\n").unwrap();
}

/// Runs verify and returns (exit code, stdout).
fn verify(world: &World) -> (Option<i32>, String) {
    let out = world.run(&["audit", "verify"]);
    (out.status.code(), stdout(&out))
}

#[test]
fn intact_log_verifies() {
    let world = busy_world();
    let (code, shown) = verify(&world);
    assert_eq!(code, Some(0), "{shown}");
    let count = world.records().len();
    assert!(
        shown.contains(&format!("\n{count}/{count} records valid\n")),
        "{shown}"
    );
    assert!(shown.contains("result: INTACT (anchored)"), "{shown}");
}

#[test]
fn edited_field_in_a_middle_record_is_named() {
    let world = busy_world();
    let mut lines = lines(&world);
    let target = 5;
    assert!(
        lines[target].contains("\"agent\":\"support-analysis\""),
        "{}",
        lines[target]
    );
    lines[target] = lines[target].replace(
        "\"agent\":\"support-analysis\"",
        "\"agent\":\"billing-bot\"",
    );
    write_lines(&world, &lines);
    let (code, shown) = verify(&world);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("seq 5"), "{shown}");
}

#[test]
fn deleted_record_is_named() {
    let world = busy_world();
    let mut lines = lines(&world);
    lines.remove(4);
    write_lines(&world, &lines);
    let (code, shown) = verify(&world);
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains("seq 4") || shown.contains("seq 5"),
        "{shown}"
    );
}

#[test]
fn swapped_records_are_named() {
    let world = busy_world();
    let mut lines = lines(&world);
    lines.swap(6, 7);
    write_lines(&world, &lines);
    let (code, shown) = verify(&world);
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains("seq 6") || shown.contains("seq 7"),
        "{shown}"
    );
}

#[test]
fn inserted_record_is_named() {
    let world = busy_world();
    let mut lines = lines(&world);
    let copy = lines[3].clone();
    lines.insert(8, copy);
    write_lines(&world, &lines);
    let (code, shown) = verify(&world);
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains("seq 8") || shown.contains("seq 3"),
        "{shown}"
    );
}

#[test]
fn audit_log_prints_every_record_readably() {
    let world = busy_world();
    let out = world.ok(&["audit", "log"]);
    let shown = stdout(&out);
    assert_eq!(shown.lines().count(), world.records().len(), "{shown}");
    assert!(
        shown.contains("secret.resolve") && shown.contains("secret.deny"),
        "{shown}"
    );
    assert!(shown.contains("unknown-secret"), "{shown}");
}
