//! A secret value typed at a terminal is not echoed: `runner secret set`
//! turns echo off on its stdin while it reads, and back on afterwards.
//! Driven through a real pseudo-terminal.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::*;

/// A pseudo-terminal: (master, slave).
fn open_pty() -> (File, File) {
    // SAFETY: plain libc calls on a descriptor this function owns; the name
    // buffer is large enough and NUL-terminated by ptsname_r.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0, "posix_openpt failed");
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 256];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let path = std::ffi::CStr::from_ptr(name.as_ptr()).to_str().unwrap();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        (File::from_raw_fd(master), slave)
    }
}

/// Whether the terminal currently echoes input.
fn echoes(tty: &File) -> bool {
    // SAFETY: termios is plain data, filled by tcgetattr on a valid fd.
    unsafe {
        let mut termios: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(tty.as_raw_fd(), &mut termios), 0);
        termios.c_lflag & libc::ECHO != 0
    }
}

/// Everything the terminal shows, up to and including `marker`.
fn read_screen_until(master: &mut File, marker: &str) -> Vec<u8> {
    let mut screen = Vec::new();
    let mut chunk = [0u8; 4096];
    let start = Instant::now();
    while !contains(&screen, marker) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no echo of {marker}"
        );
        let mut poll = libc::pollfd {
            fd: master.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for a descriptor we own.
        if unsafe { libc::poll(&mut poll, 1, 100) } == 1 {
            let n = master.read(&mut chunk).unwrap();
            screen.extend_from_slice(&chunk[..n]);
        }
    }
    screen
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "gave up waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_value_typed_at_a_terminal_is_not_echoed() {
    let world = World::new();
    let canary = canary();
    let (mut master, slave) = open_pty();
    assert!(echoes(&slave), "a fresh terminal echoes");
    let child = world
        .cmd(&["secret", "set", "posthog-read", "--project", "analytics"])
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Type only once the runner has turned echo off, as a person would
    // after seeing the prompt.
    wait_until("echo off", || !echoes(&slave));
    master.write_all(format!("{canary}\n").as_bytes()).unwrap();
    master.write_all(&[4]).unwrap(); // Ctrl-D: end of input
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(stderr(&out).contains("not shown"), "{}", text(&out));
    assert!(echoes(&slave), "echo was not turned back on");
    // Typed now, with echo back on, this shows on the screen: proof that the
    // screen is captured at all. Anything echoed earlier comes before it.
    master.write_all(b"typed-after\n").unwrap();
    let screen = read_screen_until(&mut master, "typed-after");
    assert!(
        !contains(&screen, &canary),
        "the value was echoed to the terminal"
    );
    assert!(!contains(&out.stdout, &canary) && !contains(&out.stderr, &canary));
    // The value stored is exactly what was typed, without its newline.
    let get = world.exec("probe", "support-analysis", &["get:posthog-read"]);
    let expected = blake3::hash(canary.as_bytes()).to_hex();
    assert!(stdout(&get).contains(expected.as_str()), "{}", stdout(&get));
}
