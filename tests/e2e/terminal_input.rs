//! What a person types at a terminal is not shown: a secret value for
//! `runner secret set` (echo off on stdin while it reads) and a passphrase
//! (asked on `/dev/tty` with echo off, twice when new). Driven through a real
//! pseudo-terminal that is the runner's controlling terminal.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::*;

/// A pseudo-terminal: (master, slave).
pub(crate) fn open_pty() -> (File, File) {
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
pub(crate) fn read_screen_until(master: &mut File, marker: &str) -> Vec<u8> {
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

/// `runner ARGS` with the pty as its controlling terminal (so `/dev/tty` is
/// the pty, as for a person at a terminal) and as its stdin.
fn at_terminal(home: &std::path::Path, slave: &File, args: &[&str]) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(RUNNER);
    // In the state dir's parent, so that the default ./tasks.toml is there
    // (`init` writes a starter one where none exists).
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(home.parent().unwrap())
        .arg("--home")
        .arg(home)
        .args(args)
        .stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

/// Waits for `prompt` on the screen (the runner turns echo off before it
/// prints it), then types `line`. Returns what the screen showed.
fn answer(master: &mut File, slave: &File, prompt: &str, line: &str) -> String {
    let screen = read_screen_until(master, prompt);
    assert!(!echoes(slave), "echo is on at the prompt {prompt:?}");
    master.write_all(format!("{line}\n").as_bytes()).unwrap();
    String::from_utf8_lossy(&screen).into_owned()
}

#[test]
fn a_passphrase_is_typed_twice_at_the_terminal_and_never_shown() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let pass = format!("pass-{}", canary());
    let (mut m, slave) = open_pty();
    let mut shown = String::new();
    let init = at_terminal(&home, &slave, &["init", "--passphrase"]);
    shown += &answer(&mut m, &slave, "new passphrase: ", &pass);
    shown += &answer(&mut m, &slave, "repeat the new passphrase: ", &pass);
    let out = init.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // The store now needs the passphrase: typed right, it opens.
    let list = at_terminal(&home, &slave, &["secret", "list"]);
    shown += &answer(
        &mut m,
        &slave,
        "passphrase for the ScopeHold store: ",
        &pass,
    );
    let out = list.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // Typed wrong, it is refused like a corrupted store.
    let list = at_terminal(&home, &slave, &["secret", "list"]);
    let prompt = "passphrase for the ScopeHold store: ";
    shown += &answer(&mut m, &slave, prompt, "not-the-passphrase");
    let out = list.wait_with_output().unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(stderr(&out).contains("integrity check"), "{}", text(&out));
    assert!(echoes(&slave), "echo was not turned back on");
    m.write_all(b"typed-after\n").unwrap();
    shown += &String::from_utf8_lossy(&read_screen_until(&mut m, "typed-after"));
    assert!(!shown.contains(&pass), "the passphrase was shown");
    assert!(
        !shown.contains("not-the-passphrase"),
        "a passphrase was shown"
    );
}

/// `runner ARGS` with the passphrase in the environment, no terminal.
fn with_passphrase(home: &std::path::Path, pass: &str, args: &[&str], input: &str) {
    let mut cmd = std::process::Command::new(RUNNER);
    cmd.env_clear()
        .env("SCOPEHOLD_PASSPHRASE", pass)
        .current_dir(home.parent().unwrap())
        .arg("--home")
        .arg(home)
        .args(args);
    let out = feed(cmd, input.as_bytes()).wait_with_output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out));
}

#[test]
fn exec_asks_for_the_passphrase_before_the_task_starts_and_only_if_it_may_need_it() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let config = tmp.path().join("tasks.toml");
    let policy = format!("{POLICY}\n[agents.greeter]\nproject = \"analytics\"\n");
    std::fs::write(&config, policy).unwrap();
    let pass = format!("pass-{}", canary());
    with_passphrase(&home, &pass, &["init", "--passphrase"], "");
    let set = ["secret", "set", "posthog-read", "--project", "analytics"];
    with_passphrase(&home, &pass, &set, "phc_value\n");
    let (mut m, slave) = open_pty();
    let cfg = config.to_str().unwrap();
    let (hello, probe) = (guest("hello"), guest("probe"));
    let exec = |wasm: &std::path::Path, agent: &str, step: &str| {
        let wasm = wasm.to_str().unwrap();
        let args = ["--config", cfg, "exec", wasm, "--agent", agent, "--", step];
        at_terminal(&home, &slave, &args)
    };
    // An agent with grants: asked once, before any task code runs.
    let run = exec(&probe, "support-analysis", "get:posthog-read");
    let prompt = "passphrase for the ScopeHold store: ";
    let mut shown = answer(&mut m, &slave, prompt, &pass);
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("get posthog-read: granted"),
        "{}",
        text(&out)
    );
    // An agent without grants is never asked, not even to explain a denial.
    let out = exec(&hello, "greeter", "x").wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = exec(&probe, "greeter", "get:posthog-read")
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains("get posthog-read: Denied"),
        "{}",
        text(&out)
    );
    m.write_all(b"typed-after\n").unwrap();
    let after = String::from_utf8_lossy(&read_screen_until(&mut m, "typed-after")).into_owned();
    shown += &after;
    // Checked first, so that the screen printed below holds no passphrase.
    assert!(!shown.contains(&pass), "the passphrase was shown");
    assert!(!after.contains("passphrase"), "asked again: {after}");
}
