//! Hostile numbers and hostile output (issue 17): absurd ages and expiries
//! are errors with hints, never panics; a closed stdout ends quietly, a full
//! one is an error with a hint; `audit log` escapes what could drive a
//! terminal.

use std::process::Output;

use crate::harness::*;

// ---- numbers, dates and output (issue 17 items 7, 9)

pub(crate) fn assert_no_panic(out: &Output) {
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
    use scopehold_core::audit::{Event, Record};
    use std::io::Write;
    let text = std::fs::read_to_string(world.audit_path()).unwrap();
    let mut last = Record::parse_line(text.lines().last().unwrap().as_bytes()).unwrap();
    let file = std::fs::OpenOptions::new()
        .append(true)
        .open(world.audit_path());
    let mut out = std::io::BufWriter::new(file.unwrap());
    let run = scopehold_core::audit::new_run_id().unwrap();
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
        scopehold_core::audit::Event::SecretDeny {
            run: scopehold_core::audit::new_run_id().unwrap(),
            agent: "support-analysis".parse().unwrap(),
            project: "analytics".parse().unwrap(),
            secret: nasty.to_owned(),
            reason: scopehold_core::audit::Token::new("not-granted").unwrap(),
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
fn append_event(world: &World, event: scopehold_core::audit::Event) {
    use scopehold_core::audit::Record;
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
