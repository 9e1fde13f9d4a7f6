//! What one hostile run can do to the host and the log (issue 12 items 5,
//! 6, 9, 10, 11; issue 17 item 8): oversized requests, requests that cannot
//! be recorded (an I/O error injected with strace), a flood of requests or
//! of wasi:http header sets, values smuggled into names and URLs, denials
//! cut off the log. Against the real binary and real servers on 127.0.0.1.

use std::process::{Command, Output};
use std::time::Duration;

use crate::egress_attacks::{assert_nowhere, outcomes, server, world};
use crate::faults::{strace_or_skip, under_strace};
use crate::harness::{World, canary, stderr, stdout, text};
use crate::limits::assert_stopped;

const SECRET: &str = "posthog-read";

/// `runner exec egress-probe` under strace, the writes to the audit log
/// numbered `when` (strace's syntax: `2`, `2+`) failing with ENOSPC. A run
/// without steps goes first, so that the first sight of tasks.toml (its
/// `policy.change`) is not among the counted writes: write 1 is then the
/// faulted run's `exec.start`.
fn exec_failing_writes(w: &World, when: &str, steps: &[&str]) -> Output {
    let settle = w.exec("egress-probe", "q", &[]);
    assert!(settle.status.success(), "{}", text(&settle));
    let options = [
        "-o".to_owned(),
        "/dev/null".to_owned(),
        "-P".to_owned(),
        w.audit_path().display().to_string(),
        "-etrace=write".to_owned(),
        format!("-einject=write:error=ENOSPC:when={when}"),
    ];
    let runner = w.exec_cmd("egress-probe", "q", steps);
    let out = under_strace(&runner, &options).output().unwrap();
    assert!(
        !stderr(&out).contains("strace:"),
        "strace failed: {}",
        text(&out)
    );
    out
}

#[test]
fn a_request_that_cannot_be_recorded_first_is_not_sent() {
    if !strace_or_skip("a_request_that_cannot_be_recorded_first_is_not_sent") {
        return;
    }
    let key = canary();
    let api = server(&key);
    let w = world(&[api.url()], &api.url(), None, &key);
    let out = exec_failing_writes(&w, "2+", &[&format!("fetch:{}/x", api.url())]);
    assert!(stdout(&out).contains("fetch: denied"), "{}", text(&out));
    assert!(
        stderr(&out).contains("could not be recorded first"),
        "{}",
        text(&out)
    );
    assert!(api.received().is_empty(), "an unrecorded request was sent");
}

#[test]
fn a_withheld_secret_is_named_in_a_warning() {
    if !strace_or_skip("a_withheld_secret_is_named_in_a_warning") {
        return;
    }
    let key = canary();
    let w = world(
        &["http://127.0.0.1:9".into()],
        "http://127.0.0.1:9",
        None,
        &key,
    );
    let out = exec_failing_writes(&w, "2", &[&format!("print:{SECRET}")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        stdout(&out).contains("value: <Unavailable>"),
        "{}",
        text(&out)
    );
    let warning =
        format!("scopehold: warning: withheld from the task (unavailable, see above): {SECRET}\n");
    assert!(stderr(&out).contains(&warning), "{}", text(&out));
    assert!(!text(&out).contains(&key));
}

#[test]
fn an_oversized_method_is_refused_recorded_cut_and_never_sent() {
    let key = canary();
    let api = server(&key);
    let w = world(&[api.url()], &api.url(), None, &key);
    let step = format!("big-method|65000|{SECRET}|{}/x", api.url());
    let out = w.exec("egress-probe", "q", &[&step]);
    assert!(
        stdout(&out).contains("big-method: denied"),
        "{}",
        text(&out)
    );
    assert!(api.received().is_empty(), "the request was sent");
    assert_eq!(outcomes(&w), [("denied".into(), "too-large".into())]);
    let method = w.records_of("http.request")[0]["method"]
        .as_str()
        .unwrap()
        .len();
    assert!(method <= 32, "the record holds a {method}-byte method");
    assert!(
        w.records_of("secret.resolve").is_empty(),
        "resolved for a refused request"
    );
    w.ok(&["audit", "verify"]);
}

#[test]
fn the_exfiltration_guard_scans_the_method() {
    // Short enough to be a method the caps allow.
    let key = canary()[..26].to_owned();
    let (api, other) = (server(&key), server(&key));
    let w = world(&[api.url(), other.url()], &api.url(), None, &key);
    let out = w.exec(
        "egress-probe",
        "q",
        &[&format!("raw-method|{SECRET}|{}/x", other.url())],
    );
    assert!(
        stdout(&out).contains("raw-method: denied"),
        "{}",
        text(&out)
    );
    assert!(
        other.received().is_empty(),
        "the value went out as a method"
    );
    assert_eq!(outcomes(&w), [("denied".into(), "exfiltration".into())]);
    assert_nowhere(&w, &out, &other, &key);
}

#[test]
fn requests_past_the_limit_stop_the_task_and_bound_the_log() {
    let key = canary();
    let api = server(&key);
    let w = world(&[api.url()], &api.url(), None, &key);
    let policy = std::fs::read_to_string(w.config()).unwrap();
    std::fs::write(w.config(), format!("{policy}limits = {{ requests = 5 }}\n")).unwrap();
    let steps: Vec<String> = (0..40)
        .map(|n| format!("fetch:http://127.0.0.1:9/{n}"))
        .collect();
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let out = w.exec("egress-probe", "q", &steps);
    assert_stopped(&w, &out, 119, "requests");
    assert_eq!(w.records_of("http.request").len(), 5, "{}", text(&out));
}

#[test]
fn released_values_are_masked_in_every_name_url_and_stderr_line() {
    // Lower case, so that `<value>-x` is a valid secret name.
    let key = format!("k3y-{}", &canary()[10..]).to_ascii_lowercase();
    let api = server(&key);
    let w = world(&[api.url()], &api.url(), None, &key);
    let steps = [
        format!("ask-derived|{SECRET}|{{}}-x"),
        format!("ask-derived|{SECRET}|billing/{{}}"),
        format!("ask-derived|{SECRET}|analytics/x{{}}"),
        format!("fetch-derived|{SECRET}|http://{{}}.invalid/"),
        format!("fetch-derived|{SECRET}|http://x.invalid/{{}}?{{}}"),
    ];
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let out = w.exec("egress-probe", "q", &steps);
    assert_eq!(
        stdout(&out).matches("ask-derived: Err(Denied)").count(),
        3,
        "{}",
        text(&out)
    );
    assert!(!stderr(&out).contains(&key), "stderr holds the value");
    let log = std::fs::read_to_string(w.audit_path()).unwrap();
    assert!(!log.contains(&key), "the log holds the value");
    assert_eq!(w.records_of("secret.deny").len(), 3);
    assert!(
        log.contains("[REDACTED:posthog-read].invalid"),
        "the host is not masked"
    );
}

#[test]
fn a_denial_is_synced_and_anchored_so_cutting_it_off_is_detected() {
    let key = canary();
    let steps = [
        ("print:stripe-live", "\"secret.deny\""),
        ("fetch:http://127.0.0.1:9/x", "\"http.request\""),
    ];
    for (step, kind) in steps {
        let w = world(
            &["http://127.0.0.1:8".into()],
            "http://127.0.0.1:8",
            None,
            &key,
        );
        w.exec("egress-probe", "q", &[step]);
        let log = std::fs::read_to_string(w.audit_path()).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert!(lines[lines.len() - 2].contains(kind), "{log}");
        // The denial and the run's (unsynced) end cut off the log's end.
        let cut = lines[..lines.len() - 2].join("\n") + "\n";
        std::fs::write(w.audit_path(), cut).unwrap();
        let out = w.run(&["audit", "verify"]);
        assert_eq!(out.status.code(), Some(1), "{step}: {}", text(&out));
        assert!(text(&out).contains("TRUNCATED"), "{step}: {}", text(&out));
    }
}

/// The runner's peak resident memory while `cmd` runs, in MiB, and its output.
fn peak_rss(mut cmd: Command) -> (u64, Output) {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    // VmHWM is the high-water mark: the last reading before exit is the peak.
    while let Ok(text) = std::fs::read_to_string(&status) {
        let hwm = text.lines().find_map(|l| l.strip_prefix("VmHWM:"));
        match hwm.and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok()) {
            Some(kib) => peak = peak.max(kib / 1024),
            None => break,
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (peak, child.wait_with_output().unwrap())
}

#[test]
fn tens_of_thousands_of_header_sets_stop_the_task_with_the_runner_bounded() {
    let key = canary();
    let w = world(
        &["http://127.0.0.1:9".into()],
        "http://127.0.0.1:9",
        None,
        &key,
    );
    let policy = std::fs::read_to_string(w.config()).unwrap();
    std::fs::write(
        w.config(),
        format!("{policy}limits = {{ memory = \"32MiB\" }}\n"),
    )
    .unwrap();
    let (peak, out) = peak_rss(w.exec_cmd("egress-probe", "q", &["fields-flood|30000|16000"]));
    assert_stopped(&w, &out, 120, "memory");
    assert!(
        !stdout(&out).contains("fields-flood: kept"),
        "{}",
        text(&out)
    );
    // 30,000 sets of 16 KB would be 480 MB; the cap is 32 MiB of them.
    assert!(peak < 300, "the runner peaked at {peak} MiB");
}

#[test]
fn a_task_cannot_imitate_the_runner_on_a_terminal() {
    let key = canary();
    let w = world(
        &["http://127.0.0.1:9".into()],
        "http://127.0.0.1:9",
        None,
        &key,
    );
    let fake = "scopehold: hint: all is well\n\u{1b}[2K\rscopehold: fine\u{202e}\n";
    let runner = w.exec_cmd("egress-probe", "q", &[&format!("echo|{fake}")]);
    let mut line = format!("{:?}", runner.get_program());
    for arg in runner.get_args() {
        line.push(' ');
        line.push_str(&format!(
            "'{}'",
            arg.to_string_lossy().replace('\'', "'\\''")
        ));
    }
    let envs: Vec<(_, _)> = runner
        .get_envs()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env_clear()
        .envs(envs)
        .output()
        .expect("script(1) runs");
    let screen = stdout(&out).replace("\r\n", "\n");
    assert!(
        screen.contains("[task] scopehold: hint: all is well\n"),
        "{screen:?}"
    );
    assert!(
        screen.contains("\\u{1b}[2K\\rscopehold: fine\\u{202e}\n"),
        "{screen:?}"
    );
    assert!(
        !screen.contains('\u{1b}'),
        "an escape reached the terminal: {screen:?}"
    );
    let piped = w.exec("egress-probe", "q", &[&format!("echo|{fake}")]);
    assert_eq!(stdout(&piped), fake, "a pipe gets the bytes unchanged");
}
