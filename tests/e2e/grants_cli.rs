//! Grants managed from the CLI: `project add|list`, `agent add|list|rm`,
//! `grant`, `revoke` edit tasks.toml in place (golden files), refuse with
//! a hint what cannot be done, never lose a concurrent change, and record
//! every change with its operator in the audit log first.

use std::os::unix::fs::MetadataExt;

use serde_json::Value;

use crate::harness::{World, stderr, stdout, text};

const GOLDEN_BEFORE: &str = include_str!("golden/grants_before.toml");
const GOLDEN_AFTER: &str = include_str!("golden/grants_after.toml");

fn json_lines(out: &std::process::Output) -> Vec<Value> {
    stdout(out)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// Runs and asserts failure, returning stderr.
fn refused(world: &World, args: &[&str]) -> String {
    let out = world.run(args);
    assert!(!out.status.success(), "{args:?} succeeded:\n{}", text(&out));
    stderr(&out)
}

fn policy_text(world: &World) -> String {
    std::fs::read_to_string(world.config()).unwrap()
}

#[test]
fn every_command_edits_only_its_own_change_and_keeps_comments() {
    let world = World::with_policy(GOLDEN_BEFORE);
    world.set_secret("analytics", "mixpanel", "v");
    let steps: [&[&str]; 5] = [
        &["project", "add", "billing", "--description", "Payments"],
        &[
            "agent",
            "add",
            "reporter",
            "--project",
            "analytics",
            "--description",
            "Weekly report",
        ],
        &[
            "grant",
            "mixpanel",
            "--agent",
            "support-analysis",
            "--expires",
            "2030-01-01T00:00:00Z",
            "--hosts",
            "https://api.mixpanel.com",
            "--approve",
        ],
        &[
            "grant",
            "mixpanel",
            "--agent",
            "single",
            "--expires",
            "never",
        ],
        &[
            "grant",
            "mixpanel",
            "--agent",
            "reporter",
            "--expires",
            "2030-01-01T00:00:00Z",
        ],
    ];
    for step in steps {
        world.ok(step);
    }
    assert_eq!(policy_text(&world), GOLDEN_AFTER);
    // Undoing every grant and the agent gives back the file byte for byte
    // (but for the project, which has no rm).
    for agent in ["support-analysis", "single", "reporter"] {
        world.ok(&["revoke", "mixpanel", "--agent", agent]);
    }
    world.ok(&["agent", "rm", "reporter"]);
    let billing = "\n[projects.billing]\ndescription = \"Payments\"\n";
    assert_eq!(policy_text(&world).replacen(billing, "", 1), GOLDEN_BEFORE);
    world.ok(&["audit", "verify"]);
}

#[test]
fn listings_print_json_lines() {
    let world = World::new();
    world.ok(&["agent", "add", "reporter", "--project", "billing"]);
    let agents = json_lines(&world.ok(&["agent", "list", "--json"]));
    let reporter = agents.iter().find(|a| a["name"] == "reporter").unwrap();
    assert_eq!(reporter["project"], "billing");
    assert_eq!(reporter["grants"], serde_json::json!([]));
    let support = agents
        .iter()
        .find(|a| a["name"] == "support-analysis")
        .unwrap();
    assert_eq!(support["grants"][0], "posthog-read");
    let projects = json_lines(&world.ok(&["project", "list", "--json"]));
    let billing = projects.iter().find(|p| p["name"] == "billing").unwrap();
    assert_eq!(billing["agents"], 2);
    assert_eq!(billing["description"], "Payments");
    let table = stdout(&world.ok(&["agent", "list"]));
    assert!(
        table.contains("reporter") && table.contains("AGENT"),
        "{table}"
    );
}

#[test]
fn a_grant_expires_in_30_days_unless_told_otherwise() {
    let world = World::new();
    world.set_secret("analytics", "mixpanel", "v");
    world.ok(&["grant", "mixpanel", "--agent", "support-analysis"]);
    let grants = json_lines(&world.ok(&["audit", "grants", "--json"]));
    let row = grants.iter().find(|g| g["secret"] == "mixpanel").unwrap();
    let expires = time::OffsetDateTime::parse(
        row["expires"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let days = (expires - time::OffsetDateTime::now_utc()).whole_hours();
    assert!((29 * 24..=30 * 24).contains(&days), "{days} hours");
    // `never` must be written out; a bad value is refused before anything.
    let err = refused(
        &world,
        &[
            "grant",
            "mixpanel",
            "--agent",
            "billing-bot",
            "--expires",
            "soon",
        ],
    );
    assert!(err.contains("never"), "{err}");
}

#[test]
fn errors_name_the_command_that_fixes_them() {
    let world = World::new();
    world.set_secret("billing", "stripe", "v");
    let before = policy_text(&world);
    let cases: [(&[&str], &str); 7] = [
        (
            &["grant", "nope", "--agent", "support-analysis"],
            "runner secret set nope --project analytics",
        ),
        (
            &["grant", "stripe", "--agent", "support-analysis"],
            "runner secret set stripe --project analytics",
        ),
        (
            &["grant", "stripe", "--agent", "ghost"],
            "runner agent add ghost --project",
        ),
        (
            &["revoke", "stripe", "--agent", "support-analysis"],
            "runner audit grants",
        ),
        (
            &["agent", "add", "x", "--project", "nope"],
            "runner project add nope",
        ),
        (
            &["agent", "add", "billing-bot", "--project", "billing"],
            "runner agent list",
        ),
        (&["project", "add", "billing"], "runner project list"),
    ];
    for (args, hint) in cases {
        let err = refused(&world, args);
        assert!(
            err.contains("error:") && err.contains(hint),
            "{args:?}: {err}"
        );
    }
    let err = refused(&world, &["agent", "rm", "ghost"]);
    assert!(err.contains("runner agent list"), "{err}");
    let err = refused(
        &world,
        &[
            "grant",
            "stripe",
            "--agent",
            "billing-bot",
            "--hosts",
            "not a url",
        ],
    );
    assert!(err.contains("hint:"), "{err}");
    let other = refused(&world, &["grant", "stripe", "--agent", "support-analysis"]);
    assert!(other.contains("project billing"), "{other}");
    assert_eq!(
        policy_text(&world),
        before,
        "a refused change wrote the file"
    );
    let changes = [
        "grant.add",
        "grant.revoke",
        "agent.add",
        "agent.rm",
        "project.add",
    ];
    for kind in changes {
        assert!(
            world.records_of(kind).is_empty(),
            "{kind} recorded for a refusal"
        );
    }
}

#[test]
fn the_audit_log_names_the_operator_of_each_change_before_it_takes_effect() {
    let world = World::new();
    world.set_secret("analytics", "mixpanel", "v");
    world.ok(&["agent", "add", "reporter", "--project", "analytics"]);
    world.ok(&[
        "grant",
        "mixpanel",
        "--agent",
        "reporter",
        "--expires",
        "never",
        "--approve",
    ]);
    world.ok(&["revoke", "mixpanel", "--agent", "reporter"]);
    world.ok(&["agent", "rm", "reporter"]);
    world.ok(&["project", "add", "ops"]);
    let my_uid = std::fs::metadata(world.config()).unwrap().uid();
    for kind in [
        "agent.add",
        "grant.add",
        "grant.revoke",
        "agent.rm",
        "project.add",
    ] {
        let records = world.records_of(kind);
        assert_eq!(records.len(), 1, "{kind}");
        let record = &records[0];
        assert_eq!(record["uid"], my_uid, "{record}");
        assert!(!record["user"].as_str().unwrap().is_empty(), "{record}");
        assert!(!record["hostname"].as_str().unwrap().is_empty(), "{record}");
        assert!(
            record["command"].as_str().unwrap().starts_with("runner "),
            "{record}"
        );
    }
    let grant = &world.records_of("grant.add")[0];
    assert_eq!(grant["agent"], "reporter");
    assert_eq!(grant["secret"], "mixpanel");
    assert_eq!(grant["expires"], "never");
    assert_eq!(grant["approve"], true);
    let filtered = stdout(&world.ok(&["audit", "log", "--kind", "grant.add"]));
    assert_eq!(filtered.lines().count(), 1, "{filtered}");
    assert!(filtered.contains("mixpanel to reporter"), "{filtered}");
    let review = json_lines(&world.ok(&["audit", "grants", "--json"]));
    let row = review
        .iter()
        .find(|r| r["secret"] == "posthog-read")
        .unwrap();
    assert!(
        row["granted_by"].as_str().unwrap().contains("by file edit"),
        "{row}"
    );
    world.ok(&["audit", "verify"]);
}

#[test]
fn a_change_that_cannot_be_recorded_is_not_made() {
    let world = World::new();
    world.set_secret("analytics", "mixpanel", "v");
    let before = policy_text(&world);
    // A damaged last record: the writer refuses to append after it.
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(world.audit_path())
        .unwrap();
    std::io::Write::write_all(&mut log, b"{\"torn\":1}\n").unwrap();
    refused(
        &world,
        &["grant", "mixpanel", "--agent", "support-analysis"],
    );
    assert_eq!(policy_text(&world), before);
}

#[test]
fn a_hand_edit_is_recorded_as_policy_change_before_the_next_run() {
    let world = World::new();
    world.exec("hello", "support-analysis", &[]);
    let edited = policy_text(&world)
        .replace(
            "  { secret = \"old-key\", expires = \"2020-01-01T00:00:00Z\" },\n",
            "",
        )
        .replace(
            "grants = [{ secret = \"billing-admin\" }]",
            "grants = [{ secret = \"billing-admin\", expires = \"2031-01-01T00:00:00Z\" }]",
        )
        + "\n[agents.sneaky]\nproject = \"billing\"\ngrants = [{ secret = \"billing-admin\" }]\n";
    std::fs::write(world.config(), edited).unwrap();
    let out = world.exec("hello", "support-analysis", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let records = world.records();
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    let change = kinds
        .iter()
        .rposition(|k| *k == "policy.change")
        .expect("a policy.change");
    assert_eq!(kinds[change + 1], "exec.start", "{kinds:?}");
    let changes = records[change]["changes"].as_str().unwrap();
    for expected in [
        "-grant support-analysis/old-key",
        "~grant billing-bot/billing-admin expires never hosts [] -> expires 2031-01-01T00:00:00Z hosts []",
        "+agent sneaky (project billing)",
        "+grant sneaky/billing-admin expires never",
    ] {
        assert!(
            changes.contains(expected),
            "{expected:?} missing from {changes}"
        );
    }
    assert_eq!(records[change]["command"], "file edit");
    assert_eq!(
        records[change]["uid"],
        std::fs::metadata(world.config()).unwrap().uid()
    );
    // Nothing changed since: the next run records no change.
    world.exec("hello", "support-analysis", &[]);
    assert_eq!(
        world.records_of("policy.change").len(),
        2,
        "first sight + the edit"
    );
    world.ok(&["audit", "verify"]);
}
