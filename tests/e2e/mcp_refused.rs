//! Calls of `runner mcp` that do not run (an unknown tool, a tool that may
//! not run, a run the exec operation refuses) are answered with a proper
//! error, leave the server healthy, and each leave a `tool.refused` record
//! that `audit verify` and `audit log` handle.

use serde_json::{Value, json};

use crate::harness::canary;
use crate::mcp::{Session, result_text, standin, tools_world};

#[test]
fn unknown_and_unavailable_tools_are_refused() {
    let key = canary();
    let api = standin(&key);
    let world = tools_world(&api, &key);
    let mut session = Session::start(&world);
    let unknown = session.call("rotate-secret", json!({}));
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown tool")
    );
    let locked = session.call("locked", json!({}));
    assert_eq!(locked["error"]["code"], -32602, "{locked}");
    let message = locked["error"]["message"].as_str().unwrap();
    assert!(message.contains("may not run as agent locked"), "{message}");
    // Listed, but the exec operation refuses its run (a missing directory).
    let nodir = session.call("nodir", json!({}));
    let message = nodir["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("/nonexistent-scopehold-dir"), "{nodir}");
    assert_eq!(world.records_of("exec.refused")[0]["reason"], "missing-dir");
    assert!(world.records_of("exec.start").is_empty(), "nothing ran");
    let fine = session.call("echo", json!({"text": "ok"}));
    assert!(result_text(&fine).contains("ok"), "{fine}");
    session.finish();
    let refused = world.records_of("tool.refused");
    let reasons: Vec<(&Value, &Value, &Value)> = refused
        .iter()
        .map(|r| (&r["tool"], &r["as_agent"], &r["reason"]))
        .collect();
    assert_eq!(
        reasons,
        [
            (&json!("rotate-secret"), &json!(""), &json!("unknown-tool")),
            (&json!("locked"), &json!("locked"), &json!("unavailable")),
            (&json!("nodir"), &json!("nodir"), &json!("not-started")),
        ]
    );
    assert!(world.ok(&["audit", "verify"]).status.success());
    let log = world.ok(&["audit", "log"]);
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.contains(
            "tool.refused   tool rotate-secret agent  client scopehold-e2e 7.7 unknown-tool"
        ),
        "{log}"
    );
}

/// A hostile tool name is recorded clipped, and a call while tasks.toml
/// cannot be loaded is still answered and recorded.
#[test]
fn huge_names_and_a_broken_policy_are_recorded_too() {
    let key = canary();
    let api = standin(&key);
    let world = tools_world(&api, &key);
    let mut session = Session::start(&world);
    let huge = format!("x{}", "\u{202e}y".repeat(50_000));
    let unknown = session.call(&huge, json!({}));
    assert_eq!(unknown["error"]["code"], -32602, "an error");
    let policy = std::fs::read_to_string(world.config()).unwrap();
    std::fs::write(world.config(), "[agents.q\n").unwrap();
    let broken = session.call("echo", json!({"text": "while broken"}));
    let message = broken["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("cannot load tasks.toml"), "{broken}");
    std::fs::write(world.config(), policy).unwrap();
    let fine = session.call("echo", json!({"text": "repaired"}));
    assert!(result_text(&fine).contains("repaired"), "{fine}");
    let (status, stderr) = session.finish();
    assert!(status.success(), "{stderr}");
    let refused = world.records_of("tool.refused");
    assert_eq!(refused.len(), 2, "{refused:?}");
    let clipped = refused[0]["tool"].as_str().unwrap();
    assert!(clipped.chars().count() <= 515, "{} chars", clipped.len());
    assert_eq!(refused[0]["reason"], "unknown-tool");
    assert_eq!(refused[1]["tool"], "echo");
    assert_eq!(refused[1]["reason"], "bad-policy");
    assert!(world.ok(&["audit", "verify"]).status.success());
}
