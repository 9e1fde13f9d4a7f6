//! CLI conventions of issue 16, points 10, 12 and 14: one duration grammar
//! (flags and tasks.toml), one timestamp format in all output, one exit
//! class for a missing and a malformed tasks.toml, `exec --json-summary`,
//! and the compile spinner (on a terminal only).

use std::process::{Output, Stdio};

use posthog_standin::Server;

use crate::harness::*;
use crate::terminal_input::{open_pty, read_screen_until};

/// Every time in `text` (`YYYY-MM-DDT...` up to a space, quote, bracket or
/// comma), but the `time=` of a checkpoint line: that is a data format (read
/// back by `audit verify --anchor`), in the log's own microsecond form.
fn times(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let is_date = |i: usize| {
        b.len() >= i + 11
            && b[i..i + 10].iter().enumerate().all(|(k, c)| {
                matches!(k, 4 | 7) == (*c == b'-') && (c.is_ascii_digit() || *c == b'-')
            })
            && b[i + 10] == b'T'
    };
    (0..b.len())
        .filter(|&i| (i == 0 || !b[i - 1].is_ascii_digit()) && is_date(i))
        .filter(|&i| !text[..i].ends_with("time="))
        .map(|i| {
            let end = text[i..]
                .find([' ', '"', ')', ',', '\n'])
                .map_or(text.len(), |n| i + n);
            &text[i..end]
        })
        .collect()
}

#[test]
fn every_command_shows_times_in_one_format() {
    let world = World::new();
    let key = canary();
    world.set_secret("analytics", "posthog-read", &key);
    world.exec("support-analysis", "support-analysis", &[]);
    let wasm = guest("support-analysis");
    let outputs = [
        vec!["audit", "log"],
        vec!["secret", "list"],
        vec!["secret", "list", "--json"],
        vec!["audit", "grants"],
        vec!["audit", "grants", "--json"],
        vec!["audit", "head", "--json"],
        vec!["audit", "verify"],
        vec![
            "explain",
            wasm.to_str().unwrap(),
            "--agent",
            "support-analysis",
        ],
        vec![
            "explain",
            wasm.to_str().unwrap(),
            "--agent",
            "support-analysis",
            "--json",
        ],
    ];
    let mut seen = 0;
    for args in outputs {
        let out = world.run(&args);
        let shown = format!("{}{}", stdout(&out), stderr(&out));
        for time in times(&shown) {
            seen += 1;
            // 2026-01-31T00:00:00Z: UTC, to the second.
            let ok = time.len() == 20 && time.ends_with('Z') && &time[13..14] == ":";
            assert!(ok, "runner {args:?} shows {time:?}:\n{shown}");
        }
    }
    assert!(
        seen > 10,
        "too few times found ({seen}): the scan is broken"
    );
}

#[test]
fn durations_in_tasks_toml_take_the_grammar_of_the_flags() {
    let agent = "[projects.analytics]\n[agents.a]\nproject = \"analytics\"\n";
    let world = World::with_policy(&format!("{agent}limits = {{ timeout = \"1d\" }}\n"));
    let wasm = guest("hello");
    let explain = ["explain", wasm.to_str().unwrap(), "--agent", "a"];
    let out = world.ok(&explain);
    assert!(stdout(&out).contains("24h"), "{}", text(&out));
    std::fs::write(
        world.config(),
        format!("{agent}limits = {{ timeout = \"30x\" }}\n"),
    )
    .unwrap();
    let in_file = stderr(&world.run(&explain));
    let on_flag = stderr(&world.run(&["audit", "log", "--since", "30x"]));
    let grammar = "expected a whole number and a unit (ms, s, m, h, d, w or y)";
    assert!(in_file.contains(grammar), "{in_file}");
    assert!(on_flag.contains(grammar), "{on_flag}");
}

#[test]
fn a_missing_and_a_malformed_tasks_toml_are_one_exit_class() {
    let world = World::new();
    let wasm = guest("hello");
    let wasm = wasm.to_str().unwrap();
    let commands: [&[&str]; 5] = [
        &["exec", wasm, "--agent", "support-analysis"],
        &["explain", wasm, "--agent", "support-analysis"],
        &["agent", "list"],
        &["grant", "posthog-read", "--agent", "support-analysis"],
        &["audit", "grants"],
    ];
    for args in commands {
        std::fs::remove_file(world.config()).unwrap();
        let missing = world.run(args);
        std::fs::write(world.config(), "[agents.x\n").unwrap();
        let malformed = world.run(args);
        let (a, b) = (missing.status.code(), malformed.status.code());
        assert_eq!(
            a,
            b,
            "runner {args:?}:\n{}\n{}",
            text(&missing),
            text(&malformed)
        );
        assert_ne!(a, Some(0), "{}", text(&missing));
        assert!(stderr(&missing).contains("hint: "), "{}", text(&missing));
    }
    std::fs::write(world.config(), POLICY).unwrap();
    assert_eq!(
        world.exec("hello", "support-analysis", &[]).status.code(),
        Some(0)
    );
    std::fs::remove_file(world.config()).unwrap();
    assert_eq!(
        world.exec("hello", "support-analysis", &[]).status.code(),
        Some(125)
    );
}

/// The last line of stderr, as JSON.
fn summary_on_stderr(out: &Output) -> serde_json::Value {
    let err = stderr(out);
    let last = err.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

fn exec_with(world: &World, guest_name: &str, agent: &str, flag: &str, args: &[&str]) -> Output {
    let wasm = guest(guest_name);
    let mut all = vec!["exec", wasm.to_str().unwrap(), "--agent", agent, flag, "--"];
    all.extend_from_slice(args);
    world.run(&all)
}

#[test]
fn json_summary_names_the_run_and_the_secrets_never_their_values() {
    let world = World::new();
    let key = canary();
    world.set_secret("analytics", "posthog-read", &key);
    let out = exec_with(
        &world,
        "support-analysis",
        "support-analysis",
        "--json-summary",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(&key), "the key was shown");
    let summary = summary_on_stderr(&out);
    let start = &world.records_of("exec.start")[0];
    assert_eq!(summary["run"], start["run"]);
    let digest = stdout(&world.ok(&["digest", guest("support-analysis").to_str().unwrap()]));
    let component = summary["component"].as_str().unwrap();
    assert!(digest.contains(component), "{digest} / {summary}");
    assert_eq!(summary["agent"], "support-analysis");
    assert_eq!(summary["project"], "analytics");
    assert_eq!(
        (summary["exit_code"].clone(), summary["outcome"].clone()),
        (0.into(), "exited".into())
    );
    assert_eq!(
        summary["secrets_resolved"],
        serde_json::json!(["posthog-read"])
    );
    assert_eq!(summary["denials"], 1, "billing-admin is denied: {summary}");
    assert_eq!(summary["requests"], 0);
    assert!(
        summary["duration_ms"].is_u64() && summary["load_ms"].is_u64(),
        "{summary}"
    );

    let file = world.tmp.path().join("summary.json");
    let flag = format!("--json-summary={}", file.display());
    let out = exec_with(&world, "support-analysis", "support-analysis", &flag, &[]);
    assert!(!stderr(&out).contains("\"run\""), "{}", text(&out));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        written["secrets_resolved"],
        serde_json::json!(["posthog-read"])
    );
    assert_ne!(written["run"], summary["run"]);
}

#[test]
fn json_summary_of_a_refused_run_says_why() {
    let world = World::new();
    let out = exec_with(&world, "hello", "nobody", "--json-summary", &[]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    let summary = summary_on_stderr(&out);
    assert_eq!(summary["outcome"], "refused");
    assert_eq!(summary["exit_code"], 126);
    assert!(summary["run"].is_null(), "{summary}");
    assert!(
        summary["error"].as_str().unwrap().contains("nobody"),
        "{summary}"
    );
}

#[test]
fn json_summary_counts_the_requests_and_the_injected_secret_stays_out() {
    let key = canary();
    let api = Server::start("127.0.0.1:0", &key).expect("the stand-in server starts");
    let url = api.url();
    let world = World::with_policy(&format!(
        "[projects.analytics]\n[agents.q]\nproject = \"analytics\"\nallowed_hosts = [{url:?}]\n\
         grants = [{{ secret = \"posthog-read\", hosts = [{url:?}] }}]\n"
    ));
    world.set_secret("analytics", "posthog-read", &key);
    let events = format!("inject:posthog-read:{url}/api/projects/1/events");
    let out = exec_with(&world, "egress-probe", "q", "--json-summary", &[&events]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        text(&out).replace(&key, "<KEY>")
    );
    assert!(!text(&out).contains(&key), "the key was shown");
    let summary = summary_on_stderr(&out);
    assert_eq!(summary["requests"], 1, "{summary}");
    // Resolved host-side for the injection: named, though the task never held it.
    assert_eq!(
        summary["secrets_resolved"],
        serde_json::json!(["posthog-read"])
    );
}

/// `runner exec` of a fresh component (compiled, not cached) with stderr on
/// the pty's slave side.
fn exec_at_terminal(world: &World, slave: &std::fs::File) -> std::process::Child {
    let wasm = guest("hello");
    let mut cmd = world.cmd(&[
        "exec",
        wasm.to_str().unwrap(),
        "--agent",
        "support-analysis",
    ]);
    // A terminal's TERM (the harness clears the environment; without it,
    // or with TERM=dumb, no terminal drawing is attempted).
    cmd.env("TERM", "xterm-256color")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(slave.try_clone().unwrap()));
    cmd.spawn().unwrap()
}

#[test]
fn a_spinner_shows_the_compilation_on_a_terminal() {
    let world = World::new();
    let (mut master, slave) = open_pty();
    // A terminal has a size (a new pty's is 0x0, where nothing fits).
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ on a descriptor this test owns, with a valid winsize.
    let set = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&slave),
            libc::TIOCSWINSZ,
            &size,
        )
    };
    assert_eq!(set, 0);
    let child = exec_at_terminal(&world, &slave);
    let screen = read_screen_until(&mut master, "compiling the component");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!screen.is_empty());
}

#[test]
fn nothing_of_the_spinner_reaches_a_pipe() {
    let world = World::new();
    let out = world.exec("hello", "support-analysis", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let err = stderr(&out);
    assert!(!err.contains("compiling"), "{err}");
    assert!(!err.contains('\r') && !err.contains('\u{1b}'), "{err:?}");
}

#[test]
fn the_readable_log_shows_a_rekey_as_a_rekey() {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", "v1");
    world.ok(&["rekey"]);
    world.ok(&["rekey", "--data-key"]);
    let log = stdout(&world.ok(&["audit", "log", "--kind", "store.rekey"]));
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].contains("store.rekey    re-wrapped the data key, protected by a new key file"),
        "{log}"
    );
    assert!(
        lines[1].contains("re-encrypted every secret under a new data key"),
        "{log}"
    );
    // Always keyed: each carries a MAC, and the log verifies.
    assert!(
        world
            .records_of("store.rekey")
            .iter()
            .all(|r| r["mac"].is_string())
    );
    world.ok(&["audit", "verify"]);
}
