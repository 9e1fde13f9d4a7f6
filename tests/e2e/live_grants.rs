//! Revocation, expiry and `secret rm` reach a task that is already running:
//! the probe resolves a secret once a second (`poll:NAME`), something
//! changes mid-run, and from the next call on it is denied, with the reason
//! in the audit log. A tasks.toml that turns invalid mid-run denies too
//! (fail closed) instead of keeping the grants of before.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::harness::*;

fn policy(grant: &str) -> String {
    format!(
        "[projects.analytics]\n\n[agents.poller]\nproject = \"analytics\"\ngrants = [{grant}]\n"
    )
}

/// The probe polling posthog-read, and its stdout lines as they come.
fn start_polling(world: &World) -> (Child, Receiver<String>) {
    let mut child = world
        .exec_cmd("probe", "poller", &["poll:posthog-read"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (send, lines) = channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    (child, lines)
}

fn next_line(lines: &Receiver<String>) -> Option<String> {
    lines.recv_timeout(Duration::from_secs(30)).ok()
}

/// Polls until two calls were granted, makes `change`, and returns the
/// lines after it (until the probe stops, after two denials) and the
/// number of them that were already out when `change` returned.
fn poll_across(world: &World, change: impl FnOnce()) -> (Vec<String>, usize) {
    let (mut child, lines) = start_polling(world);
    for _ in 0..2 {
        let line = next_line(&lines).expect("the probe polls");
        assert!(line.contains(": granted"), "{line}");
    }
    change();
    let out_by_then = lines.try_iter().collect::<Vec<_>>();
    let ready = out_by_then.len();
    let after: Vec<String> = out_by_then
        .into_iter()
        .chain(std::iter::from_fn(|| next_line(&lines)))
        .collect();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{status:?}\n{err}");
    (after, ready)
}

/// Denied from the first call that started after the change on, never
/// granted again, and the probe stopped after two denials.
fn assert_denied_from_next_call(after: &[String], ready: usize) {
    let first_denied = after.iter().position(|l| l.ends_with("Denied"));
    let first_denied = first_denied.unwrap_or_else(|| panic!("never denied: {after:?}"));
    // At most one call may have been under way while the change was made.
    assert!(first_denied <= ready + 1, "denied too late: {after:?}");
    assert!(after[first_denied..].iter().all(|l| l.ends_with("Denied")));
    assert_eq!(after.len() - first_denied, 2, "{after:?}");
}

/// The reasons of the run's denials, in order.
fn deny_reasons(world: &World) -> Vec<String> {
    let denials = world.records_of("secret.deny");
    denials
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_owned())
        .collect()
}

fn world_with(grant: &str) -> World {
    let world = World::with_policy(&policy(grant));
    world.set_secret("analytics", "posthog-read", &canary());
    world
}

#[test]
fn a_grant_removed_from_tasks_toml_denies_the_next_call() {
    let world = world_with(r#"{ secret = "posthog-read" }"#);
    // As a person would: the grant deleted in place, the file rewritten.
    let (after, ready) = poll_across(&world, || {
        std::fs::write(world.config(), policy("")).unwrap();
    });
    assert_denied_from_next_call(&after, ready);
    assert_eq!(deny_reasons(&world), ["not-granted", "not-granted"]);
    world.ok(&["audit", "verify"]);
}

#[test]
fn runner_revoke_denies_the_next_call_of_a_running_task() {
    let world = world_with(r#"{ secret = "posthog-read" }"#);
    let (after, ready) = poll_across(&world, || {
        world.ok(&["revoke", "posthog-read", "--agent", "poller"]);
    });
    assert_denied_from_next_call(&after, ready);
    assert_eq!(deny_reasons(&world), ["not-granted", "not-granted"]);
    // The revocation is recorded, by whom, before the first denial.
    let kinds: Vec<String> = world
        .records()
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_owned())
        .filter(|k| k == "grant.revoke" || k == "secret.deny")
        .collect();
    assert_eq!(kinds, ["grant.revoke", "secret.deny", "secret.deny"]);
    world.ok(&["audit", "verify"]);
}

#[test]
fn secret_rm_by_another_process_denies_the_next_call() {
    let world = world_with(r#"{ secret = "posthog-read" }"#);
    let (after, ready) = poll_across(&world, || {
        world.ok(&[
            "secret",
            "rm",
            "posthog-read",
            "--project",
            "analytics",
            "--force",
        ]);
    });
    assert_denied_from_next_call(&after, ready);
    assert_eq!(deny_reasons(&world), ["not-stored", "not-stored"]);
    world.ok(&["audit", "verify"]);
}

#[test]
fn an_expiry_passing_mid_run_denies_the_next_call() {
    let world = world_with(r#"{ secret = "posthog-read" }"#);
    // Far enough ahead for the run to start and be granted a few times.
    let expires = OffsetDateTime::now_utc() + Duration::from_secs(6);
    let expires = expires.replace_nanosecond(0).unwrap();
    let at = expires.format(&Rfc3339).unwrap();
    let grant = format!(r#"{{ secret = "posthog-read", expires = "{at}" }}"#);
    std::fs::write(world.config(), policy(&grant)).unwrap();
    let (mut child, lines) = start_polling(&world);
    let mut seen = Vec::new();
    while let Some(line) = next_line(&lines) {
        seen.push((OffsetDateTime::now_utc(), line));
    }
    assert!(child.wait().unwrap().success());
    let first_denied = seen.iter().position(|(_, l)| l.ends_with("Denied"));
    let first_denied = first_denied.unwrap_or_else(|| panic!("never denied: {seen:?}"));
    assert!(first_denied >= 2, "not granted before the expiry: {seen:?}");
    let (granted, denied) = seen.split_at(first_denied);
    let margin = Duration::from_millis(500);
    // Granted only before the expiry; denied from the next call on (calls
    // are a second apart), then never granted again.
    assert!(
        granted.iter().all(|(t, _)| *t < expires + margin),
        "{seen:?}"
    );
    assert!(
        denied[0].0 < expires + Duration::from_secs(1) + margin,
        "{seen:?}"
    );
    assert!(
        denied.iter().all(|(_, l)| l.ends_with("Denied")),
        "{seen:?}"
    );
    assert_eq!(deny_reasons(&world), ["expired", "expired"]);
    let denied_at = &world.records_of("secret.deny")[0]["ts"];
    let denied_at = OffsetDateTime::parse(denied_at.as_str().unwrap(), &Rfc3339).unwrap();
    assert!(
        denied_at >= expires,
        "denied at {denied_at}, expiry {expires}"
    );
}

#[test]
fn a_tasks_toml_that_no_longer_parses_denies_instead_of_keeping_old_grants() {
    let world = world_with(r#"{ secret = "posthog-read" }"#);
    let broken = policy(r#"{ secret = "posthog-read", approve = "yes please" }"#);
    let (after, ready) = poll_across(&world, || {
        std::fs::write(world.config(), &broken).unwrap();
    });
    assert_denied_from_next_call(&after, ready);
    assert_eq!(deny_reasons(&world), ["policy-invalid", "policy-invalid"]);
    let detail = world.records_of("secret.deny")[0]["detail"].clone();
    assert!(detail.as_str().unwrap().contains("tasks.toml"), "{detail}");
}

#[test]
fn a_tasks_toml_made_writable_by_others_mid_run_denies() {
    let world = world_with(r#"{ secret = "posthog-read" }"#);
    let (after, ready) = poll_across(&world, || {
        let loose = std::fs::Permissions::from_mode(0o666);
        std::fs::set_permissions(world.config(), loose).unwrap();
    });
    assert_denied_from_next_call(&after, ready);
    assert_eq!(deny_reasons(&world), ["policy-unsafe", "policy-unsafe"]);
}

/// Waits for a line matching `wanted`; the lines read on the way.
fn lines_until(lines: &Receiver<String>, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    let mut seen = Vec::new();
    while let Some(line) = next_line(lines) {
        let done = wanted(&line);
        seen.push(line);
        if done {
            return seen;
        }
    }
    panic!("never seen: {seen:?}");
}

#[test]
fn a_rotation_mid_run_releases_the_new_version_and_records_it() {
    let world = World::with_policy(&policy(r#"{ secret = "posthog-read" }"#));
    let (old, new) = (canary(), canary());
    world.set_secret("analytics", "posthog-read", &old);
    let hash = |v: &str| blake3::hash(v.as_bytes()).to_hex().to_string();
    let (mut child, lines) = start_polling(&world);
    lines_until(&lines, |l| l.contains(&hash(&old)));
    let out = run_with_input(
        &world,
        &["secret", "rotate", "posthog-read"],
        format!("{new}\n").as_bytes(),
    );
    assert!(out.status.success(), "{}", text(&out));
    lines_until(&lines, |l| l.contains(&hash(&new)));
    world.ok(&[
        "secret",
        "rm",
        "posthog-read",
        "--project",
        "analytics",
        "--force",
    ]);
    let rest = lines_until(&lines, |l| l.ends_with("Denied"));
    assert!(rest.iter().all(|l| !l.contains(&hash(&old))), "{rest:?}");
    assert!(child.wait().unwrap().success());
    let run = world.records_of("exec.start").last().unwrap()["run"].clone();
    let versions: Vec<_> = world
        .records_of("secret.resolve")
        .iter()
        .filter(|r| r["run"] == run)
        .map(|r| r["version"].clone())
        .collect();
    assert_eq!(versions, [1, 2], "each version's first release is recorded");
    world.ok(&["audit", "verify"]);
}

#[test]
fn an_older_store_file_put_back_mid_run_stops_the_task() {
    let world = world_with(r#"{ secret = "posthog-read" }"#);
    let store = world.home().join("secrets.json");
    let older = std::fs::read(&store).unwrap();
    let (mut child, lines) = start_polling(&world);
    lines_until(&lines, |l| l.contains(": granted"));
    // A write the audit log records, then the older file put back (T3).
    world.set_secret("analytics", "other", "x");
    let put_back = world.home().join("secrets.json.old");
    std::fs::write(&put_back, &older).unwrap();
    std::fs::rename(&put_back, &store).unwrap();
    let rest: Vec<String> = std::iter::from_fn(|| next_line(&lines)).collect();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "the task went on: {rest:?}");
    assert!(rest.len() <= 1, "granted after the put-back: {rest:?}");
    assert!(
        err.contains("rolled back") || err.contains("older"),
        "{err}"
    );
    let end = world.records_of("exec.end");
    assert_eq!(end.last().unwrap()["outcome"], "store-unusable");
}
