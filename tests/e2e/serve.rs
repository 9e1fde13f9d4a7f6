//! `runner serve`: `runner exec` through the daemon gives what a one-shot
//! run gives (stdout, stderr, exit code, audit records); the daemon locks
//! after its idle time and its cap; `--stop` removes the socket; a daemon
//! killed mid-run loses no record of a released value.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

/// A running `runner serve` for a world; killed when dropped.
pub struct Served {
    pub child: Option<Child>,
    pub socket: PathBuf,
}

impl Served {
    /// Starts `runner serve ARGS` and waits until it accepts connections.
    pub fn start(world: &World, args: &[&str]) -> Served {
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        let child = world
            .cmd(&all)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let socket = wait_for_socket(world);
        Served {
            child: Some(child),
            socket,
        }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.as_ref().unwrap().id()).unwrap()
    }

    /// Waits for the daemon to exit; its stderr.
    pub fn wait(&mut self) -> (Option<i32>, String) {
        let out = self.child.take().unwrap().wait_with_output().unwrap();
        (out.status.code(), stderr(&out))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The daemon's socket (under `<home>/run/`: the harness clears
/// XDG_RUNTIME_DIR), once something accepts on it.
pub fn wait_for_socket(world: &World) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let found = std::fs::read_dir(world.home().join("run"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .find(|path| path.extension().is_some_and(|ext| ext == "sock"));
        if let Some(socket) = found
            && std::os::unix::net::UnixStream::connect(&socket).is_ok()
        {
            return socket;
        }
        assert!(Instant::now() < deadline, "runner serve never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A world with the canary stored as analytics/posthog-read, the first
/// sight of tasks.toml already recorded.
fn stocked() -> (World, String) {
    let world = World::new();
    let canary = canary();
    world.set_secret("analytics", "posthog-read", &canary);
    world.exec("hello", "support-analysis", &[]);
    (world, canary)
}

/// The runs every comparison makes: success, a resolution, a denial, the
/// task's own exit code, a trap, an unknown agent.
const RUNS: [(&str, &str, &[&str]); 6] = [
    ("hello", "support-analysis", &["a", "b"]),
    ("probe", "support-analysis", &["get:posthog-read"]),
    ("probe", "support-analysis", &["get:not-granted-key"]),
    ("probe", "support-analysis", &["exit:7"]),
    ("probe", "support-analysis", &["panic"]),
    ("hello", "nobody-such", &[]),
];

/// What a run showed: exit code, stdout, and the kinds and fields of the
/// records it added (ids, times, hashes and durations left out).
fn observe(
    world: &World,
    guest: &str,
    agent: &str,
    args: &[&str],
) -> (Option<i32>, String, Vec<String>) {
    let before = world.records().len();
    let out = world.exec(guest, agent, args);
    let records = observe_records(&world.records()[before..]);
    (out.status.code(), stdout(&out), records)
}

/// The kinds and fields of `records`, with ids, times, hashes and
/// durations left out (they differ between any two runs).
pub fn observe_records(records: &[serde_json::Value]) -> Vec<String> {
    records
        .iter()
        .map(|record| {
            let mut record = record.as_object().unwrap().clone();
            for volatile in [
                "seq",
                "ts",
                "run",
                "prev",
                "hash",
                "mac",
                "duration_ms",
                "log",
            ] {
                record.remove(volatile);
            }
            serde_json::Value::Object(record).to_string()
        })
        .collect()
}

#[test]
fn exec_through_the_daemon_matches_a_one_shot_run() {
    let (world, canary) = stocked();
    let one_shot: Vec<_> = RUNS
        .iter()
        .map(|(g, a, args)| observe(&world, g, a, args))
        .collect();
    let _daemon = Served::start(&world, &[]);
    let served: Vec<_> = RUNS
        .iter()
        .map(|(g, a, args)| observe(&world, g, a, args))
        .collect();
    for ((run, alone), hot) in RUNS.iter().zip(&one_shot).zip(&served) {
        assert_eq!(alone, hot, "{run:?}: one-shot vs through runner serve");
    }
    assert_eq!(served[0].0, Some(0));
    assert_eq!(
        served[1]
            .2
            .iter()
            .filter(|r| r.contains("secret.resolve"))
            .count(),
        1
    );
    // WASI 0.2 carries only success or failure: exit(7) arrives as 1.
    assert_eq!(served[3].0, Some(1));
    assert_eq!(served[4].0, Some(134));
    assert_eq!(served[5].0, Some(126));
    let log = std::fs::read_to_string(world.audit_path()).unwrap();
    assert!(!log.contains(&canary), "the canary reached the audit log");
    assert_eq!(world.run(&["audit", "verify"]).status.code(), Some(0));
}

#[test]
fn stderr_and_refusals_are_the_clients() {
    let (world, canary) = stocked();
    let _daemon = Served::start(&world, &[]);
    let out = world.exec("probe", "support-analysis", &["panic"]);
    assert!(stderr(&out).contains("trapped"), "{}", text(&out));
    let out = world.exec("hello", "nobody-such", &[]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    assert!(stderr(&out).starts_with("error: "), "{}", text(&out));
    assert!(stderr(&out).contains("hint: "), "{}", text(&out));
    let out = world.exec("probe", "support-analysis", &["get:posthog-read"]);
    assert!(!contains(&out.stdout, &canary) && !contains(&out.stderr, &canary));
}

#[test]
fn idle_time_locks_the_daemon_and_the_next_run_fails_with_a_hint() {
    let (world, _) = stocked();
    let _daemon = Served::start(&world, &["--idle", "1s", "--max", "1h"]);
    let out = world.exec("hello", "support-analysis", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::thread::sleep(Duration::from_millis(2_500));
    assert_locked(&world, "no run for 1 s");
}

#[test]
fn the_hard_cap_locks_a_busy_daemon() {
    let (world, _) = stocked();
    let _daemon = Served::start(&world, &["--idle", "1h", "--max", "2s"]);
    // Busy all along: a run every 200 ms never lets it idle.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = world.exec("hello", "support-analysis", &[]);
        if out.status.code() == Some(125) {
            break;
        }
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(Instant::now() < deadline, "the cap never locked the daemon");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_locked(&world, "2 s passed since it was unlocked");
}

fn assert_locked(world: &World, why: &str) {
    let before = world.records().len();
    let out = world.exec("probe", "support-analysis", &["get:posthog-read"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    let said = stderr(&out);
    assert!(
        said.contains("locked the store") && said.contains(why),
        "{said}"
    );
    assert!(
        said.contains("hint: ") && said.contains("runner serve --stop"),
        "{said}"
    );
    assert!(
        world.records()[before..]
            .iter()
            .all(|r| r["kind"] != "secret.resolve"),
        "a locked daemon released a value"
    );
}

#[test]
fn stop_removes_the_socket_and_exec_runs_in_process_again() {
    let (world, _) = stocked();
    let mut daemon = Served::start(&world, &[]);
    let out = world.ok(&["serve", "--stop"]);
    assert!(stdout(&out).contains("stopped"), "{}", text(&out));
    let (code, said) = daemon.wait();
    assert_eq!(code, Some(0), "{said}");
    assert!(!daemon.socket.exists(), "the socket is left behind");
    let out = world.exec("hello", "support-analysis", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let again = world.run(&["serve", "--stop"]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(
        stderr(&again).contains("no runner serve is running"),
        "{}",
        text(&again)
    );
}

#[test]
fn sigterm_stops_the_daemon_and_removes_the_socket() {
    let (world, _) = stocked();
    let mut daemon = Served::start(&world, &[]);
    assert_eq!(unsafe { libc::kill(daemon.pid(), libc::SIGTERM) }, 0);
    let (code, said) = daemon.wait();
    assert_eq!(code, Some(0), "{said}");
    assert!(!daemon.socket.exists());
}

/// Nothing can wake its accept loop through a socket that is gone; the
/// signal still stops it.
#[test]
fn sigterm_stops_a_daemon_whose_socket_was_removed() {
    let (world, _) = stocked();
    let mut daemon = Served::start(&world, &[]);
    std::fs::remove_dir_all(daemon.socket.parent().unwrap()).unwrap();
    assert_eq!(unsafe { libc::kill(daemon.pid(), libc::SIGTERM) }, 0);
    let (code, said) = daemon.wait();
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("runner serve stopped"), "{said}");
}

#[test]
fn killing_the_daemon_mid_run_loses_no_record_of_a_released_value() {
    let (world, canary) = stocked();
    let daemon = Served::start(&world, &[]);
    let before = world.records_of("secret.resolve").len();
    let client = world
        .exec_cmd("hog", "support-analysis", &["get-many:1", "sleep"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The value is released once its record is durable; then the kill.
    let deadline = Instant::now() + Duration::from_secs(60);
    while world.records_of("secret.resolve").len() == before {
        assert!(
            Instant::now() < deadline,
            "the run never resolved its secret"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(unsafe { libc::kill(daemon.pid(), libc::SIGKILL) }, 0);
    let out = client.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    assert!(
        stderr(&out).contains("stopped answering mid-run"),
        "{}",
        text(&out)
    );
    assert!(!contains(&out.stdout, &canary) && !contains(&out.stderr, &canary));
    let resolves = world.records_of("secret.resolve");
    assert_eq!(resolves.len(), before + 1);
    assert_eq!(resolves[before]["secret"], "posthog-read");
    let verify = world.run(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    // A stale socket is no daemon: the next run is in-process.
    let out = world.exec("hello", "support-analysis", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// The daemon holds a store file; a state kept in PostgreSQL is refused
/// before anything is opened.
#[test]
fn a_daemon_is_refused_for_another_state_backend() {
    let world = World::new();
    let policy = "[state]\nbackend = \"postgres\"\n\n[projects.analytics]\n";
    std::fs::write(world.config(), policy).unwrap();
    let out = world.run(&["serve"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("file backend only"), "{}", text(&out));
    assert!(!world.home().join("run").exists(), "a socket dir was made");
}
