//! What `runner exec` does besides running a component works the same
//! through `runner serve`: scripts (their text travels in the request: the
//! daemon reads no file of the client's), `--json-summary`, the readiness
//! check (a refusal and a warning), SIGINT forwarded to the run, approval
//! questions, which go to the daemon's terminal, and a hand edit of
//! tasks.toml, recorded once before the next run (the daemon reuses what
//! it parsed only while the files stay the same).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::serve::{Served, observe_records};

/// `runner exec TASK --agent AGENT --json-summary=FILE -- ARGS` run from
/// `cwd`, where TASK may be relative; the output and the summary, with
/// what differs between any two runs left out.
fn exec_from(world: &World, cwd: &Path, task: &str, agent: &str, args: &[&str]) -> Observed {
    let summary = world.tmp.path().join("summary.json");
    let flag = format!("--json-summary={}", summary.display());
    let mut all = vec!["exec", task, "--agent", agent, &flag, "--"];
    all.extend_from_slice(args);
    let before = world.records().len();
    let out = world.cmd(&all).current_dir(cwd).output().unwrap();
    let mut summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    for volatile in ["run", "load_ms", "duration_ms", "total_ms"] {
        summary.as_object_mut().unwrap().remove(volatile);
    }
    Observed {
        code: out.status.code(),
        stdout: stdout(&out),
        stderr: stderr(&out),
        records: observe_records(&world.records()[before..]),
        summary,
    }
}

#[derive(Debug, PartialEq)]
struct Observed {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    records: Vec<String>,
    summary: serde_json::Value,
}

const POLICY: &str = r#"
[projects.analytics]

[agents.worker]
project = "analytics"
scripts = "any"
grants = [{ secret = "posthog-read" }, { secret = "never-stored" }]

[agents.lost]
project = "analytics"
dirs = [{ host = "/nonexistent/scopehold-serve", guest = "/data" }]
"#;

/// A world for these tests, the canary stored, the first sight of
/// tasks.toml recorded; a `client` dir (the clients' working dir) holding
/// `hello.wasm`.
fn world() -> (World, String, std::path::PathBuf) {
    let world = World::with_policy(POLICY);
    let canary = canary();
    world.set_secret("analytics", "posthog-read", &canary);
    world.exec("hello", "worker", &[]);
    let client = world.tmp.path().join("client");
    std::fs::create_dir(&client).unwrap();
    std::fs::copy(guest("hello"), client.join("hello.wasm")).unwrap();
    (world, canary, client)
}

/// Runs the same list one-shot and through a daemon, from `cwd`, and
/// asserts that each run showed the same; the daemon's observations. The
/// key file is moved away while the daemon serves: only a run in the
/// daemon, which holds the store unlocked, can still resolve a secret.
fn compare(world: &World, cwd: &Path, runs: &[(&str, &str, &[&str])]) -> Vec<Observed> {
    let observe =
        |(task, agent, args): &(&str, &str, &[&str])| exec_from(world, cwd, task, agent, args);
    let one_shot: Vec<_> = runs.iter().map(observe).collect();
    let _daemon = Served::start(world, &[]);
    let (key, away) = (world.home().join("key"), world.tmp.path().join("key.away"));
    std::fs::rename(&key, &away).unwrap();
    let served: Vec<_> = runs.iter().map(observe).collect();
    std::fs::rename(&away, &key).unwrap();
    for ((run, alone), hot) in runs.iter().zip(&one_shot).zip(&served) {
        assert_eq!(alone, hot, "{run:?}: one-shot vs through runner serve");
    }
    served
}

#[test]
fn summary_readiness_and_relative_paths_match_a_one_shot_run() {
    let (world, canary, client) = world();
    let probe = guest("probe");
    let probe = probe.to_str().unwrap();
    let runs: [(&str, &str, &[&str]); 4] = [
        // Relative to the client's working dir, not the daemon's.
        ("hello.wasm", "worker", &["x"]),
        // A resolution, and the warning about a granted secret not stored.
        (probe, "worker", &["get:posthog-read"]),
        // A grant's directory is missing: refused before the task starts.
        ("hello.wasm", "lost", &[]),
        ("missing.wasm", "worker", &[]),
    ];
    let served = compare(&world, &client, &runs);
    assert_eq!(served[0].stdout, "hello from a ScopeHold task\nargs: x\n");
    assert_eq!(served[1].summary["secrets_resolved"][0], "posthog-read");
    assert!(served[1].stderr.contains("never-stored is not stored"));
    assert_eq!(served[2].code, Some(126));
    assert_eq!(served[2].summary["outcome"], "refused");
    assert!(served[2].records[0].contains("exec.refused"));
    assert_eq!(served[3].code, Some(126));
    for observed in &served {
        assert!(!observed.stdout.contains(&canary) && !observed.stderr.contains(&canary));
    }
    world.ok(&["audit", "verify"]);
}

/// A Python script through the daemon: the same output, records and
/// summary as one-shot, run by relative path from the client's directory.
#[test]
fn a_script_runs_through_the_daemon_from_the_text_the_client_sent() {
    if !crate::scripts::build_interpreters(&[]) {
        return;
    }
    let (world, canary, client) = world();
    let install = world.home().join("interpreters");
    assert!(crate::scripts::build_interpreters(&[
        "--install",
        install.to_str().unwrap()
    ]));
    let script = "import sys\nfrom scopehold import get_secret\n\
                  key = get_secret('posthog-read')\nprint('args', sys.argv[1:], len(key))\n";
    std::fs::write(client.join("job.py"), script).unwrap();
    let served = compare(&world, &client, &[("job.py", "worker", &["a"])]);
    assert_eq!(served[0].code, Some(0), "{:?}", served[0]);
    let length = canary.len();
    assert_eq!(served[0].stdout, format!("args ['a'] {length}\n"));
    assert_eq!(served[0].summary["secrets_resolved"][0], "posthog-read");
    let kept = world
        .home()
        .join("scripts")
        .join(blake3::hash(script.as_bytes()).to_hex().as_str());
    assert_eq!(std::fs::read_to_string(kept).unwrap(), script);
}

#[test]
fn sigint_reaches_a_run_in_the_daemon() {
    let world = crate::limits::hostile_world("limits = { timeout = \"5m\" }");
    world.exec("hello", "hostile", &[]);
    let _daemon = Served::start(&world, &[]);
    let child = world
        .exec_cmd("hog", "hostile", &["sleep"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while world.records_of("exec.start").len() < 2 {
        assert!(Instant::now() < deadline, "the run never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = i32::try_from(child.id()).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out));
    assert!(stderr(&out).contains("received SIGINT"), "{}", text(&out));
    let end = world.records_of("exec.end").pop().unwrap();
    assert_eq!(end["outcome"], "interrupted");
    assert_eq!(end["exit_code"], 130);
    world.ok(&["audit", "verify"]);
}

/// Approval grants ask at the daemon's terminal, never the client's.
#[test]
fn approval_questions_go_to_the_daemons_terminal() {
    let world = World::with_policy(
        "[projects.analytics]\n[agents.careful]\nproject = \"analytics\"\n\
         grants = [{ secret = \"posthog-read\", approve = true }]\n",
    );
    let canary = canary();
    world.set_secret("analytics", "posthog-read", &canary);
    let (mut master, slave) = crate::terminal_input::open_pty();
    let mut serve = world.cmd(&["serve"]);
    serve
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        serve.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let _daemon = Served {
        child: Some(serve.spawn().unwrap()),
        socket: crate::serve::wait_for_socket(&world),
    };
    let client = world
        .exec_cmd("probe", "careful", &["get:posthog-read"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let screen = crate::terminal_input::read_screen_until(&mut master, " s): ");
    let screen = String::from_utf8_lossy(&screen).into_owned();
    assert!(screen.contains("approval needed") && screen.contains("posthog-read"));
    std::io::Write::write_all(&mut master, b"y\n").unwrap();
    let out: Output = client.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("get posthog-read: granted"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("approval needed"), "asked the client");
    assert!(!screen.contains(&canary) && !text(&out).contains(&canary));
    let approvals = world.records_of("secret.approve");
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["outcome"], "allowed");
    drop(slave);
    world.ok(&["audit", "verify"]);
}

/// `runner mcp` runs its tools in its own process whether or not a daemon
/// serves the state dir; with one running, calls still resolve, inject and
/// record as without.
#[test]
fn runner_mcp_works_while_a_daemon_runs() {
    use crate::mcp::{SECRET, Session, assert_absent, result_text, standin, tools_world};
    let key = canary();
    let api = standin(&key);
    let world = tools_world(&api, &key);
    let _daemon = Served::start(&world, &[]);
    let mut session = Session::start(&world);
    let revealed = session.call("reveal", serde_json::json!({}));
    let injected = session.call("inject", serde_json::json!({}));
    let failed = session.call("fails", serde_json::json!({}));
    let seen = session.seen.join("\n");
    assert_absent(&key, &[("an MCP message", &seen)]);
    let text = result_text(&revealed);
    assert!(
        text.contains(&format!("value: [REDACTED:{SECRET}]")),
        "{text}"
    );
    assert!(
        result_text(&injected).contains("inject: status 200"),
        "{injected}"
    );
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    let (status, stderr) = session.finish();
    assert_absent(&key, &[("stderr", &stderr)]);
    assert!(status.success(), "{stderr}");
    assert_eq!(world.records_of("tool.call").len(), 3);
    world.ok(&["audit", "verify"]);
}

/// The daemon keeps what it parsed of tasks.toml and policy.state while
/// their stamps stay the same; a hand edit is still recorded, once, before
/// the next run's start, and an unchanged file records nothing.
#[test]
fn a_hand_edit_is_recorded_once_through_the_daemon() {
    let world = World::new();
    let _daemon = Served::start(&world, &[]);
    let run = || {
        let out = world.exec("hello", "support-analysis", &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    };
    run();
    // Stamps younger than a second are not trusted: past it, the daemon
    // takes both files as it parsed them.
    std::thread::sleep(Duration::from_millis(1100));
    run();
    run();
    let changes = world.records_of("policy.change").len();
    let policy = std::fs::read_to_string(world.config()).unwrap();
    let edited = format!("{policy}\n[agents.newcomer]\nproject = \"analytics\"\n");
    std::fs::write(world.config(), edited).unwrap();
    run();
    let records = world.records();
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    let change = kinds.iter().rposition(|k| *k == "policy.change").unwrap();
    assert_eq!(world.records_of("policy.change").len(), changes + 1);
    assert_eq!(
        &kinds[change..],
        ["policy.change", "exec.start", "exec.end"]
    );
    assert!(
        records[change].to_string().contains("newcomer"),
        "{}",
        records[change]
    );
    std::thread::sleep(Duration::from_millis(1100));
    run();
    run();
    assert_eq!(world.records_of("policy.change").len(), changes + 1);
    world.ok(&["audit", "verify"]);
}
