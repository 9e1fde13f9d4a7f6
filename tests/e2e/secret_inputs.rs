//! Inputs `secret set`, `rotate` and `rm` refuse (issue 16 item 8): an
//! undeclared project, removing a secret still granted, a value that is not
//! text. Each refusal changes nothing and shows no value; `--force` and
//! `--binary` override.

use crate::harness::*;

/// `exit_code::FAILURE`: a command that failed.
const EXIT_ERR: i32 = 1;

#[test]
fn set_into_an_undeclared_project_lists_the_declared_ones() {
    let world = World::new();
    let value = canary();
    let args = ["secret", "set", "k", "--project", "analytic"];
    let out = run_with_input(&world, &args, value.as_bytes());
    assert_eq!(out.status.code(), Some(EXIT_ERR), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("project analytic is not declared"), "{err}");
    assert!(
        err.contains("declared projects: analytics, billing"),
        "{err}"
    );
    assert!(!contains(&out.stderr, &value) && !contains(&out.stdout, &value));
    assert!(!stdout(&world.ok(&["secret", "list"])).contains("analytic "));
    let forced = ["secret", "set", "k", "--project", "analytic", "--force"];
    assert!(
        run_with_input(&world, &forced, value.as_bytes())
            .status
            .success()
    );
}

#[test]
fn set_without_a_loadable_tasks_toml_warns_and_stores() {
    let world = World::new();
    std::fs::remove_file(world.config()).unwrap();
    let args = ["secret", "set", "k", "--project", "anything"];
    let out = run_with_input(&world, &args, b"v");
    assert!(out.status.success(), "{}", text(&out));
    assert!(stderr(&out).contains("warning: projects and grants not checked"));
}

#[test]
fn rm_of_a_granted_secret_names_the_grants_and_needs_force() {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", &canary());
    let out = world.run(&["secret", "rm", "posthog-read"]);
    assert_eq!(out.status.code(), Some(EXIT_ERR), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("analytics/posthog-read is still granted to agent(s): support-analysis"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert!(stdout(&world.ok(&["secret", "list"])).contains("posthog-read"));
    world.ok(&["secret", "rm", "posthog-read", "--force"]);
    assert!(!stdout(&world.ok(&["secret", "list"])).contains("posthog-read"));
    world.set_secret("analytics", "ungranted", "v");
    world.ok(&["secret", "rm", "ungranted"]);
}

#[test]
fn a_value_that_is_not_utf8_needs_binary_at_set_and_rotate() {
    let world = World::new();
    let bytes = b"\xff\xfeCANARYbin\x80";
    let set = ["secret", "set", "raw", "--project", "analytics"];
    let out = run_with_input(&world, &set, bytes);
    assert_eq!(out.status.code(), Some(EXIT_ERR), "{}", text(&out));
    assert!(stderr(&out).contains("not UTF-8 text"), "{}", text(&out));
    assert!(stderr(&out).contains("--binary"), "{}", text(&out));
    assert!(!contains(&out.stderr, "CANARYbin"));
    assert!(!stdout(&world.ok(&["secret", "list"])).contains("raw"));
    let binary = ["secret", "set", "raw", "--project", "analytics", "--binary"];
    assert!(run_with_input(&world, &binary, bytes).status.success());
    let rotate = run_with_input(&world, &["secret", "rotate", "raw"], bytes);
    assert_eq!(rotate.status.code(), Some(EXIT_ERR), "{}", text(&rotate));
    let rotate = run_with_input(&world, &["secret", "rotate", "raw", "--binary"], bytes);
    assert!(rotate.status.success(), "{}", text(&rotate));
    assert!(
        run_with_input(&world, &["secret", "rotate", "raw"], b"text")
            .status
            .success()
    );
}
