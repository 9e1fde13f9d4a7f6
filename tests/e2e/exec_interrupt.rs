//! SIGINT and SIGTERM during `exec` stop the task (a tight loop or a host
//! call that waits), record `exec.end` with outcome `interrupted` and exit
//! 130 or 143 as a shell would; a run killed outright leaves an `exec.start`
//! without an end, which `audit log` marks as unfinished.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::limits::hostile_world;

/// Starts the hog with `step` and waits until its `exec.start` is recorded
/// (the signal handler is in place before that record is written), the
/// `nth` one in the log.
fn start(world: &World, step: &str, nth: usize) -> Child {
    let child = world
        .exec_cmd("hog", "hostile", &[step])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while world.records_of("exec.start").len() < nth {
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).unwrap();
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

fn interrupted(step: &str, sig: i32, code: i32, name: &str) {
    let world = hostile_world("limits = { timeout = \"5m\" }");
    let child = start(&world, step, 1);
    let sent = Instant::now();
    signal(&child, sig);
    let out = child.wait_with_output().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(30),
        "the task was not stopped"
    );
    assert_eq!(out.status.code(), Some(code), "{}", text(&out));
    assert!(
        stderr(&out).contains(&format!("received {name}")),
        "{}",
        stderr(&out)
    );
    let ends = world.records_of("exec.end");
    assert_eq!(ends.len(), 1, "{}", text(&out));
    assert_eq!(ends[0]["outcome"], "interrupted");
    assert_eq!(ends[0]["exit_code"], code);
    let shown = stdout(&world.ok(&["audit", "log"]));
    assert!(!shown.contains("unfinished"), "{shown}");
    let verify = world.run(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", stdout(&verify));
}

#[test]
fn sigint_stops_a_spinning_task_and_records_its_end() {
    interrupted("spin", libc::SIGINT, 130, "SIGINT");
}

#[test]
fn sigterm_stops_a_sleeping_task_and_records_its_end() {
    interrupted("sleep", libc::SIGTERM, 143, "SIGTERM");
}

#[test]
fn a_killed_run_is_marked_unfinished() {
    let world = hostile_world("limits = { timeout = \"5m\" }");
    let done = world.exec("hog", "hostile", &["print:1"]);
    assert!(done.status.success(), "{}", text(&done));
    let mut child = start(&world, "sleep", 2);
    child.kill().unwrap();
    child.wait().unwrap();
    let shown = stdout(&world.ok(&["audit", "log"]));
    let starts: Vec<&str> = shown.lines().filter(|l| l.contains("exec.start")).collect();
    assert_eq!(starts.len(), 2, "{shown}");
    assert!(!starts[0].contains("unfinished"), "{shown}");
    assert!(starts[1].contains("unfinished (no exec.end"), "{shown}");
    // The JSON view is the log as stored, unmarked.
    let json = stdout(&world.ok(&["audit", "log", "--json"]));
    assert!(!json.contains("unfinished"));
}
