//! `explain` and `exec` agree (issue 16 item 2): what would fail a run and
//! can be known before it starts (a missing granted directory, a granted
//! secret not stored, a key file missing or wrong, a wrong passphrase) is
//! reported by `explain` with what to do, and refuses `exec` before its task
//! runs: exit 126, one `exec.refused` naming the reason, no `exec.start`,
//! no file written in a granted directory, no request sent.

use posthog_standin::Server;

use crate::harness::*;

const SECRET: &str = "posthog-read";

/// Agent `worker` may write to `./out` (created here) and fetch from
/// `url`, and is granted posthog-read (not stored yet).
fn world(url: &str) -> World {
    let policy = format!(
        "[projects.analytics]\n\n[agents.worker]\nproject = \"analytics\"\n\
         allowed_hosts = [\"{url}\"]\n\
         grants = [{{ secret = \"{SECRET}\" }}]\n\
         dirs = [{{ host = \"./out\", guest = \"/out\", mode = \"rw\" }}]\n\n\
         [agents.bare]\nproject = \"analytics\"\n\
         dirs = [{{ host = \"./out\", guest = \"/out\", mode = \"rw\" }}]\n"
    );
    let world = World::with_policy(&policy);
    std::fs::create_dir(out_dir(&world)).unwrap();
    world
}

fn out_dir(world: &World) -> std::path::PathBuf {
    world.tmp.path().join("out")
}

fn server() -> Server {
    Server::start("127.0.0.1:0", "unused").expect("the stand-in server starts")
}

/// `explain GUEST --agent worker`: (exit code, stdout).
fn explain(world: &World, guest_name: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let wasm = guest(guest_name);
    let args = ["explain", wasm.to_str().unwrap(), "--agent", "worker"];
    let out = run_env(world, &args, env);
    (out.status.code(), stdout(&out))
}

/// Tries to write /out/proof and to fetch `url`, as `worker`: both runs
/// must be refused with `reason` before either task acts. Returns stderr.
fn assert_refused(world: &World, api: &Server, reason: &str, env: &[(&str, &str)]) -> String {
    let before = world.records_of("exec.refused").len();
    let write = world
        .exec_cmd("probe", "worker", &["write:/out/proof"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let fetch = world
        .exec_cmd(
            "egress-probe",
            "worker",
            &[&format!("fetch:{}/", api.url())],
        )
        .envs(env.iter().copied())
        .output()
        .unwrap();
    for out in [&write, &fetch] {
        assert_eq!(out.status.code(), Some(126), "{}", text(out));
        assert!(stdout(out).is_empty(), "the task ran: {}", text(out));
        assert!(
            stderr(out).contains("error: the task was not started: "),
            "{}",
            text(out)
        );
        assert!(stderr(out).contains("\nhint: "), "{}", text(out));
    }
    assert!(
        !out_dir(world).join("proof").exists(),
        "the refused task wrote a file"
    );
    assert!(api.received().is_empty(), "the refused task sent a request");
    let refused = world.records_of("exec.refused");
    assert_eq!(refused.len(), before + 2);
    assert!(
        refused[before..].iter().all(|r| r["reason"] == reason),
        "{refused:?}"
    );
    assert!(world.records_of("exec.start").is_empty());
    stderr(&write)
}

/// The run goes ahead once the cause is mended: the file is written (so
/// the refusal above was the check, not a broken guest).
fn assert_runs(world: &World, env: &[(&str, &str)]) {
    let (code, shown) = explain(world, "probe", env);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("may run as worker: yes"), "{shown}");
    let out = world
        .exec_cmd("probe", "worker", &["write:/out/proof"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(out_dir(world).join("proof").exists(), "{}", text(&out));
}

/// A granted secret not stored warns in both, with the fix; the run goes
/// ahead (its task may never ask for it) and is denied it if it asks.
#[test]
fn a_granted_secret_not_stored_is_a_warning_in_both() {
    let api = server();
    let world = world(&api.url());
    let (code, shown) = explain(&world, "probe", &[]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(shown.contains("may run as worker: yes"), "{shown}");
    assert!(
        shown.contains("  warning: the granted secret analytics/posthog-read is not stored"),
        "{shown}"
    );
    let fix = "store it with `runner secret set posthog-read --project analytics`";
    assert!(
        shown.contains(&format!("hint: {fix}"))
            && shown.contains("`runner revoke posthog-read --agent worker`"),
        "{shown}"
    );
    let out = world.exec("probe", "worker", &["get:posthog-read"]);
    assert!(out.status.success(), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("scopehold: warning: the granted secret analytics/posthog-read is not stored"),
        "{err}"
    );
    assert!(err.contains(&format!("scopehold: hint: {fix}")), "{err}");
    assert!(
        stdout(&out).contains("get posthog-read: Denied"),
        "{}",
        text(&out)
    );
    assert_eq!(world.records_of("secret.deny")[0]["reason"], "not-stored");
    assert!(world.records_of("exec.refused").is_empty());
    world.set_secret("analytics", SECRET, &canary());
    let (_, shown) = explain(&world, "probe", &[]);
    assert!(!shown.contains("warning"), "{shown}");
    assert_runs(&world, &[]);
    let verify = world.run(&["audit", "verify"]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
}

#[test]
fn explain_json_lists_what_would_fail() {
    let api = server();
    let world = world(&api.url());
    std::fs::remove_dir(out_dir(&world)).unwrap();
    let wasm = guest("probe");
    let out = world.run(&[
        "explain",
        wasm.to_str().unwrap(),
        "--agent",
        "worker",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let facts: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(facts["may_run"], false);
    let reasons: Vec<&str> = facts["would_fail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["missing-dir", "not-stored"]);
    assert_eq!(facts["would_fail"][0]["refuses"], true);
    assert_eq!(facts["would_fail"][1]["refuses"], false);
    assert!(
        facts["would_fail"][0]["hint"]
            .as_str()
            .unwrap()
            .contains("create the directory")
    );
}

#[test]
fn a_missing_directory_is_reported_and_refuses_any_run() {
    let api = server();
    let world = world(&api.url());
    world.set_secret("analytics", SECRET, &canary());
    std::fs::remove_dir(out_dir(&world)).unwrap();
    let (code, shown) = explain(&world, "hello", &[]);
    assert_eq!(code, Some(1), "{shown}");
    assert!(shown.contains("would fail: cannot grant "), "{shown}");
    assert!(shown.contains("hint: create the directory "), "{shown}");
    let err = assert_refused(&world, &api, "missing-dir", &[]);
    assert!(err.contains("as /out"), "{err}");
    // A directory is checked for every run, whatever the task imports.
    let hello = world.exec("hello", "worker", &[]);
    assert_eq!(hello.status.code(), Some(126), "{}", text(&hello));
    std::fs::create_dir(out_dir(&world)).unwrap();
    assert_runs(&world, &[]);
}

#[test]
fn a_missing_or_wrong_key_file_is_reported_and_refuses_the_run() {
    let api = server();
    let world = world(&api.url());
    world.set_secret("analytics", SECRET, &canary());
    let key = world.home().join("key");
    let kept = std::fs::read(&key).unwrap();
    // Missing; then another store's key (the store does not decrypt);
    // then bytes that are no key at all.
    let other = World::new();
    let wrong = std::fs::read(other.home().join("key")).unwrap();
    for replace in [None, Some(wrong), Some(b"not a key\n".to_vec())] {
        // Gone after the first round.
        let _ = std::fs::remove_file(&key);
        if let Some(bytes) = &replace {
            std::fs::write(&key, bytes).unwrap();
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .unwrap();
        }
        let (code, shown) = explain(&world, "probe", &[]);
        assert_eq!(code, Some(1), "{shown}");
        assert!(
            shown.contains("would fail: cannot open the secret store: "),
            "{shown}"
        );
        assert!(shown.contains("  hint: "), "{shown}");
        let err = assert_refused(&world, &api, "store-unusable", &[]);
        assert!(err.contains("cannot open the secret store"), "{err}");
    }
    std::fs::write(&key, &kept).unwrap();
    assert_runs(&world, &[]);
}

#[test]
fn a_wrong_passphrase_is_reported_and_refuses_the_run() {
    const PASS: &str = "correct horse battery staple 42";
    let api = server();
    let world = world(&api.url());
    std::fs::remove_dir_all(world.home()).unwrap();
    let init = run_env(
        &world,
        &["init", "--passphrase"],
        &[("SCOPEHOLD_PASSPHRASE", PASS)],
    );
    assert!(init.status.success(), "{}", text(&init));
    let mut set = world.cmd(&["secret", "set", SECRET, "--project", "analytics"]);
    set.env("SCOPEHOLD_PASSPHRASE", PASS);
    let set = feed(set, b"value\n").wait_with_output().unwrap();
    assert!(set.status.success(), "{}", text(&set));
    let wrong = [("SCOPEHOLD_PASSPHRASE", "not the passphrase")];
    let (code, shown) = explain(&world, "probe", &wrong);
    assert_eq!(code, Some(1), "{shown}");
    assert!(
        shown.contains("would fail: cannot open the secret store: "),
        "{shown}"
    );
    assert_refused(&world, &api, "store-unusable", &wrong);
    assert_runs(&world, &[("SCOPEHOLD_PASSPHRASE", PASS)]);
}

#[test]
fn runs_that_cannot_need_the_store_never_open_it() {
    // No key file: a store-unusable run for anything that needs the store.
    let api = server();
    let world = world(&api.url());
    world.set_secret("analytics", SECRET, &canary());
    std::fs::remove_file(world.home().join("key")).unwrap();
    // An agent with no grants...
    let bare = world.exec("probe", "bare", &["write:/out/bare"]);
    assert!(bare.status.success(), "{}", text(&bare));
    assert!(out_dir(&world).join("bare").exists());
    // ...and a component that cannot ask for a secret: explain agrees.
    let (code, shown) = explain(&world, "hello", &[]);
    assert_eq!(code, Some(0), "{shown}");
    assert!(!shown.contains("would fail"), "{shown}");
    let hello = world.exec("hello", "worker", &[]);
    assert!(hello.status.success(), "{}", text(&hello));
    assert!(world.records_of("exec.refused").is_empty());
}
