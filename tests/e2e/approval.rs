//! Approval grants (`approve = true`) through a real pseudo-terminal that
//! is the runner's controlling terminal: the first resolution of the secret
//! in a run waits for a person; allowed, refused and timed out are each
//! recorded as `secret.approve` with who answered; without a terminal the
//! request is denied (`approval-unavailable`). The question shows agent,
//! project, secret, component and run, and never the value.

use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};

use crate::harness::*;
use crate::terminal_input::{open_pty, read_screen_until};

const POLICY: &str = r#"
[projects.analytics]

[agents.careful]
project = "analytics"
grants = [{ secret = "posthog-read", approve = true }, { secret = "plain" }]
"#;

const QUESTION_END: &str = " s): ";

fn world() -> (World, String) {
    let world = World::with_policy(POLICY);
    let canary = canary();
    world.set_secret("analytics", "posthog-read", &canary);
    world.set_secret("analytics", "plain", "plain-value");
    (world, canary)
}

/// `runner exec probe` asking for posthog-read twice, with the pty as its
/// controlling terminal, stdin and stdout (a person's terminal).
fn exec_at_terminal(world: &World, slave: &File, env: &[(&str, &str)]) -> Child {
    let steps = ["get:posthog-read", "get:posthog-read", "get:plain"];
    let mut cmd = world.exec_cmd("probe", "careful", &steps);
    cmd.envs(env.iter().copied())
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

/// Runs the probe at a terminal, answers the question with `typed` (or not
/// at all), and returns everything the screen showed and the run's stderr.
fn run_answering(world: &World, typed: Option<&str>, env: &[(&str, &str)]) -> (String, String) {
    let (mut master, slave) = open_pty();
    let child = exec_at_terminal(world, &slave, env);
    let mut screen = read_screen_until(&mut master, QUESTION_END);
    if let Some(typed) = typed {
        master.write_all(typed.as_bytes()).unwrap();
    }
    screen.extend(read_screen_until(&mut master, "get plain: "));
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    drop(slave);
    (String::from_utf8_lossy(&screen).into_owned(), stderr(&out))
}

fn approvals(world: &World) -> Vec<serde_json::Value> {
    world.records_of("secret.approve")
}

/// The question named the run's agent, project, secret, component and run.
fn assert_question_complete(world: &World, screen: &str) {
    assert_eq!(screen.matches("approval needed").count(), 1, "{screen}");
    let start = &world.records_of("exec.start")[0];
    for shown in [
        "careful",
        "project analytics",
        "posthog-read",
        start["component"].as_str().unwrap(),
        start["run"].as_str().unwrap(),
    ] {
        assert!(
            screen.contains(shown),
            "{shown} not in the question:\n{screen}"
        );
    }
}

fn assert_answered_by_me(approval: &serde_json::Value) {
    let uid = unsafe { libc::getuid() };
    assert_eq!(approval["by_uid"], uid, "{approval}");
    assert!(!approval["by_user"].as_str().unwrap().is_empty());
}

#[test]
fn allowed_at_the_terminal_releases_and_asks_once_per_run() {
    let (world, canary) = world();
    let (screen, err) = run_answering(&world, Some("y\n"), &[]);
    assert_question_complete(&world, &screen);
    assert_eq!(screen.matches(": granted").count(), 3, "{screen}");
    assert!(!screen.contains(&canary) && !err.contains(&canary));
    let approvals = approvals(&world);
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["outcome"], "allowed");
    assert_eq!(approvals[0]["secret"], "posthog-read");
    assert_answered_by_me(&approvals[0]);
    // The approval is in the log before the release.
    let kinds: Vec<_> = world.records().iter().map(|r| r["kind"].clone()).collect();
    let approved = kinds.iter().position(|k| k == "secret.approve").unwrap();
    let resolved = kinds.iter().position(|k| k == "secret.resolve").unwrap();
    assert!(approved < resolved, "{kinds:?}");
    world.ok(&["audit", "verify"]);
}

#[test]
fn refused_at_the_terminal_denies_for_the_rest_of_the_run() {
    let (world, canary) = world();
    let (screen, _) = run_answering(&world, Some("n\n"), &[]);
    assert_question_complete(&world, &screen);
    assert_eq!(
        screen.matches("get posthog-read: Denied").count(),
        2,
        "{screen}"
    );
    // The grant without `approve` is not affected.
    assert!(screen.contains("get plain: granted"), "{screen}");
    assert!(!screen.contains(&canary));
    let approvals = approvals(&world);
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["outcome"], "refused");
    assert_answered_by_me(&approvals[0]);
    let reasons: Vec<_> = world
        .records_of("secret.deny")
        .iter()
        .map(|r| r["reason"].clone())
        .collect();
    assert_eq!(reasons, ["approval-refused", "approval-refused"]);
    assert!(
        world
            .records_of("secret.resolve")
            .iter()
            .all(|r| r["secret"] != "posthog-read")
    );
    world.ok(&["audit", "verify"]);
}

#[test]
fn no_answer_in_time_is_a_refusal() {
    let (world, _) = world();
    let env = [("SCOPEHOLD_APPROVAL_TIMEOUT", "1")];
    let (screen, _) = run_answering(&world, None, &env);
    assert!(screen.contains("(1 s)"), "{screen}");
    assert!(screen.contains("no answer in time"), "{screen}");
    assert_eq!(
        screen.matches("get posthog-read: Denied").count(),
        2,
        "{screen}"
    );
    let approvals = approvals(&world);
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["outcome"], "timed-out");
    let reasons: Vec<_> = world
        .records_of("secret.deny")
        .iter()
        .map(|r| r["reason"].clone())
        .collect();
    assert_eq!(reasons, ["approval-timed-out", "approval-timed-out"]);
}

#[test]
fn without_a_terminal_an_approval_grant_is_denied() {
    let (world, canary) = world();
    let mut cmd = world.exec_cmd("probe", "careful", &["get:posthog-read", "get:plain"]);
    // A new session has no controlling terminal, whatever the test runs in.
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| match libc::setsid() {
            -1 => Err(std::io::Error::last_os_error()),
            _ => Ok(()),
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("get posthog-read: Denied"),
        "{}",
        text(&out)
    );
    assert!(
        stdout(&out).contains("get plain: granted"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(&canary));
    assert!(approvals(&world).is_empty());
    let denials = world.records_of("secret.deny");
    assert_eq!(denials.len(), 1);
    assert_eq!(denials[0]["reason"], "approval-unavailable");
    assert!(stderr(&out).contains("no terminal"), "{}", text(&out));
}

#[test]
fn a_yes_typed_before_the_question_does_not_count() {
    let (world, _) = world();
    let (mut master, slave) = open_pty();
    let env = [("SCOPEHOLD_APPROVAL_TIMEOUT", "1")];
    let child = exec_at_terminal(&world, &slave, &env);
    // Typed at once, long before the runner has compiled and started the
    // task: type-ahead, which the question discards.
    master.write_all(b"y\n").unwrap();
    let mut screen = read_screen_until(&mut master, QUESTION_END);
    screen.extend(read_screen_until(&mut master, "get plain: "));
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let screen = String::from_utf8_lossy(&screen);
    assert!(screen.contains("no answer in time"), "{screen}");
    assert_eq!(approvals(&world)[0]["outcome"], "timed-out");
}

#[test]
fn no_question_waits_past_the_runs_own_timeout() {
    // The 60 s default would outlast the task: the question ends with it.
    let policy = POLICY.replace(
        "project = \"analytics\"\n",
        "project = \"analytics\"\nlimits = { timeout = \"3s\" }\n",
    );
    let world = World::with_policy(&policy);
    world.set_secret("analytics", "posthog-read", &canary());
    world.set_secret("analytics", "plain", "plain-value");
    let (mut master, slave) = open_pty();
    let started = std::time::Instant::now();
    let child = exec_at_terminal(&world, &slave, &[]);
    let screen = read_screen_until(&mut master, QUESTION_END);
    let screen = String::from_utf8_lossy(&screen).into_owned();
    let offered = screen.rsplit('(').next().unwrap();
    let wait: u64 = offered.trim_end_matches(QUESTION_END).parse().unwrap();
    assert!(wait <= 3, "the question offers {wait} s:\n{screen}");
    read_screen_until(&mut master, "no answer in time");
    child.wait_with_output().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(approvals(&world)[0]["outcome"], "timed-out");
    let resolved = world.records_of("secret.resolve");
    assert!(resolved.iter().all(|r| r["secret"] != "posthog-read"));
}
