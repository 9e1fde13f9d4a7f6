//! Bad input gets a clear error, a hint and the documented exit code, and
//! changes nothing.

use crate::harness::*;

#[test]
fn unknown_agent_is_refused_with_the_list_of_agents() {
    let world = World::new();
    let out = world.exec("hello", "nobody", &[]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("error:") && err.contains("nobody"), "{err}");
    assert!(
        err.contains("hint:") && err.contains("support-analysis") && err.contains("billing-bot"),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "the task ran: {}", stdout(&out));
    assert!(world.records_of("exec.start").is_empty());
}

#[test]
fn malformed_policies_name_line_and_column() {
    let cases = [
        (
            "[agents.a]\nproject = \"p\"\ncolour = \"red\"\n\n[projects.p]\n",
            "tasks.toml:3:1",
        ),
        (
            "[projects.p]\n[agents.a]\nproject = \"p\"\ngrants = [{ secret = \"s\", expires = \"tomorrow\" }]\n",
            "tasks.toml:4:",
        ),
        (
            "[projects.p]\n[projects.q]\n[agents.a]\nproject = \"p\"\ngrants = [{ secret = \"q/s\" }]\n",
            "tasks.toml:5:",
        ),
        (
            "[projects.p]\n[agents.a]\nproject = \"nope\"\n",
            "tasks.toml:3:",
        ),
    ];
    for (policy, location) in cases {
        let world = World::with_policy(policy);
        let out = world.exec("hello", "a", &[]);
        assert_eq!(out.status.code(), Some(125), "{policy}\n{}", text(&out));
        let err = stderr(&out);
        assert!(
            err.contains(location),
            "{policy}\nexpected {location} in:\n{err}"
        );
        assert!(err.contains("hint:"), "{err}");
    }
}

#[test]
fn secret_value_on_the_command_line_is_refused_and_not_echoed() {
    let world = World::new();
    let value = canary();
    for args in [
        vec![
            "secret",
            "set",
            "posthog-read",
            "--project",
            "analytics",
            value.as_str(),
        ],
        vec![
            "secret",
            "set",
            "posthog-read",
            value.as_str(),
            "--project",
            "analytics",
        ],
    ] {
        let out = world.run(&args);
        assert!(!out.status.success());
        assert!(
            !contains(&out.stderr, &value) && !contains(&out.stdout, &value),
            "value echoed"
        );
        assert!(
            stderr(&out).contains("stdin"),
            "no stdin hint for {:?}",
            args.len()
        );
    }
    let flag = format!("--value={value}");
    let out = world.run(&[
        "secret",
        "set",
        "posthog-read",
        "--project",
        "analytics",
        &flag,
    ]);
    assert!(!out.status.success());
    assert!(!contains(&out.stderr, &value), "value echoed for --value=");
    let listed = stdout(&world.ok(&["secret", "list"]));
    assert!(listed.contains("no secrets stored"), "{listed}");
}

#[test]
fn empty_stdin_is_refused() {
    let world = World::new();
    let out = world.run(&["secret", "set", "posthog-read", "--project", "analytics"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(stderr(&out).contains("error:"), "{}", text(&out));
}

#[test]
fn init_twice_keeps_the_first_key() {
    let world = World::new();
    let key = std::fs::read(world.home().join("key")).unwrap();
    let out = world.run(&["init"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("already initialised"),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(world.home().join("key")).unwrap(), key);
}

#[test]
fn commands_before_init_say_how_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("none");
    let out = std::process::Command::new(RUNNER)
        .args(["--home", home.to_str().unwrap(), "secret", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("runner --home"), "{}", text(&out));
}

#[test]
fn secret_list_shows_metadata_only() {
    let world = World::new();
    let value = canary();
    world.set_secret("analytics", "posthog-read", &value);
    let out = world.ok(&["secret", "list"]);
    let shown = stdout(&out);
    assert!(
        shown.contains("PROJECT") && shown.contains("analytics") && shown.contains("posthog-read")
    );
    assert!(!contains(&out.stdout, &value));
}
