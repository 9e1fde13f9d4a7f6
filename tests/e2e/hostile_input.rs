//! Hostile files (issues 12 and 17), against the real binary: tasks.toml is
//! opened once and checked on the handle and its directories; a state dir,
//! key file or policy owned by another user is refused; the task file,
//! `--config` and `--anchor` must be regular files within their caps and
//! never block; a deeply nested component is refused before compiling.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::harness::*;
use crate::hostile_output::assert_no_panic;

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

/// Flips `link` between `evil.toml` and `safe.toml` (in its directory) until
/// `stop` is set; returns how many flips it made.
fn flip(link: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let dir = link.parent().unwrap().to_owned();
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let target = ["evil.toml", "safe.toml"][(n % 2) as usize];
            let temp = dir.join(format!("link-{n}"));
            std::os::unix::fs::symlink(target, &temp).unwrap();
            std::fs::rename(&temp, &link).unwrap();
            n += 1;
        }
        n
    })
}

#[test]
fn a_policy_symlink_flipped_during_the_check_never_loads_the_unsafe_file() {
    let world = World::new();
    let dir = world.tmp.path();
    write_mode(&dir.join("safe.toml"), SAFE_POLICY, 0o600);
    write_mode(&dir.join("evil.toml"), EVIL_POLICY, 0o666);
    let link = dir.join("link.toml");
    std::os::unix::fs::symlink("safe.toml", &link).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = flip(link.clone(), stop.clone());
    let mut refused = 0;
    for _ in 0..40 {
        let out = explain_with(&world, &link, "evil");
        let loaded = out.status.code() == Some(0);
        assert!(!loaded, "the unsafe policy was loaded: {}", text(&out));
        refused += usize::from(stderr(&out).contains("writable by other users"));
    }
    stop.store(true, Ordering::Relaxed);
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

// ---- symlinks a task creates in an rw dir (issue 12 item 12: documented)

#[test]
fn a_task_can_leave_a_relative_symlink_out_of_an_rw_dir_but_cannot_follow_it() {
    let world = crate::limits::hostile_world(
        "dirs = [{ host = \"out\", guest = \"/out\", mode = \"rw\" }]\n",
    );
    let root = world.tmp.path();
    std::fs::create_dir(root.join("out")).unwrap();
    std::fs::write(root.join("host-only.txt"), "host only\n").unwrap();
    let steps = [
        "symlink:/etc/hostname:/out/absolute",
        "symlink:../host-only.txt:/out/up",
        "read:/out/up",
    ];
    let out = world.exec("probe", "hostile", &steps);
    assert!(out.status.success(), "{}", text(&out));
    let shown = stdout(&out);
    // Absolute targets are refused; a relative one is created (documented
    // in docs/tasks-toml.md) but the task cannot read through it.
    assert!(shown.contains("symlink /out/absolute: error"), "{shown}");
    assert!(shown.contains("symlink /out/up: ok"), "{shown}");
    assert!(shown.contains("read /out/up: error"), "{shown}");
    assert!(std::fs::symlink_metadata(root.join("out/absolute")).is_err());
    let link = std::fs::read_link(root.join("out/up")).unwrap();
    assert_eq!(link, Path::new("../host-only.txt"));
}
