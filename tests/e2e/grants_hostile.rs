//! Hostile input to the grant commands (T4): text that tries to break out
//! of its TOML string, terminal escapes in descriptions, hosts that are not
//! destinations, a policy file with another mode. The file must still load,
//! hold exactly what was asked, and keep its mode.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::harness::{World, stderr, stdout, text};

fn policy_text(world: &World) -> String {
    std::fs::read_to_string(world.config()).unwrap()
}

#[test]
fn a_description_cannot_break_out_of_its_string() {
    let world = World::new();
    let evil = "x\"\n[agents.evil]\nproject = \"analytics\"\ngrants = [{ secret = \"posthog-read\" }]\n#\u{1b}[31m\u{202e}";
    world.ok(&[
        "agent",
        "add",
        "reporter",
        "--project",
        "analytics",
        "--description",
        evil,
    ]);
    let out = world.ok(&["agent", "list", "--json"]);
    let agents: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(agents.iter().all(|a| a["name"] != "evil"), "{agents:?}");
    let reporter = agents.iter().find(|a| a["name"] == "reporter").unwrap();
    assert_eq!(reporter["description"], evil, "stored exactly");
    let table = stdout(&world.ok(&["agent", "list"]));
    assert!(
        !table.contains('\u{1b}') && !table.contains('\u{202e}'),
        "{table:?}"
    );
    let record = &world.records_of("agent.add")[0];
    assert_eq!(record["description"], evil);
    let log = stdout(&world.ok(&["audit", "log", "--kind", "agent.add"]));
    assert!(!log.contains('\u{1b}'), "{log:?}");
    world.ok(&["audit", "verify"]);
}

#[test]
fn names_and_hosts_are_validated_before_anything_is_written() {
    let world = World::new();
    world.set_secret("analytics", "mixpanel", "v");
    let before = policy_text(&world);
    let records = world.records().len();
    for args in [
        &["agent", "add", "Evil\u{1b}", "--project", "analytics"][..],
        &["agent", "add", "a]\n[x", "--project", "analytics"],
        &["grant", "../mixpanel", "--agent", "support-analysis"],
        &[
            "grant",
            "mixpanel",
            "--agent",
            "support-analysis",
            "--hosts",
            "https://a.com\"]",
        ],
        &[
            "grant",
            "mixpanel",
            "--agent",
            "support-analysis",
            "--expires",
            "2030-13-45",
        ],
        &["project", "add", ""],
    ] {
        let out = world.run(args);
        assert!(!out.status.success(), "{args:?}:\n{}", text(&out));
        assert!(
            !stderr(&out).contains('\u{1b}'),
            "{args:?} echoed an escape"
        );
    }
    assert_eq!(policy_text(&world), before);
    assert_eq!(world.records().len(), records, "a refusal was recorded");
}

#[test]
fn the_policy_file_keeps_its_mode() {
    let world = World::new();
    world.set_secret("analytics", "mixpanel", "v");
    let mode = std::fs::Permissions::from_mode(0o640);
    std::fs::set_permissions(world.config(), mode).unwrap();
    world.ok(&["grant", "mixpanel", "--agent", "support-analysis"]);
    let meta = std::fs::metadata(world.config()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    // `exec` still accepts it (not writable by others, ours).
    let out = world.exec("hello", "support-analysis", &[]);
    assert!(out.status.success(), "{}", text(&out));
}
