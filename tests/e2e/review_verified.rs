//! `audit log` and `secret list` verify the log they read (issue 16 item 3):
//! on an intact log they exit 0 with no warning; on a tampered one they
//! still print, then end with `audit verify`'s verdict and a non-zero exit.

use crate::harness::*;

const TAMPERED: &str = "warning: the audit log does not verify: INVALID: TAMPERED";

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
    for args in [
        &["audit", "log"][..],
        &["secret", "list"],
        &["secret", "list", "--json"],
    ] {
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
    for args in [
        &["audit", "log"][..],
        &["audit", "log", "--json"],
        &["audit", "log", "-n", "1"],
        &["secret", "list"],
        &["secret", "list", "--json"],
    ] {
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
