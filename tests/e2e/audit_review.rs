//! Review commands on a prepared log: `runner audit grants` (last use, uses,
//! flags) and `runner audit log` filters.

use serde_json::Value;

use crate::harness::*;

/// Runs as both agents, then revokes billing-bot's grant.
fn prepared() -> World {
    let world = World::new();
    for (project, name) in [
        ("analytics", "posthog-read"),
        ("analytics", "old-key"),
        ("billing", "billing-admin"),
    ] {
        world.set_secret(project, name, &canary());
    }
    for _ in 0..2 {
        let out = world.exec("probe", "support-analysis", &["get:posthog-read"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = world.exec("probe", "billing-bot", &["get:billing-admin"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let revoked = POLICY.replace("grants = [{ secret = \"billing-admin\" }]", "grants = []");
    assert_ne!(revoked, POLICY);
    std::fs::write(world.config(), revoked).unwrap();
    world
}

fn json_lines(out: &std::process::Output) -> Vec<Value> {
    assert!(out.status.success(), "{}", stderr(out));
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn row<'a>(rows: &'a [Value], agent: &str, secret: &str) -> &'a Value {
    let found = rows
        .iter()
        .find(|r| r["agent"] == agent && r["secret"] == secret);
    found.unwrap_or_else(|| panic!("no row {agent}/{secret} in {rows:?}"))
}

/// The time of the last resolve of `secret` by `agent`, as every command
/// shows a time: RFC 3339 in UTC to the second.
fn last_resolve(world: &World, agent: &str, secret: &str) -> String {
    let resolves = world.records_of("secret.resolve");
    let last = resolves
        .iter()
        .rev()
        .find(|r| r["agent"] == agent && r["secret"] == secret)
        .unwrap();
    let ts = last["ts"].as_str().unwrap();
    let parsed = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339);
    let rfc = time::format_description::well_known::Rfc3339;
    let parsed = parsed.unwrap();
    parsed.replace_nanosecond(0).unwrap().format(&rfc).unwrap()
}

#[test]
fn grants_show_last_use_counts_and_flags() {
    let world = prepared();
    let rows = json_lines(&world.run(&["audit", "grants", "--json", "--stale", "30d"]));
    let used = row(&rows, "support-analysis", "posthog-read");
    assert_eq!(used["resolutions"], 2);
    assert_eq!(used["flags"], serde_json::json!([]));
    let expected = last_resolve(&world, "support-analysis", "posthog-read");
    assert_eq!(used["last_resolved"], expected.as_str());
    assert_eq!(used["expires"], "2099-01-01T00:00:00Z");
    let old = row(&rows, "support-analysis", "old-key");
    assert_eq!(old["flags"], serde_json::json!(["never-used", "expired"]));
    assert_eq!(old["last_resolved"], Value::Null);
    let missing = row(&rows, "support-analysis", "never-stored");
    assert_eq!(
        missing["flags"],
        serde_json::json!(["never-used", "no-expiry", "missing"])
    );
    let ghost = row(&rows, "billing-bot", "billing-admin");
    assert_eq!(ghost["granted"], false);
    assert_eq!(ghost["resolutions"], 1);
    assert_eq!(ghost["flags"], serde_json::json!(["ghost"]));
    // billing-admin is stored, and after the revoke no grant names it.
    let (ungranted, rows): (Vec<Value>, Vec<Value>) =
        rows.into_iter().partition(|r| r["ungranted"] == true);
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!(ungranted.len(), 1, "{ungranted:?}");
    assert_eq!(ungranted[0]["secret"], "billing-admin");
    // Everything resolved is older than zero minutes.
    let rows = json_lines(&world.run(&["audit", "grants", "--json", "--stale", "0m"]));
    let stale = row(&rows, "support-analysis", "posthog-read");
    assert_eq!(stale["flags"], serde_json::json!(["stale"]));
    let table = stdout(&world.ok(&["audit", "grants"]));
    assert!(table.starts_with("AGENT"), "{table}");
    assert!(table.contains("never-used,no-expiry,missing"), "{table}");
    assert!(table.contains("(not granted)"), "{table}");
    assert!(
        table.contains("stored, granted to no agent: billing/billing-admin"),
        "{table}"
    );
}

#[test]
fn fail_on_exits_1_for_ci_on_the_flags_it_names_only() {
    let world = prepared();
    // old-key expired, never-stored is missing and has no expiry,
    // billing-admin is a ghost: each listed flag fails, naming the grant.
    for (flags, named) in [
        ("expired", "support-analysis/old-key (never-used,expired)"),
        ("missing", "support-analysis/never-stored"),
        ("no-expiry", "support-analysis/never-stored"),
        ("ghost", "billing-bot/billing-admin (ghost)"),
        ("stale,expired", "support-analysis/old-key"),
    ] {
        let out = world.run(&["audit", "grants", "--fail-on", flags]);
        assert_eq!(out.status.code(), Some(1), "{flags}: {}", text(&out));
        assert!(stderr(&out).contains(named), "{flags}: {}", text(&out));
        assert!(stdout(&out).starts_with("AGENT"), "the table still prints");
    }
    // Nothing expires within 7 days; within 100 years posthog-read does.
    let calm = world.run(&["audit", "grants", "--fail-on", "expiring,stale"]);
    assert_eq!(calm.status.code(), Some(0), "{}", text(&calm));
    let args = [
        "audit",
        "grants",
        "--fail-on",
        "expiring",
        "--within",
        "100y",
    ];
    let out = world.run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stderr(&out).contains("support-analysis/posthog-read (expiring)"));
    let bogus = world.run(&["audit", "grants", "--fail-on", "bogus"]);
    assert_eq!(bogus.status.code(), Some(2), "{}", text(&bogus));
    assert!(stderr(&bogus).contains("valid: never-used, stale, expired"));
}

#[test]
fn bad_stale_age_is_a_usage_error() {
    let world = World::new();
    let out = world.run(&["audit", "grants", "--stale", "30 days"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn log_filters_select_exactly_the_matching_records() {
    let world = prepared();
    let all = world.records();
    let log = |args: &[&str]| {
        let mut full = vec!["audit", "log", "--json"];
        full.extend_from_slice(args);
        json_lines(&world.run(&full))
    };
    assert_eq!(log(&[]), all);
    let billing = log(&["--agent", "billing-bot"]);
    let expected: Vec<&Value> = all.iter().filter(|r| r["agent"] == "billing-bot").collect();
    assert_eq!(billing.iter().collect::<Vec<_>>(), expected);
    assert_eq!(billing.len(), 3);
    let resolved = log(&["--secret", "posthog-read", "--outcome", "resolved"]);
    assert_eq!(resolved.len(), 2);
    assert!(resolved.iter().all(|r| r["kind"] == "secret.resolve"));
    let run = billing[0]["run"].as_str().unwrap();
    let of_run = log(&["--run", &run[..8]]);
    assert_eq!(of_run, billing);
    assert!(log(&["--since", "2099-01-01T00:00:00Z"]).is_empty());
    assert_eq!(log(&["--since", "1d"]), all);
    let out = world.run(&["audit", "log", "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let human = stdout(&world.ok(&["audit", "log", "--agent", "billing-bot"]));
    assert_eq!(human.lines().count(), 3, "{human}");
}
