//! Conventions for scripts and review (issue 16 items 10 and 12): `--json`
//! on `secret list`, `explain` and `digest`; `audit log -n N` and `--until`;
//! one age grammar for every time flag; `--outcome` validated.

use crate::harness::*;

fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn secret_list_json_has_one_object_per_secret_and_no_value() {
    let world = World::new();
    let value = canary();
    world.set_secret("analytics", "posthog-read", &value);
    world.set_secret("billing", "stripe", "v");
    let out = world.ok(&["secret", "list", "--json"]);
    assert!(!contains(&out.stdout, &value));
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 2, "{}", text(&out));
    assert_eq!(rows[0]["project"], "analytics");
    assert_eq!(rows[0]["name"], "posthog-read");
    assert_eq!(rows[0]["version"], 1);
    assert!(rows[0]["created"].as_str().unwrap().ends_with('Z'));
    assert!(rows[0]["rotated"].is_null() && rows[0]["last_resolved"].is_null());
}

#[test]
fn explain_and_digest_json_say_what_the_readable_views_say() {
    let world = World::new();
    let probe = guest("probe");
    let probe = probe.to_str().unwrap();
    let explain = world.ok(&["explain", probe, "--agent", "support-analysis", "--json"]);
    let facts: serde_json::Value = serde_json::from_slice(&explain.stdout).unwrap();
    assert_eq!(facts["agent"], "support-analysis");
    assert_eq!(facts["project"], "analytics");
    assert_eq!(facts["may_run"], true);
    assert_eq!(facts["secrets"][1]["secret"], "old-key");
    assert_eq!(facts["secrets"][1]["expired"], true);
    assert!(facts["imports"].as_array().unwrap().len() > 3, "{facts}");
    let digest = json_lines(&world.ok(&["digest", probe, "--json"]));
    assert_eq!(digest[0]["digest"], facts["digest"]);
    let plain = stdout(&world.ok(&["digest", probe]));
    assert!(
        plain.starts_with(digest[0]["digest"].as_str().unwrap()),
        "{plain}"
    );
}

#[test]
fn audit_log_last_n_and_until_select_records() {
    let world = World::new();
    for name in ["a", "b", "c"] {
        world.set_secret("analytics", name, "v");
    }
    let all = json_lines(&world.ok(&["audit", "log", "--json"]));
    let last = json_lines(&world.ok(&["audit", "log", "--json", "-n", "2"]));
    assert_eq!(last, all[all.len() - 2..].to_vec());
    let readable = stdout(&world.ok(&["audit", "log", "--last", "1"]));
    assert_eq!(readable.lines().count(), 1, "{readable}");
    let past = world.ok(&["audit", "log", "--until", "2000-01-01T00:00:00Z"]);
    assert!(stdout(&past).is_empty());
    assert!(stdout(&world.ok(&["audit", "log", "--until", "1h"])).is_empty());
    let now = world.ok(&[
        "audit",
        "log",
        "--json",
        "--since",
        "1y",
        "--until",
        "2099-01-01T00:00:00Z",
    ]);
    assert_eq!(json_lines(&now), all);
}

#[test]
fn every_time_flag_takes_the_same_ages_and_says_the_grammar() {
    let world = World::new();
    for age in ["30s", "15m", "2h", "7d", "1y"] {
        world.ok(&["audit", "log", "--since", age]);
        world.ok(&["audit", "grants", "--stale", age]);
    }
    for flag in [["audit", "log", "--since"], ["audit", "grants", "--stale"]] {
        let out = world.run(&[flag[0], flag[1], flag[2], "5x"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            stderr(&out).contains("(ms, s, m, h, d, w or y)"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn an_unknown_outcome_lists_the_valid_ones() {
    let world = World::new();
    let out = world.run(&["audit", "log", "--outcome", "bogus"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("\"bogus\" is not an outcome"), "{err}");
    assert!(
        err.contains("resolved, denied, allowed, refused, exited"),
        "{err}"
    );
    world.ok(&["audit", "log", "--outcome", "limit-timeout"]);
}

#[test]
fn readable_times_have_the_relative_time_beside_them() {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", "v");
    let list = stdout(&world.ok(&["secret", "list"]));
    let row = list.lines().find(|l| l.contains("posthog-read")).unwrap();
    assert!(row.contains("Z (just now)"), "{list}");
    let log = stdout(&world.ok(&["audit", "log"]));
    assert!(log.lines().count() >= 3, "{log}");
    assert!(log.lines().all(|l| l.contains("Z (just now)  ")), "{log}");
}

/// `audit log` with stdout on a pseudo-terminal: everything it printed.
fn log_on_a_terminal(world: &World, no_color: Option<&str>) -> String {
    use std::io::Read;
    let (mut master, slave) = crate::terminal_input::open_pty();
    let status = {
        // The command holds the slave until dropped.
        let mut cmd = world.cmd(&["audit", "log"]);
        cmd.stdout(slave);
        if let Some(value) = no_color {
            cmd.env("NO_COLOR", value);
        }
        cmd.status().unwrap()
    };
    assert!(status.success());
    // The slave is closed now: the master reads what was written, then EIO.
    let mut screen = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = master.read(&mut chunk) {
        screen.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&screen).into_owned()
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", "v");
    let out = world.exec(
        "probe",
        "support-analysis",
        &["get:posthog-read", "get:nope"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let screen = log_on_a_terminal(&world, None);
    let deny = screen.lines().find(|l| l.contains("secret.deny")).unwrap();
    assert!(deny.starts_with("\x1b[31m"), "{deny:?}");
    let resolve = screen
        .lines()
        .find(|l| l.contains("secret.resolve"))
        .unwrap();
    assert!(resolve.starts_with("\x1b[32m"), "{resolve:?}");
    let plain = log_on_a_terminal(&world, Some("1"));
    assert!(
        plain.contains("secret.deny") && !plain.contains('\x1b'),
        "{plain:?}"
    );
    assert!(!stdout(&world.ok(&["audit", "log"])).contains('\x1b'));
}
