//! Scripts under review: who may run which script (`scripts` in tasks.toml,
//! the interpreter under `components`), and `runner audit show RUN`, which
//! prints exactly the code that ran, checked against the digest the log
//! recorded.

use crate::harness::*;
use crate::scripts::{LANGS, Lang, digest, lab, pinned_script};

/// Exit status of a refused run (docs: exit codes).
const REFUSED: i32 = 126;

#[test]
fn an_agent_without_scripts_set_runs_none_and_the_hint_says_what_to_add() {
    let Some(lab) = lab() else { return };
    for lang in LANGS {
        let script = format!("{}no scripts for this agent\n", comment(lang));
        let out = lab.exec(lang, "unset", &script, "no-scripts", &[]);
        assert_eq!(out.status.code(), Some(REFUSED), "{lang:?}: {}", text(&out));
        let err = stderr(&out);
        assert!(
            err.contains("agent no-scripts may not run scripts"),
            "{err}"
        );
        let pin = format!("scripts = [\"blake3:{}\"]", digest(&script));
        assert!(
            err.contains(&pin) && err.contains("scripts = \"any\""),
            "{err}"
        );
        let refused = lab.world.records_of("exec.refused");
        let digests: Vec<_> = refused.iter().map(|r| r["component"].clone()).collect();
        assert!(digests.contains(&digest(&script).into()), "{lang:?}");
    }
}

fn comment(lang: Lang) -> &'static str {
    match lang {
        Lang::Python => "# ",
        Lang::Js => "// ",
    }
}

#[test]
fn a_pinned_agent_runs_only_pinned_scripts_in_a_pinned_interpreter() {
    let Some(lab) = lab() else { return };
    for lang in LANGS {
        let pinned = pinned_script(lang);
        let out = lab.exec(lang, "pinned", &pinned, "pinned", &[]);
        assert!(out.status.success(), "{lang:?}: {}", text(&out));
        assert!(stdout(&out).contains("pinned"), "{lang:?}: {}", text(&out));
        // One byte more is another script.
        let edited = format!("{pinned}\n");
        let out = lab.exec(lang, "pinned-edited", &edited, "pinned", &[]);
        assert_eq!(out.status.code(), Some(REFUSED), "{lang:?}: {}", text(&out));
        let err = stderr(&out);
        assert!(
            err.contains("this script may not run as agent pinned"),
            "{err}"
        );
        assert!(
            err.contains(&format!("blake3:{}", digest(&edited))),
            "{err}"
        );
        // `scripts = "any"` lets any script run, in a pinned interpreter only.
        let out = lab.exec(lang, "any", &edited, "pinned-any", &[]);
        assert!(out.status.success(), "{lang:?}: {}", text(&out));
        let out = lab.exec(lang, "elsewhere", &edited, "pinned-elsewhere", &[]);
        assert_eq!(out.status.code(), Some(REFUSED), "{lang:?}: {}", text(&out));
        assert!(stderr(&out).contains("this component may not run as agent pinned-elsewhere"));
    }
}

#[test]
fn audit_show_prints_exactly_the_code_that_ran() {
    let Some(lab) = lab() else { return };
    for lang in LANGS {
        let first = format!("{}first version\nprint('v1')\n", comment(lang));
        let first = first.replace("print('v1')", print_line(lang, "v1"));
        let out = lab.exec(lang, "reviewed", &first, "scripts", &[]);
        assert!(out.status.success(), "{lang:?}: {}", text(&out));
        let run = lab.run_records(&first)[0]["run"]
            .as_str()
            .unwrap()
            .to_owned();
        // The same file, edited after the run: a new digest in the log.
        let second = first.replace("v1", "v2");
        let out = lab.exec(lang, "reviewed", &second, "scripts", &[]);
        assert!(out.status.success(), "{lang:?}: {}", text(&out));
        let start = &lab.run_records(&second)[0];
        assert_eq!(start["script"], digest(&second).as_str());
        assert_ne!(start["run"], run.as_str());
        let shown = lab.world.ok(&["audit", "show", &run[..12]]);
        let view = stdout(&shown);
        assert!(
            view.contains(&format!("script blake3:{}", digest(&first))),
            "{view}"
        );
        assert!(view.contains(&first), "{view}");
        assert!(!view.contains("v2"), "{view}");
        assert!(view.contains("exec.end"), "{view}");
        let raw = lab.world.ok(&["audit", "show", &run, "--script"]);
        assert_eq!(raw.stdout, first.as_bytes(), "{lang:?}");
    }
}

fn print_line(lang: Lang, word: &str) -> &'static str {
    match (lang, word) {
        (Lang::Python, "v1") => "print('v1')",
        (Lang::Js, "v1") => "console.log('v1');",
        _ => unreachable!(),
    }
}

/// A script changed in the store after its run is reported, never shown
/// as what ran.
#[test]
fn audit_show_refuses_a_stored_script_changed_after_the_run() {
    let Some(lab) = lab() else { return };
    let script = "# tampered later\nprint('original')\n";
    let out = lab.exec(Lang::Python, "tampered", script, "scripts", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let run = lab.run_records(script)[0]["run"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored = lab.world.home().join("scripts").join(digest(script));
    std::fs::write(&stored, "print('forged')\n").unwrap();
    let out = lab.world.run(&["audit", "show", &run]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("changed after the run"),
        "{}",
        text(&out)
    );
    assert!(!stdout(&out).contains("forged"), "{}", text(&out));
    // Running the script again restores the entry from its exact text.
    let out = lab.exec(Lang::Python, "tampered", script, "scripts", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = lab.world.ok(&["audit", "show", &run, "--script"]);
    assert_eq!(shown.stdout, script.as_bytes());
}

/// Refusals that need no interpreter: they come first.
#[test]
fn a_missing_interpreter_or_a_bad_script_file_is_a_clear_error() {
    let policy = "[projects.analytics]\n\n[agents.a]\nproject = \"analytics\"\nscripts = \"any\"\n";
    let world = World::with_policy(policy);
    let script = world.tmp.path().join("fix.py");
    std::fs::write(&script, "print('hi')\n").unwrap();
    let run = |path: &std::path::Path| world.run(&["exec", path.to_str().unwrap(), "--agent", "a"]);
    let out = run(&script);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("no python interpreter"), "{err}");
    assert!(
        err.contains(
            "hint: build and install the interpreters with `interpreters/build.sh --install"
        ),
        "{err}"
    );
    let binary = world.tmp.path().join("bad.js");
    std::fs::write(&binary, b"console.log('\xff\xfe');\n").unwrap();
    let out = run(&binary);
    assert_eq!(out.status.code(), Some(REFUSED), "{}", text(&out));
    assert!(stderr(&out).contains("is not UTF-8 text"), "{}", text(&out));
    let huge = world.tmp.path().join("huge.py");
    std::fs::write(&huge, "#".repeat((1 << 20) + 1)).unwrap();
    let out = run(&huge);
    assert_eq!(out.status.code(), Some(REFUSED), "{}", text(&out));
    assert!(
        stderr(&out).contains("larger than the 1048576-byte limit"),
        "{}",
        text(&out)
    );
    // None of them started a run.
    assert!(world.records_of("exec.start").is_empty());
}
