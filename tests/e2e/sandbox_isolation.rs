//! A hostile task gets no ambient authority: no environment, no host files,
//! no sockets.

use std::net::TcpListener;
use std::time::Duration;

use crate::harness::*;

#[test]
fn task_sees_no_host_environment() {
    let world = World::new();
    let out = world
        .cmd(&[
            "exec",
            guest("probe").to_str().unwrap(),
            "--agent",
            "support-analysis",
            "--",
        ])
        .arg("env")
        .env("SCOPEHOLD_TEST_LEAK", "leaked-env-value")
        .env("AWS_SECRET_ACCESS_KEY", "leaked-aws")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("env: 0 vars []"), "{}", text(&out));
}

#[test]
fn task_cannot_open_host_files() {
    let world = World::new();
    let secret_file = world.home().join("key");
    let steps = [
        "read:/etc/hostname".to_owned(),
        "read:/etc/passwd".to_owned(),
        format!("read:{}", secret_file.display()),
        "read:../../../../etc/passwd".to_owned(),
        "list:/".to_owned(),
        "list:.".to_owned(),
    ];
    let args: Vec<&str> = steps.iter().map(String::as_str).collect();
    let out = world.exec("probe", "support-analysis", &args);
    assert!(out.status.success(), "{}", text(&out));
    let shown = stdout(&out);
    for step in &steps {
        let (verb, path) = step.split_once(':').unwrap();
        assert!(
            shown.contains(&format!("{verb} {path}: error")),
            "{step} was allowed:\n{shown}"
        );
    }
    assert!(!shown.contains(": ok"), "{shown}");
}

#[test]
fn task_cannot_open_a_tcp_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let world = World::new();
    let steps = [format!("connect:{addr}"), "connect:1.1.1.1:443".to_owned()];
    let args: Vec<&str> = steps.iter().map(String::as_str).collect();
    let out = world.exec("probe", "support-analysis", &args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains(&format!("connect {addr}: error")),
        "{}",
        text(&out)
    );
    assert!(
        stdout(&out).contains("connect 1.1.1.1:443: error"),
        "{}",
        text(&out)
    );
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        listener.accept().is_err(),
        "the task reached the host's listener"
    );
}

#[test]
fn an_invalid_component_is_refused_before_start() {
    let world = World::new();
    let wasm = world.tmp.path().join("broken.wasm");
    std::fs::write(&wasm, b"\0asm\x0d\0\x01\0garbage").unwrap();
    let out = world.run(&[
        "exec",
        wasm.to_str().unwrap(),
        "--agent",
        "support-analysis",
    ]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out));
    assert!(
        stderr(&out).contains("not a valid WebAssembly component"),
        "{}",
        text(&out)
    );
    assert!(stderr(&out).contains("hint:"), "{}", text(&out));
    assert!(
        world.records_of("exec.start").is_empty(),
        "a refused task was recorded as started"
    );
}

#[test]
fn a_trapping_task_is_reported_and_recorded() {
    let world = World::new();
    let out = world.exec("probe", "support-analysis", &["panic"]);
    assert_eq!(out.status.code(), Some(134), "{}", text(&out));
    assert!(stderr(&out).contains("trapped"), "{}", text(&out));
    let end = &world.records_of("exec.end")[0];
    assert_eq!(end["outcome"], "trapped");
    assert_eq!(end["exit_code"], 134);
}
