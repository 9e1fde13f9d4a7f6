//! The same WIT contract from Python (componentize-py) and JavaScript
//! (componentize-js): the support-analysis task in each language runs under
//! the Rust task's agent with the same outcomes and the same audit records,
//! and gets no more ambient authority than the Rust probe.
//!
//! The components are built by examples/{python,js}-support-analysis/build.sh
//! (tools installed from PyPI / npm into target/polyglot-tools on first use).
//! When a registry is unreachable (build.sh exits 3) these tests print a SKIP
//! line with the reason and pass; any other build failure fails them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use posthog_standin::Server;

use crate::harness::*;

/// Exit status of build.sh when the package registry is unreachable.
const REGISTRY_UNREACHABLE: i32 = 3;

/// The non-Rust tasks, by example directory name.
const LANGUAGES: [&str; 2] = ["python-support-analysis", "js-support-analysis"];

/// The built component of `example`, or `None` (with the reason printed)
/// when its tools cannot be installed.
fn component(example: &'static str) -> Option<PathBuf> {
    static BUILT: OnceLock<Vec<(&'static str, Option<PathBuf>)>> = OnceLock::new();
    let built = BUILT.get_or_init(|| LANGUAGES.iter().map(|&name| (name, build(name))).collect());
    let (_, wasm) = built.iter().find(|(name, _)| *name == example).unwrap();
    if wasm.is_none() {
        println!("SKIP {example}: its build tools could not be installed (registry unreachable)");
    }
    wasm.clone()
}

fn build(example: &str) -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let script = workspace.join("examples").join(example).join("build.sh");
    let out = Command::new(&script).output().expect("build.sh runs");
    if out.status.code() == Some(REGISTRY_UNREACHABLE) {
        println!("SKIP {example}:\n{}", stderr(&out));
        return None;
    }
    assert!(
        out.status.success(),
        "{} failed:\n{}",
        script.display(),
        text(&out)
    );
    Some(workspace.join(format!("target/guests/polyglot/{example}.wasm")))
}

/// `runner exec WASM --agent support-analysis -- ARGS`.
fn exec(world: &World, wasm: &Path, args: &[&str]) -> Output {
    let mut all = vec![
        "exec",
        wasm.to_str().unwrap(),
        "--agent",
        "support-analysis",
        "--",
    ];
    all.extend_from_slice(args);
    world.run(&all)
}

/// FNV-1a, 64-bit: the checksum the Python and JS probes print.
fn fnv1a64(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// A world with the canary as analytics/posthog-read and billing-admin in
/// another project, as in exec_secrets.rs.
fn stocked() -> (World, String) {
    let world = World::new();
    let canary = canary();
    world.set_secret("analytics", "posthog-read", &canary);
    world.set_secret("billing", "billing-admin", "billing-value");
    (world, canary)
}

/// The kinds of the audit records written since `from`.
fn kinds_since(world: &World, from: usize) -> Vec<String> {
    let records = world.records();
    records[from..]
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_language_has_the_same_outcome_and_audit_trail() {
    let (world, canary) = stocked();
    // A first run records the first sight of tasks.toml (policy.change);
    // the trails compared below are those of later runs.
    let settle = exec(&world, &guest("support-analysis"), &[]);
    assert!(settle.status.success(), "{}", text(&settle));
    let mut tasks = vec![("rust", guest("support-analysis"))];
    for example in LANGUAGES {
        tasks.extend(component(example).map(|wasm| (example, wasm)));
    }
    let summary = format!(
        "posthog-read: resolved ({} bytes, PostHog key prefix: yes)",
        canary.len()
    );
    for (language, wasm) in tasks {
        let before = world.records().len();
        let out = exec(&world, &wasm, &[]);
        let shown = text(&out).replace(&canary, "<CANARY>");
        assert!(out.status.success(), "{language}: {shown}");
        assert!(stdout(&out).contains(&summary), "{language}: {shown}");
        assert!(
            stdout(&out).contains("billing-admin: denied, as expected"),
            "{language}: {shown}"
        );
        assert!(
            !contains(&out.stdout, &canary) && !contains(&out.stderr, &canary),
            "{language} printed the canary"
        );
        let kinds = kinds_since(&world, before);
        assert_eq!(
            kinds,
            ["exec.start", "secret.resolve", "secret.deny", "exec.end"],
            "{language}"
        );
        let records = world.records();
        let (resolve, deny) = (&records[before + 1], &records[before + 2]);
        assert_eq!(resolve["secret"], "posthog-read", "{language}");
        assert_eq!(resolve["agent"], "support-analysis", "{language}");
        assert_eq!(deny["secret"], "billing-admin", "{language}");
        assert_eq!(deny["reason"], "other-project", "{language}");
        let wasm_bytes = std::fs::read(&wasm).unwrap();
        assert_eq!(
            records[before]["component"],
            blake3::hash(&wasm_bytes).to_hex().as_str(),
            "{language}"
        );
    }
    assert!(!contains(
        &std::fs::read(world.audit_path()).unwrap(),
        &canary
    ));
}

#[test]
fn python_task_receives_the_granted_value_exactly() {
    granted_value_arrives_exactly("python-support-analysis");
}

#[test]
fn js_task_receives_the_granted_value_exactly() {
    granted_value_arrives_exactly("js-support-analysis");
}

fn granted_value_arrives_exactly(example: &'static str) {
    let Some(wasm) = component(example) else {
        return;
    };
    let (world, canary) = stocked();
    let out = exec(
        &world,
        &wasm,
        &[
            "get:posthog-read",
            "get:billing-admin",
            "get:no-such-secret",
        ],
    );
    let shown = text(&out).replace(&canary, "<CANARY>");
    assert!(out.status.success(), "{shown}");
    let line = format!(
        "get posthog-read: granted {} bytes fnv1a64={}",
        canary.len(),
        fnv1a64(canary.as_bytes())
    );
    assert!(stdout(&out).contains(&line), "{shown}");
    assert!(
        stdout(&out).contains("get billing-admin: Denied"),
        "{shown}"
    );
    assert!(
        stdout(&out).contains("get no-such-secret: Denied"),
        "{shown}"
    );
    let reasons: Vec<_> = world
        .records_of("secret.deny")
        .iter()
        .map(|r| r["reason"].clone())
        .collect();
    assert_eq!(reasons, ["other-project", "unknown-secret"]);
    assert_eq!(world.records_of("secret.resolve").len(), 1);
}

#[test]
fn python_task_gets_no_env_files_or_sockets() {
    no_ambient_authority("python-support-analysis");
}

#[test]
fn js_task_gets_no_env_files_or_sockets() {
    no_ambient_authority("js-support-analysis");
}

/// The hostile-input expectations of sandbox_isolation.rs, for `example`.
fn no_ambient_authority(example: &'static str) {
    let Some(wasm) = component(example) else {
        return;
    };
    let world = World::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let steps = [
        "env".to_owned(),
        "read:/etc/hostname".to_owned(),
        "read:/etc/passwd".to_owned(),
        format!("read:{}", world.home().join("audit.jsonl").display()),
        "list:/".to_owned(),
        "list:.".to_owned(),
        format!("connect:{}", listener.local_addr().unwrap()),
        "connect:1.1.1.1:443".to_owned(),
    ];
    let args: Vec<&str> = steps.iter().map(String::as_str).collect();
    let mut cmd = world.cmd(&[
        "exec",
        wasm.to_str().unwrap(),
        "--agent",
        "support-analysis",
        "--",
    ]);
    let out = cmd
        .args(&args)
        .env("SCOPEHOLD_TEST_LEAK", "leaked-env-value")
        .env("AWS_SECRET_ACCESS_KEY", "leaked-aws")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let shown = stdout(&out);
    assert!(shown.contains("env: 0 vars []"), "{}", text(&out));
    assert!(!shown.contains("leaked"), "{shown}");
    for step in &steps[1..] {
        let (verb, target) = step.split_once(':').unwrap();
        assert!(
            shown.contains(&format!("{verb} {target}: error")),
            "{step} was allowed:\n{shown}"
        );
    }
    assert!(!shown.contains(": ok"), "{shown}");
    assert!(
        listener.accept().is_err(),
        "the task reached the host's listener"
    );
}

#[test]
fn python_task_injects_a_key_it_never_holds() {
    injects_a_key_it_never_holds("python-support-analysis");
}

#[test]
fn js_task_injects_a_key_it_never_holds() {
    injects_a_key_it_never_holds("js-support-analysis");
}

/// Injection mode: the task sends a placeholder, the bound host receives the
/// key, an unlisted host is refused, and the task never sees the key.
fn injects_a_key_it_never_holds(example: &'static str) {
    let Some(wasm) = component(example) else {
        return;
    };
    let key = canary();
    let api = Server::start("127.0.0.1:0", &key).expect("the stand-in server starts");
    let policy = format!(
        "[projects.analytics]\n\n[agents.q]\nproject = \"analytics\"\n\
         allowed_hosts = [\"{0}\"]\ngrants = [{{ secret = \"posthog-read\", hosts = [\"{0}\"] }}]\n",
        api.url()
    );
    let world = World::with_policy(&policy);
    world.set_secret("analytics", "posthog-read", &key);
    let bound = format!("inject:posthog-read:{}/api/projects/1/events", api.url());
    let unlisted = "inject:posthog-read:http://127.0.0.2:9/api/projects/1/events";
    let args = [
        "exec",
        wasm.to_str().unwrap(),
        "--agent",
        "q",
        "--",
        &bound,
        unlisted,
    ];
    let out = world.run(&args);
    let shown = text(&out).replace(&key, "<CANARY>");
    assert!(out.status.success(), "{shown}");
    assert!(stdout(&out).contains("inject: status 200"), "{shown}");
    assert!(stdout(&out).contains("inject: error"), "{shown}");
    assert!(
        !shown.contains("<CANARY>"),
        "the task's output holds the key:\n{shown}"
    );
    let received = api.received();
    assert_eq!(received.len(), 1, "only the bound request is sent");
    let injected = received[0].header("authorization") == Some(&format!("Bearer {key}"));
    assert!(injected, "the server did not receive the injected key");
    // The sent request is recorded before it goes out (`sending`), then
    // with its answer; the denied one once.
    let requests = world.records_of("http.request");
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0]["reason"], "sending");
    assert_eq!(requests[0]["injected"], "posthog-read");
    assert_eq!(requests[1]["injected"], "posthog-read");
    assert_eq!(requests[1]["status"], 200);
    assert_eq!(requests[2]["decision"], "denied");
}

#[test]
fn python_task_exception_is_a_traceback_and_exit_1() {
    exception_is_reported_at_the_task_boundary("python-support-analysis");
}

#[test]
fn js_task_exception_is_a_stack_and_exit_1() {
    exception_is_reported_at_the_task_boundary("js-support-analysis");
}

/// An uncaught exception in a built task is caught at the task boundary:
/// the language's own report and exit 1, never a trap or a wasm backtrace.
fn exception_is_reported_at_the_task_boundary(example: &'static str) {
    let Some(wasm) = component(example) else {
        return;
    };
    let (world, _) = stocked();
    let out = exec(&world, &wasm, &["raise:deliberate failure"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("Error: deliberate failure"), "{err}");
    let frame = match example {
        "python-support-analysis" => "in fail",
        _ => "fail@",
    };
    assert!(err.contains(frame), "{err}");
    for bad in ["wasm backtrace", "trapped", "panicked"] {
        assert!(!err.contains(bad), "{bad:?} in:\n{err}");
    }
    let ends = world.records_of("exec.end");
    assert_eq!(ends.last().unwrap()["outcome"], "exited");
}
