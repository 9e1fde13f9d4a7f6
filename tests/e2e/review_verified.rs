//! `audit log`, `audit grants` and `secret list` verify the log they read,
//! as they read it, with `audit verify`'s verifier (issue 16 item 3): on an
//! intact log they exit 0 with no warning; on a tampered, cut or rewritten
//! one they still print everything they read, then end with `audit
//! verify`'s verdict in its words and its non-zero exit code.

use crate::harness::*;

const TAMPERED: &str = "warning: the audit log does not verify: INVALID: TAMPERED";

/// Every review command that reads the log, readable and JSON.
const REVIEWS: [&[&str]; 6] = [
    &["audit", "log"],
    &["audit", "log", "--json"],
    &["audit", "grants"],
    &["audit", "grants", "--json"],
    &["secret", "list"],
    &["secret", "list", "--json"],
];

/// A world with a secret resolved once, so the log has a resolve record.
fn used_world() -> World {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", &canary());
    let out = world.exec("probe", "support-analysis", &["get:posthog-read"]);
    assert!(out.status.success(), "{}", text(&out));
    world
}

/// Changes the `secret.resolve` record's version, leaving its hash stale.
fn tamper(world: &World) {
    let log = std::fs::read_to_string(world.audit_path()).unwrap();
    let edited: Vec<String> = log
        .lines()
        .map(|line| match line.contains("\"secret.resolve\"") {
            true => line.replace("\"version\":1", "\"version\":7"),
            false => line.to_owned(),
        })
        .collect();
    assert_ne!(edited.join("\n") + "\n", log, "nothing was tampered");
    std::fs::write(world.audit_path(), edited.join("\n") + "\n").unwrap();
}

#[test]
fn an_intact_log_is_read_without_warning() {
    let world = used_world();
    for args in REVIEWS {
        let out = world.ok(args);
        assert!(
            !stderr(&out).contains("warning"),
            "{args:?}: {}",
            text(&out)
        );
    }
}

#[test]
fn a_tampered_log_is_printed_then_flagged_with_the_verify_verdict() {
    let world = used_world();
    tamper(&world);
    assert_eq!(world.run(&["audit", "verify"]).status.code(), Some(1));
    for args in REVIEWS
        .iter()
        .chain([&["audit", "log", "-n", "1"][..]].iter())
    {
        let out = world.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(!stdout(&out).is_empty(), "{args:?}: nothing printed");
        let err = stderr(&out);
        assert!(err.contains(TAMPERED), "{args:?}: {err}");
        assert!(err.contains("FAILED: "), "{args:?}: {err}");
    }
    let log = stdout(&world.run(&["audit", "log"]));
    assert!(
        log.contains("secret.resolve") && log.contains(" v7"),
        "{log}"
    );
}

/// The `result:` line of `audit verify`, without its prefix.
fn verify_result(world: &World) -> String {
    let out = world.run(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = stdout(&out);
    let line = shown.lines().find_map(|l| l.strip_prefix("result: "));
    line.unwrap_or_else(|| panic!("no result line: {shown}"))
        .to_owned()
}

#[test]
fn a_record_cut_from_the_middle_is_flagged_and_what_follows_still_shown() {
    let world = used_world();
    let log = std::fs::read_to_string(world.audit_path()).unwrap();
    let kept: Vec<&str> = log
        .lines()
        .filter(|line| !line.contains("\"secret.resolve\""))
        .collect();
    assert_eq!(kept.len() + 1, log.lines().count());
    std::fs::write(world.audit_path(), kept.join("\n") + "\n").unwrap();
    let verdict = verify_result(&world);
    assert!(verdict.starts_with("INVALID"), "{verdict}");
    for args in REVIEWS {
        let out = world.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        let warning = format!("warning: the audit log does not verify: {verdict}");
        assert!(stderr(&out).contains(&warning), "{args:?}: {}", text(&out));
    }
    // The records after the cut are still read and shown (the run's end).
    let shown = stdout(&world.run(&["audit", "log", "--kind", "exec.end"]));
    assert!(shown.contains("exec.end "), "{shown}");
}

#[test]
fn a_log_cut_at_its_end_is_flagged_as_truncated() {
    let world = used_world();
    let log = std::fs::read_to_string(world.audit_path()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    // Up to and without the resolve record: the checkpoint vouches for more.
    let cut = lines
        .iter()
        .position(|line| line.contains("\"secret.resolve\""))
        .unwrap();
    std::fs::write(world.audit_path(), lines[..cut].join("\n") + "\n").unwrap();
    let verdict = verify_result(&world);
    assert_eq!(verdict, "INVALID: TRUNCATED");
    for args in REVIEWS {
        let out = world.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            stderr(&out).contains("does not verify: INVALID: TRUNCATED"),
            "{args:?}: {}",
            text(&out)
        );
    }
}
