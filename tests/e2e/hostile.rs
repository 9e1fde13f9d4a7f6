//! The hostile-guest suite: the probe tries what an untrusted task might, and
//! each attempt must end in its specific, contained outcome, with the runner
//! healthy and the canary secret nowhere it should not be.

use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use crate::harness::*;
use crate::limits::{assert_runner_healthy, hostile_world};

/// A world whose `hostile` agent is granted `data/` read-only and `out/`
/// read-write; `outside/secret.txt` sits next to them, and `data/escape` is a
/// symlink to it.
fn world_with_dirs() -> World {
    let world = hostile_world(
        "dirs = [\n  { host = \"./data\", guest = \"/data\" },\n  \
         { host = \"out\", guest = \"/out\", mode = \"rw\" },\n]\n\
         env = { LOG_LEVEL = \"info\" }",
    );
    let root = world.tmp.path();
    for dir in ["data", "out", "outside"] {
        std::fs::create_dir(root.join(dir)).unwrap();
    }
    std::fs::write(root.join("data/report.txt"), "granted data\n").unwrap();
    std::fs::write(root.join("outside/secret.txt"), "outside\n").unwrap();
    std::os::unix::fs::symlink(root.join("outside/secret.txt"), root.join("data/escape")).unwrap();
    std::os::unix::fs::symlink("../outside", root.join("data/up")).unwrap();
    world
}

fn probe(world: &World, steps: &[&str]) -> String {
    let out = world.exec("probe", "hostile", steps);
    assert!(out.status.success(), "{}", text(&out));
    assert_runner_healthy(&out);
    stdout(&out)
}

#[test]
fn granted_dirs_are_readable_and_nothing_outside_them_is() {
    let world = world_with_dirs();
    let shown = probe(
        &world,
        &[
            "read:/data/report.txt",
            "list:/data",
            "read:/data/escape",
            "read:/data/up/secret.txt",
            "read:/data/../outside/secret.txt",
            "read:/data/../../etc/passwd",
            "read:/etc/passwd",
            "list:/",
        ],
    );
    assert!(
        shown.contains("read /data/report.txt: ok 13 bytes"),
        "{shown}"
    );
    assert!(shown.contains("list /data: ok 3 entries"), "{shown}");
    for denied in [
        "read /data/escape: error",
        "read /data/up/secret.txt: error",
        "read /data/../outside/secret.txt: error",
        "read /data/../../etc/passwd: error",
        "read /etc/passwd: error",
        "list /: error",
    ] {
        assert!(shown.contains(denied), "expected {denied:?}:\n{shown}");
    }
}

#[test]
fn read_only_dirs_refuse_writes_and_rw_dirs_accept_them() {
    let world = world_with_dirs();
    let shown = probe(
        &world,
        &[
            "write:/data/new.txt",
            "write:/data/report.txt",
            "write:/out/new.txt",
        ],
    );
    assert!(shown.contains("write /data/new.txt: error"), "{shown}");
    assert!(shown.contains("write /data/report.txt: error"), "{shown}");
    assert!(shown.contains("write /out/new.txt: ok"), "{shown}");
    let root = world.tmp.path();
    assert!(!root.join("data/new.txt").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("data/report.txt")).unwrap(),
        "granted data\n"
    );
    assert!(root.join("out/new.txt").exists());
}

#[test]
fn only_listed_env_vars_reach_the_task() {
    let world = world_with_dirs();
    let out = world
        .cmd(&[
            "exec",
            guest("probe").to_str().unwrap(),
            "--agent",
            "hostile",
            "--",
            "env",
            "getenv:LOG_LEVEL",
        ])
        .env("AWS_SECRET_ACCESS_KEY", "leaked-aws")
        .env("LOG_LEVEL", "debug")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("env: 1 vars [LOG_LEVEL]"),
        "{}",
        text(&out)
    );
    // The value is the policy's, not the runner's own environment's.
    assert!(
        stdout(&out).contains("getenv LOG_LEVEL: Some(\"info\")"),
        "{}",
        text(&out)
    );
    assert_runner_healthy(&out);
}

#[test]
fn a_missing_granted_dir_refuses_the_run_before_it_starts() {
    let world = hostile_world("dirs = [{ host = \"./nope\", guest = \"/data\" }]");
    let out = world.exec("probe", "hostile", &["env"]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    assert!(
        stderr(&out).contains("hint: create the directory"),
        "{}",
        text(&out)
    );
    assert!(world.records_of("exec.start").is_empty());
}

#[test]
fn tcp_udp_and_dns_are_all_denied() {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let world = hostile_world("");
    let steps = [
        format!("connect:{}", tcp.local_addr().unwrap()),
        format!("udp:{}", udp.local_addr().unwrap()),
        "dns:example.com".to_owned(),
        "dns:localhost".to_owned(),
    ];
    let args: Vec<&str> = steps.iter().map(String::as_str).collect();
    let shown = probe(&world, &args);
    for step in &steps {
        let (verb, what) = step.split_once(':').unwrap();
        assert!(
            shown.contains(&format!("{verb} {what}: error")),
            "{step} allowed:\n{shown}"
        );
    }
    assert!(tcp.accept().is_err(), "the task reached the TCP listener");
    assert!(
        udp.recv_from(&mut [0; 8]).is_err(),
        "the task reached the UDP socket"
    );
}

#[test]
fn absurd_secret_names_are_denied_audited_and_never_echoed() {
    let world = hostile_world("");
    let canary = canary();
    world.set_secret("analytics", "posthog-read", &canary);
    world.set_secret("billing", "billing-admin", &crate::harness::canary());
    let shown = probe(
        &world,
        &[
            "get-len:10000000",
            "get:",
            "get:../posthog-read",
            "get:POSTHOG",
            "get:billing/billing-admin",
            "get:billing-admin",
        ],
    );
    assert!(shown.contains("get <10000000 bytes>: Denied"), "{shown}");
    for name in [
        "",
        "../posthog-read",
        "POSTHOG",
        "billing/billing-admin",
        "billing-admin",
    ] {
        assert!(
            shown.contains(&format!("get {name}: Denied")),
            "{name:?} not denied:\n{shown}"
        );
    }
    let denials = world.records_of("secret.deny");
    assert_eq!(denials.len(), 6, "every attempt is audited");
    let reasons: Vec<&str> = denials
        .iter()
        .map(|d| d["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"other-project"), "{reasons:?}");
    let audit = std::fs::read(world.audit_path()).unwrap();
    assert!(
        !contains(&audit, &"a".repeat(2000)),
        "the long name reached the log"
    );
    assert!(
        audit.len() < 64 * 1024,
        "the log grew by {} bytes",
        audit.len()
    );
    assert!(
        !world
            .state_bytes()
            .iter()
            .any(|(_, bytes)| contains(bytes, &canary))
    );
}
