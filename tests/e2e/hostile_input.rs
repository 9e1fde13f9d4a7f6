//! Hostile input and a hostile state-dir writer (issues 12 and 17), against
//! the real binary: the compiled-code cache cannot smuggle another
//! component's code in as a pinned agent; tasks.toml, the task file and the
//! anchor file are opened once, checked on the handle, capped and never
//! block; absurd ages and dates are errors with hints, never panics; a
//! closed or full stdout ends quietly or with a hint.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::*;

const HIT: &str = "compiled-code cache hit";

/// A policy with `pinned` (pinned to `hello`, granted posthog-read),
/// `granted` (granted, unpinned) and `bare` (nothing).
fn pinned_world() -> World {
    let digest = component_digest(&guest("hello"));
    let world = World::with_policy(&format!(
        r#"
[projects.analytics]
[agents.pinned]
project = "analytics"
components = ["{digest}"]
grants = [{{ secret = "posthog-read" }}]
[agents.granted]
project = "analytics"
grants = [{{ secret = "posthog-read" }}]
[agents.bare]
project = "analytics"
"#
    ));
    world.set_secret("analytics", "posthog-read", &canary());
    world
}

/// `runner digest`'s `blake3:<hex>` for a component.
fn component_digest(path: &Path) -> String {
    let out = std::process::Command::new(RUNNER)
        .arg("digest")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    stdout(&out).split_whitespace().next().unwrap().to_owned()
}

/// The cache artifact of a component (named by the blake3 hex of its bytes).
fn artifact_of(world: &World, component: &Path) -> PathBuf {
    let digest = component_digest(component);
    let hex = digest.trim_start_matches("blake3:");
    let found = std::fs::read_dir(world.home().join("cache"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.file_name().unwrap().to_string_lossy().starts_with(hex));
    found.unwrap_or_else(|| panic!("no artifact for {}", component.display()))
}

fn exec_debug(world: &World, guest_name: &str, agent: &str) -> Output {
    let out = world
        .exec_cmd(guest_name, agent, &[])
        .env("RUST_LOG", "runner=debug")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    out
}

#[test]
fn another_components_artifact_never_runs_as_a_pinned_agent() {
    for compiler in ["granted", "bare"] {
        let world = pinned_world();
        exec_debug(&world, "hello", "pinned");
        // The attacker's code, compiled (and cached) by an ordinary run
        // (which `bare` may fail: it is denied the secret).
        world.exec("support-analysis", compiler, &[]);
        let hello = artifact_of(&world, &guest("hello"));
        let stolen = artifact_of(&world, &guest("support-analysis"));
        std::fs::copy(&stolen, &hello).unwrap();
        let out = exec_debug(&world, "hello", "pinned");
        assert!(
            stdout(&out).contains("hello from a ScopeHold task"),
            "{compiler}: {}",
            text(&out)
        );
        assert!(!stdout(&out).contains("resolved"), "{}", text(&out));
        assert!(!stderr(&out).contains(HIT), "{}", text(&out));
        let by_pinned = world.records_of("secret.resolve");
        assert!(
            by_pinned.iter().all(|r| r["agent"] != "pinned"),
            "{by_pinned:?}"
        );
        if compiler == "granted" {
            assert!(stderr(&out).contains("MAC mismatch"), "{}", text(&out));
        }
        // The recompiled code replaced it, and is loaded next time.
        let next = exec_debug(&world, "hello", "pinned");
        assert!(stderr(&next).contains(HIT), "{}", text(&next));
        assert!(!stderr(&next).contains("warning"), "{}", text(&next));
    }
}

#[test]
fn an_agent_that_holds_nothing_keeps_the_cheap_warm_path() {
    let world = pinned_world();
    exec_debug(&world, "hello", "bare");
    let out = exec_debug(&world, "hello", "bare");
    assert!(stderr(&out).contains(HIT), "{}", text(&out));
    // Its artifact carries no tag, so a pinned run compiles it again (once).
    let pinned = exec_debug(&world, "hello", "pinned");
    assert!(!stderr(&pinned).contains(HIT), "{}", text(&pinned));
    assert!(!stderr(&pinned).contains("warning"), "{}", text(&pinned));
    let again = exec_debug(&world, "hello", "bare");
    assert!(stderr(&again).contains(HIT), "{}", text(&again));
}

// ---- tasks.toml: one open, checks on the handle, owners (issue 12 items 7, 12)

const SAFE_POLICY: &str = "[projects.p]\n[agents.safe]\nproject = \"p\"\n";
const EVIL_POLICY: &str = "[projects.p]\n[agents.evil]\nproject = \"p\"\n";

fn write_mode(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `runner ARGS` in `world`'s state dir, with `config` as --config.
fn with_config(world: &World, config: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(RUNNER);
    cmd.env_clear()
        .arg("--home")
        .arg(world.home())
        .arg("--config")
        .arg(config)
        .args(args);
    cmd
}

/// `runner explain hello.wasm --agent AGENT` with `config` as --config.
fn explain_with(world: &World, config: &Path, agent: &str) -> Output {
    let hello = guest("hello");
    let args = ["explain", hello.to_str().unwrap(), "--agent", agent];
    with_config(world, config, &args).output().unwrap()
}

#[test]
fn a_policy_symlink_flipped_during_the_check_never_loads_the_unsafe_file() {
    let world = World::new();
    let dir = world.tmp.path();
    let (safe, evil) = (dir.join("safe.toml"), dir.join("evil.toml"));
    write_mode(&safe, SAFE_POLICY, 0o600);
    write_mode(&evil, EVIL_POLICY, 0o666);
    let link = dir.join("link.toml");
    std::os::unix::fs::symlink(&safe, &link).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipper = {
        let (stop, dir, link) = (stop.clone(), dir.to_owned(), link.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let target = if n.is_multiple_of(2) {
                    "evil.toml"
                } else {
                    "safe.toml"
                };
                let temp = dir.join(format!("link-{n}"));
                std::os::unix::fs::symlink(target, &temp).unwrap();
                std::fs::rename(&temp, &link).unwrap();
                n += 1;
            }
            n
        })
    };
    let mut refused = 0;
    for _ in 0..40 {
        let out = explain_with(&world, &link, "evil");
        assert_ne!(
            out.status.code(),
            Some(0),
            "the unsafe policy was loaded: {}",
            text(&out)
        );
        if stderr(&out).contains("writable by other users") {
            refused += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(flipper.join().unwrap() > 40);
    assert!(refused > 0, "the flip never landed on the unsafe file");
}

#[test]
fn a_policy_below_a_directory_others_can_write_is_refused_unless_sticky() {
    use std::os::unix::fs::PermissionsExt;
    let world = World::new();
    let shared = world.tmp.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let config = shared.join("tasks.toml");
    write_mode(&config, SAFE_POLICY, 0o600);
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = explain_with(&world, &config, "safe");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("others can write (mode 777)"),
        "{}",
        text(&out)
    );
    assert!(
        stderr(&out).contains("hint: others could replace"),
        "{}",
        text(&out)
    );
    // A sticky directory (like /tmp): others cannot replace what is ours.
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let ok = explain_with(&world, &config, "safe");
    assert!(ok.status.success(), "{}", text(&ok));
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_state_dir_key_file_or_policy_owned_by_another_user_is_refused() {
    // Only root can give a file away; elsewhere this cannot be set up.
    if !is_root() {
        return;
    }
    const NOBODY: u32 = 65534;
    let world = World::new();
    let chown = |path: &Path, uid| std::os::unix::fs::chown(path, Some(uid), None).unwrap();
    let key = world.home().join("key");
    for (path, shown) in [
        (world.config(), "policy file"),
        (key.clone(), "key"),
        (world.home(), "home"),
    ] {
        chown(&path, NOBODY);
        let out = world.exec("hello", "support-analysis", &[]);
        assert!(!out.status.success(), "{shown}: {}", text(&out));
        assert!(
            stderr(&out).contains("owned by uid 65534"),
            "{shown}: {}",
            text(&out)
        );
        assert!(stderr(&out).contains("hint:"), "{}", text(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", text(&out));
        chown(&path, 0);
    }
    world.ok(&["audit", "verify"]);
}

// ---- numbers, dates and output (issue 17 items 7, 9)

fn assert_no_panic(out: &Output) {
    let err = stderr(out);
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{}",
        text(out)
    );
    assert_ne!(out.status.code(), Some(101), "{}", text(out));
}

#[test]
fn absurd_ages_are_errors_with_the_limit_never_overflows() {
    let world = World::new();
    for args in [
        &["audit", "log", "--since", "99999999999999d"][..],
        &["audit", "log", "--since", "15250284452472w"],
        &["audit", "log", "--since", "99999999999999999999999999m"],
        &["audit", "grants", "--stale", "106751991167301d"],
        &["audit", "grants", "--stale", "36501d"],
    ] {
        let out = world.run(args);
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            stderr(&out).contains("at most 36500d"),
            "{args:?}: {}",
            text(&out)
        );
    }
    for args in [
        &["audit", "log", "--since", "36500d"][..],
        &["audit", "grants", "--stale", "5214w"],
    ] {
        world.ok(args);
    }
}

#[test]
fn an_expiry_past_year_9999_in_utc_is_a_policy_error() {
    let world = World::with_policy(
        "[projects.p]\n[agents.a]\nproject = \"p\"\ngrants = [\n  \
         { secret = \"s\", expires = \"9999-12-31T23:59:59-00:01\" },\n]\n",
    );
    let hello = guest("hello");
    let hello = hello.to_str().unwrap();
    for args in [
        &["exec", hello, "--agent", "a"][..],
        &["explain", hello, "--agent", "a"],
        &["audit", "grants"],
    ] {
        let out = world.run(args);
        assert_no_panic(&out);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        assert!(
            stderr(&out).contains("after the year 9999"),
            "{}",
            text(&out)
        );
        assert!(stderr(&out).contains("tasks.toml:5:"), "{}", text(&out));
    }
}

/// `runner ARGS` with stdout sent to `stdout`.
fn run_into(world: &World, args: &[&str], stdout: impl Into<std::process::Stdio>) -> Output {
    world.cmd(args).stdout(stdout).output().unwrap()
}

#[test]
fn a_closed_stdout_ends_quietly_and_a_full_one_is_an_error_with_a_hint() {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", "v");
    let hello = guest("hello");
    let commands = [
        &["audit", "log"][..],
        &["audit", "log", "--json"],
        &["secret", "list"],
        &["digest", hello.to_str().unwrap()],
        &["audit", "grants"],
    ];
    for args in commands {
        // `| head -0`: the reader is gone before anything is written.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = run_into(&world, args, writer);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = run_into(&world, args, full);
        assert_no_panic(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            stderr(&out).contains("error: cannot write to standard output"),
            "{args:?}: {}",
            text(&out)
        );
        assert!(stderr(&out).contains("hint:"), "{}", text(&out));
    }
}

/// Appends `n` well-chained resolution records to the world's log, so that
/// `audit log` prints far more than a pipe holds.
fn extend_log(world: &World, n: u64) {
    use runner::audit::{Event, Record};
    use std::io::Write;
    let text = std::fs::read_to_string(world.audit_path()).unwrap();
    let mut last = Record::parse_line(text.lines().last().unwrap().as_bytes()).unwrap();
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(world.audit_path());
    let mut out = std::io::BufWriter::new(file.unwrap());
    let run = runner::audit::new_run_id().unwrap();
    for seq in last.seq + 1..last.seq + 1 + n {
        let event = Event::SecretResolve {
            run,
            agent: "support-analysis".parse().unwrap(),
            project: "analytics".parse().unwrap(),
            secret: "posthog-read".parse().unwrap(),
            version: 1,
        };
        last = Record::seal(last.log, seq, last.ts, last.hash, event).unwrap();
        writeln!(out, "{}", last.to_line().unwrap()).unwrap();
    }
    out.flush().unwrap();
}

#[test]
fn a_full_stderr_is_still_a_failure_not_a_panic() {
    let world = World::new();
    std::fs::remove_file(world.audit_path()).unwrap();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = world.cmd(&["audit", "log"]).stderr(full).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn audit_log_piped_to_head_ends_quietly() {
    let world = World::new();
    extend_log(&world, 5_000);
    for args in [&["audit", "log"][..], &["audit", "log", "--json"]] {
        let mut child = world
            .cmd(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        std::io::BufRead::read_line(&mut reader, &mut first).unwrap();
        assert!(first.contains("log.init"), "{first}");
        drop(reader);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert_eq!(stderr(&out), "", "{args:?}");
    }
}

// ---- files that are not files, or too big (issue 17 items 10, 11)

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Runs `runner ARGS` and fails the test if it takes more than 10 s (a
/// FIFO that blocks, /dev/zero read to the end).
fn run_fast(world: &World, args: &[&str]) -> Output {
    finish_fast(world.cmd(args))
}

/// Runs `cmd`, failing the test if it takes more than 10 s.
fn finish_fast(mut cmd: std::process::Command) -> Output {
    let started = std::time::Instant::now();
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("{cmd:?} still running after 10 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_fifo_a_device_or_a_directory_is_refused_at_once() {
    let world = World::new();
    let fifo = world.tmp.path().join("fifo");
    mkfifo(&fifo);
    let hello = guest("hello");
    let hello = hello.to_str().unwrap();
    for (bad, kind) in [
        (fifo.to_str().unwrap(), "a pipe (FIFO)"),
        ("/dev/zero", "a device"),
        ("/tmp", "a directory"),
    ] {
        let anchor = format!("--anchor={bad}");
        let as_task = [
            &["exec", bad, "--agent", "support-analysis"][..],
            &["explain", bad, "--agent", "support-analysis"],
            &["digest", bad],
            &["audit", "verify", anchor.as_str()],
        ];
        let as_config = [
            &["exec", hello, "--agent", "support-analysis"][..],
            &["explain", hello, "--agent", "support-analysis"],
            &["audit", "grants"],
        ];
        let commands = as_task.iter().map(|args| world.cmd(args));
        let commands = commands.chain(
            as_config
                .iter()
                .map(|args| with_config(&world, Path::new(bad), args)),
        );
        for cmd in commands {
            let shown = format!("{cmd:?}");
            let out = finish_fast(cmd);
            assert_no_panic(&out);
            assert!(!out.status.success(), "{shown}: {}", text(&out));
            let expected = format!("{bad} is {kind}, not a regular file");
            assert!(stderr(&out).contains(&expected), "{shown}: {}", text(&out));
            assert!(stderr(&out).contains("hint:"), "{shown}: {}", text(&out));
        }
    }
}

#[test]
fn files_over_their_cap_are_refused_before_reading() {
    let world = World::new();
    let big = world.tmp.path().join("big.wasm");
    // Sparse: 129 MiB that take no disk.
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(129 << 20).unwrap();
    let big = big.to_str().unwrap();
    let config = world.tmp.path().join("big.toml");
    std::fs::File::create(&config)
        .unwrap()
        .set_len(5 << 20)
        .unwrap();
    let hello = guest("hello");
    let explain = ["explain", hello.to_str().unwrap(), "--agent", "a"];
    for cmd in [
        world.cmd(&["digest", big]),
        world.cmd(&["exec", big, "--agent", "support-analysis"]),
        with_config(&world, &config, &explain),
    ] {
        let shown = format!("{cmd:?}");
        let out = finish_fast(cmd);
        assert_no_panic(&out);
        assert!(!out.status.success(), "{shown}: {}", text(&out));
        assert!(
            stderr(&out).contains("byte limit"),
            "{shown}: {}",
            text(&out)
        );
        assert!(
            stderr(&out).contains("hint: the limit is"),
            "{}",
            text(&out)
        );
    }
}

/// A component holding a component, `depth` levels deep (240 KB at 20,000).
pub(crate) fn nested_component(depth: usize) -> Vec<u8> {
    const HEADER: &[u8] = b"\0asm\x0d\0\x01\0";
    let leb = |mut n: usize| {
        let mut out = Vec::new();
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            out.push(if n == 0 { byte } else { byte | 0x80 });
            if n == 0 {
                return out;
            }
        }
    };
    let mut sizes = vec![HEADER.len()];
    for k in 0..depth {
        sizes.push(HEADER.len() + 1 + leb(sizes[k]).len() + sizes[k]);
    }
    let mut bytes = Vec::with_capacity(sizes[depth]);
    for k in (0..depth).rev() {
        bytes.extend_from_slice(HEADER);
        bytes.push(4);
        bytes.extend_from_slice(&leb(sizes[k]));
    }
    bytes.extend_from_slice(HEADER);
    bytes
}

#[test]
fn a_deeply_nested_component_is_refused_before_compiling() {
    let world = World::new();
    let deep = world.tmp.path().join("deep.wasm");
    let bytes = nested_component(20_000);
    assert!(bytes.len() > 200_000, "{}", bytes.len());
    std::fs::write(&deep, &bytes).unwrap();
    let deep = deep.to_str().unwrap();
    for args in [
        &["exec", deep, "--agent", "support-analysis"][..],
        &["explain", deep, "--agent", "support-analysis"],
    ] {
        let out = run_fast(&world, args);
        assert_no_panic(&out);
        let code = if args[0] == "exec" { 126 } else { 1 };
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
        assert!(
            stderr(&out).contains("nested more than 32 deep"),
            "{}",
            text(&out)
        );
        assert!(stderr(&out).contains("hint:"), "{}", text(&out));
    }
    // digest reads it (within the size cap) and never compiles it.
    let out = run_fast(&world, &["digest", deep]);
    assert!(out.status.success(), "{}", text(&out));
}

// ---- audit log output (issue 17 item 12)

#[test]
fn audit_log_escapes_control_and_bidi_characters_in_record_text() {
    let world = World::new();
    // Text a task chose, or a state-dir writer wrote: names in denials are
    // free text (the broker writes a placeholder for invalid ones, but the
    // log's reader must not rely on that).
    let nasty = "x\u{1b}]0;owned\u{7}\u{1b}[2J\r\u{202e}gpj.exe\u{9b}";
    append_event(
        &world,
        runner::audit::Event::SecretDeny {
            run: runner::audit::new_run_id().unwrap(),
            agent: "support-analysis".parse().unwrap(),
            project: "analytics".parse().unwrap(),
            secret: nasty.to_owned(),
            reason: runner::audit::Token::new("not-granted").unwrap(),
            detail: format!("asked for {nasty}"),
        },
    );
    let shown = world.ok(&["audit", "log"]);
    let shown = stdout(&shown);
    for bad in ['\u{1b}', '\u{7}', '\r', '\u{202e}', '\u{9b}'] {
        assert!(!shown.contains(bad), "{bad:?} printed raw:\n{shown:?}");
    }
    let escaped = r"x\u{1b}]0;owned\u{7}\u{1b}[2J\u{d}\u{202e}gpj.exe\u{9b}";
    assert_eq!(shown.matches(escaped).count(), 2, "{shown}");
    // --json prints the stored line, where JSON escapes them.
    let json = stdout(&world.ok(&["audit", "log", "--json"]));
    assert!(json.contains(r"x\u001b]0;owned\u0007"), "{json}");
    assert!(!json.contains('\u{1b}'), "{json:?}");
}

/// Appends one well-chained record holding `event` to the world's log.
fn append_event(world: &World, event: runner::audit::Event) {
    use runner::audit::Record;
    let text = std::fs::read_to_string(world.audit_path()).unwrap();
    let last = Record::parse_line(text.lines().last().unwrap().as_bytes()).unwrap();
    let record = Record::seal(last.log, last.seq + 1, last.ts, last.hash, event).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(world.audit_path())
        .unwrap();
    std::io::Write::write_all(
        &mut file,
        format!("{}\n", record.to_line().unwrap()).as_bytes(),
    )
    .unwrap();
}
