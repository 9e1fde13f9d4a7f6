//! Granting and denying secrets through `get-secret`, and what the audit log
//! and the operator see.

use crate::harness::*;

/// A world with the canary stored as analytics/posthog-read, plus secrets that
/// exercise every denial reason.
fn stocked() -> (World, String) {
    let world = World::new();
    let canary = canary();
    world.set_secret("analytics", "posthog-read", &canary);
    world.set_secret("analytics", "old-key", "expired-value");
    world.set_secret("analytics", "not-granted-key", "ungranted-value");
    world.set_secret("billing", "billing-admin", "billing-value");
    (world, canary)
}

#[test]
fn granted_secret_arrives_exactly() {
    let (world, canary) = stocked();
    let out = world.exec("probe", "support-analysis", &["get:posthog-read"]);
    assert!(out.status.success(), "{}", text(&out));
    let expected = blake3::hash(canary.as_bytes()).to_hex();
    let line = format!(
        "get posthog-read: granted {} bytes blake3={expected}",
        canary.len()
    );
    assert!(stdout(&out).contains(&line), "{}", text(&out));

    let resolves = world.records_of("secret.resolve");
    assert_eq!(resolves.len(), 1);
    assert_eq!(resolves[0]["secret"], "posthog-read");
    assert_eq!(resolves[0]["agent"], "support-analysis");
    assert_eq!(resolves[0]["version"], 1);
}

#[test]
fn every_denial_is_denied_with_its_precise_reason() {
    let (world, _canary) = stocked();
    let cases = [
        ("not-granted-key", "not-granted"),
        ("old-key", "expired"),
        ("billing-admin", "other-project"),
        ("billing/billing-admin", "other-project"),
        ("no-such-secret", "unknown-secret"),
    ];
    let args: Vec<String> = cases
        .iter()
        .map(|(name, _)| format!("get:{name}"))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = world.exec("probe", "support-analysis", &args);
    assert!(out.status.success(), "{}", text(&out));
    for (name, _) in cases {
        assert!(
            stdout(&out).contains(&format!("get {name}: Denied")),
            "{name}\n{}",
            text(&out)
        );
    }
    let denials = world.records_of("secret.deny");
    assert_eq!(denials.len(), cases.len());
    for ((name, reason), record) in cases.iter().zip(&denials) {
        let recorded_name = name.rsplit('/').next().unwrap();
        assert_eq!(record["secret"], *recorded_name, "{record}");
        assert_eq!(record["reason"], *reason, "{record}");
        assert!(!record["detail"].as_str().unwrap().is_empty());
    }
    assert!(world.records_of("secret.resolve").is_empty());
}

#[test]
fn operator_sees_the_reason_and_the_line_to_add() {
    let (world, _canary) = stocked();
    let out = world.exec("probe", "support-analysis", &["get:not-granted-key"]);
    let err = stderr(&out);
    assert!(
        err.contains("not-granted-key denied to agent support-analysis"),
        "{err}"
    );
    assert!(err.contains("{ secret = \"not-granted-key\" }"), "{err}");
}

#[test]
fn canary_never_leaves_custody() {
    let (world, canary) = stocked();
    let out = world
        .cmd(&[
            "exec",
            guest("support-analysis").to_str().unwrap(),
            "--agent",
            "support-analysis",
        ])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "support-analysis failed with {:?}",
        out.status
    );
    assert!(
        stdout(&out).contains("posthog-read: resolved"),
        "{}",
        stdout(&out)
    );
    assert!(
        !contains(&out.stderr, &canary),
        "canary on the runner's stderr at trace level"
    );
    assert!(!contains(&out.stdout, &canary), "canary on stdout");
    for (path, bytes) in world.state_bytes() {
        assert!(
            !contains(&bytes, &canary),
            "canary in plaintext in {}",
            path.display()
        );
    }
    let listed = world.ok(&["secret", "list"]);
    assert!(!contains(&listed.stdout, &canary) && !contains(&listed.stderr, &canary));
    let log = world.ok(&["audit", "log"]);
    assert!(!contains(&log.stdout, &canary));
}

#[test]
fn a_value_used_as_a_name_is_not_written_to_the_log() {
    let (world, canary) = stocked();
    let out = world.exec("probe", "support-analysis", &["get-as-name:posthog-read"]);
    assert!(
        stdout(&out).contains("get-as-name posthog-read: Denied"),
        "{}",
        stdout(&out)
    );
    assert!(!contains(
        &std::fs::read(world.audit_path()).unwrap(),
        &canary
    ));
    assert!(!contains(&out.stderr, &canary), "canary echoed on stderr");
    let denials = world.records_of("secret.deny");
    assert_eq!(denials[0]["reason"], "value-as-name");
}

#[test]
fn support_analysis_example_resolves_and_shows_a_denial() {
    let (world, canary) = stocked();
    let out = world.exec("support-analysis", "support-analysis", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = stdout(&out);
    let summary = format!(
        "posthog-read: resolved ({} bytes, PostHog key prefix: yes)",
        canary.len()
    );
    assert!(shown.contains(&summary), "{shown}");
    assert!(shown.contains("billing-admin: denied"), "{shown}");
    let kinds: Vec<String> = world
        .records()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_owned())
        .collect();
    let run_kinds = &kinds[kinds.len() - 4..];
    assert_eq!(
        run_kinds,
        ["exec.start", "secret.resolve", "secret.deny", "exec.end"]
    );
}

#[test]
fn rotated_secret_resolves_its_new_version() {
    let (world, _canary) = stocked();
    let rotate = run_with_input(
        &world,
        &["secret", "rotate", "posthog-read"],
        b"phc_rotated\n",
    );
    assert!(rotate.status.success(), "{}", text(&rotate));
    let out = world.exec("probe", "support-analysis", &["get:posthog-read"]);
    let expected = blake3::hash(b"phc_rotated").to_hex();
    assert!(
        stdout(&out).contains(&format!("blake3={expected}")),
        "{}",
        text(&out)
    );
    assert_eq!(world.records_of("secret.resolve")[0]["version"], 2);
}

/// A secret removed while still granted: the next run is warned before it
/// starts (`readiness.rs`) and denied it when it asks.
#[test]
fn removed_secret_is_denied() {
    let (world, _canary) = stocked();
    world.ok(&["secret", "rm", "posthog-read", "--force"]);
    let out = world.exec("probe", "support-analysis", &["get:posthog-read"]);
    assert!(
        stdout(&out).contains("get posthog-read: Denied"),
        "{}",
        text(&out)
    );
    assert!(
        stderr(&out).contains("warning: the granted secret analytics/posthog-read is not stored"),
        "{}",
        text(&out)
    );
    assert_eq!(world.records_of("secret.deny")[0]["reason"], "not-stored");
    assert_eq!(world.records_of("secret.remove").len(), 1);
}

#[test]
fn exit_code_and_run_records() {
    let world = World::new();
    // Its grant must be stored, or the run is refused before it starts.
    world.set_secret("analytics", "posthog-read", &canary());
    // WASI 0.2's `exit` carries success or failure only: any non-zero code is 1.
    let out = world.exec("probe", "support-analysis", &["exit:7"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let start = &world.records_of("exec.start")[0];
    let end = &world.records_of("exec.end")[0];
    assert_eq!(start["run"], end["run"]);
    assert_eq!(end["exit_code"], 1);
    let ok = world.exec("probe", "support-analysis", &["exit:0"]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert_eq!(end["outcome"], "exited");
    let wasm = std::fs::read(guest("probe")).unwrap();
    assert_eq!(start["component"], blake3::hash(&wasm).to_hex().as_str());
    let policy = std::fs::read(world.config()).unwrap();
    assert_eq!(start["policy"], blake3::hash(&policy).to_hex().as_str());
}

#[test]
fn hello_runs_with_arguments() {
    let world = World::new();
    let out = world.exec("hello", "support-analysis", &["a", "b c"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("hello from a ScopeHold task"));
    assert!(stdout(&out).contains("args: a b c"));
}

#[test]
fn concurrent_runs_share_the_log_safely() {
    let (world, _canary) = stocked();
    let steps = ["get:posthog-read", "get:old-key", "get:posthog-read"];
    let children: Vec<_> = (0..6)
        .map(|_| {
            world
                .exec_cmd("probe", "support-analysis", &steps)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    // Each run records its first get; the second is a repeat in exec.end.
    assert_eq!(world.records_of("secret.resolve").len(), 6);
    let ends = world.records_of("exec.end");
    assert!(ends.iter().all(|end| end["repeats"] == 1), "{ends:?}");
    assert_eq!(world.records_of("secret.deny").len(), 6);
    let out = world.ok(&["audit", "verify"]);
    assert!(
        stdout(&out).contains("result: INTACT (anchored)"),
        "{}",
        text(&out)
    );
}
