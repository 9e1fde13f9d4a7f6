//! MCP code tools (`kind = "python"` / `"javascript"`) over `runner mcp`'s
//! stdio: the code a client sends runs as a script under the tool's agent,
//! in the scripts lab (scripts.rs: interpreters installed, the lab's
//! policy declares the tools). A key is resolved (only its checksum shown)
//! or injected (never shown), errors are tool results with the script's
//! traceback, tools whose agent may not take the code are neither listed
//! nor run, and every refused call leaves a `tool.refused` record.

use serde_json::{Value, json};

use crate::harness::{World, stdout};
use crate::mcp::{Session, assert_absent, result_text};
use crate::scripts::{LANGS, Lab, Lang, digest, kinds, lab};
use crate::scripts_errors::{broken, raising};
use crate::scripts_secrets::{fnv1a64, inject_script, resolve_script};

/// The lab's code tools a client sees: the others may not run.
pub const CODE_LISTED: [&str; 5] = [
    "inject-js",
    "inject-python",
    "run-js",
    "run-python",
    "trusted-python",
];

pub fn tool(prefix: &str, lang: Lang) -> String {
    match lang {
        Lang::Python => format!("{prefix}-python"),
        Lang::Js => format!("{prefix}-js"),
    }
}

/// `text` with a first comment line naming `origin`: each test's code is
/// unique, so its run is found in the shared log by the code's digest.
pub fn marked(lang: Lang, origin: &str, text: &str) -> String {
    match lang {
        Lang::Python => format!("# {origin}\n{text}"),
        Lang::Js => format!("// {origin}\n{text}"),
    }
}

/// The lines a resolving script prints of the canary: its size and checksum.
pub fn resolved_line(canary: &str) -> String {
    let fnv = fnv1a64(canary.as_bytes());
    format!("granted {} bytes fnv1a64={fnv}", canary.len())
}

/// The inject script of `lang`, its requests marked with `origin` (the
/// lab's stand-in API is shared: each test counts its own requests).
pub fn inject_code(lang: Lang, origin: &str) -> String {
    let events = "/api/projects/1/events";
    let text = inject_script(lang).replace(events, &format!("{events}?origin={origin}"));
    marked(lang, origin, &text)
}

/// The `authorization` headers of the events requests marked `origin`.
pub fn sent_keys(lab: &Lab, origin: &str) -> Vec<Option<String>> {
    let received = lab.api.received();
    let mark = format!("origin={origin}");
    let sent = received.iter().filter(|r| r.target.contains(&mark));
    sent.map(|r| r.header("authorization").map(str::to_owned))
        .collect()
}

/// The records of the last run of `code`.
pub fn call_records(world: &World, code: &str) -> Vec<Value> {
    let records = world.records();
    let start = records
        .iter()
        .rev()
        .find(|r| r["kind"] == "exec.start" && r["script"] == digest(code).as_str())
        .unwrap_or_else(|| panic!("no exec.start for code {}", digest(code)));
    let run = start["run"].clone();
    records.into_iter().filter(|r| r["run"] == run).collect()
}

#[test]
fn code_tools_resolve_and_inject_a_key_the_client_never_sees() {
    let Some(lab) = lab() else { return };
    let mut session = Session::start(&lab.world);
    assert_eq!(session.listed(), CODE_LISTED);
    for lang in LANGS {
        let code = marked(lang, "mcp session", resolve_script(lang));
        let answer = session.call(
            &tool("run", lang),
            json!({"code": code, "args": ["one", "two"]}),
        );
        assert_absent(&lab.canary, &[("an MCP message", &answer.to_string())]);
        assert_eq!(answer["result"]["isError"], false, "{lang:?}: {answer}");
        let text = result_text(&answer);
        assert!(text.contains(&resolved_line(&lab.canary)), "{text}");
        assert!(text.contains("billing-admin: denied"), "{text}");
        let records = call_records(&lab.world, &code);
        assert_eq!(
            kinds(&records),
            [
                "exec.start",
                "tool.call",
                "secret.resolve",
                "secret.deny",
                "exec.end"
            ]
        );
        assert_eq!(records[0]["script_bytes"], code.len());
        assert_eq!(records[1]["tool"], tool("run", lang).as_str());
        assert_eq!(records[1]["client"], "scopehold-e2e");
        let run = records[0]["run"].as_str().unwrap();
        let shown = lab.world.ok(&["audit", "show", run, "--script"]);
        assert_eq!(shown.stdout, code.as_bytes(), "audit show prints the code");
        inject(lab, &mut session, lang);
        reveal(lab, &mut session, lang);
    }
    let messages = session.seen.join("\n");
    let (status, stderr) = session.finish();
    let log = std::fs::read_to_string(lab.world.audit_path()).unwrap();
    let places = [
        ("an MCP message", &messages),
        ("stderr", &stderr),
        ("the audit log", &log),
    ];
    assert_absent(
        &lab.canary,
        &places.map(|(name, text)| (name, text.as_str())),
    );
    assert!(status.success(), "{stderr}");
    assert!(lab.world.ok(&["audit", "verify"]).status.success());
}

/// The inject tool of `lang`: the stand-in receives the key, the result
/// shows only the redacted echo of it.
fn inject(lab: &Lab, session: &mut Session, lang: Lang) {
    let origin = format!("mcp-session-{}", lang.ext());
    let code = inject_code(lang, &origin);
    let url = lab.api.url();
    let answer = session.call(&tool("inject", lang), json!({"code": code, "args": [url]}));
    assert_absent(&lab.canary, &[("an MCP message", &answer.to_string())]);
    let text = result_text(&answer);
    assert_eq!(answer["result"]["isError"], false, "{lang:?}: {text}");
    assert!(text.contains("events 200 3"), "{lang:?}: {text}");
    assert!(text.contains("unlisted: refused"), "{lang:?}: {text}");
    let bearer = format!("Bearer {}", lab.canary);
    let sent = sent_keys(lab, &origin);
    assert!(
        sent == [Some(bearer)],
        "{lang:?}: the bound request carries the key"
    );
}

/// Code that prints the key it resolved: the result shows it redacted.
fn reveal(lab: &Lab, session: &mut Session, lang: Lang) {
    let code = match lang {
        Lang::Python => {
            "from scopehold import get_secret\nprint('key', get_secret('posthog-read'))\n"
        }
        Lang::Js => {
            "import { getSecret } from \"scopehold\";\nconsole.log(\"key\", getSecret(\"posthog-read\"));\n"
        }
    };
    let code = marked(lang, "mcp reveal", code);
    let answer = session.call(&tool("run", lang), json!({ "code": code }));
    assert_absent(&lab.canary, &[("an MCP message", &answer.to_string())]);
    let text = result_text(&answer);
    assert!(
        text.contains("key [REDACTED:posthog-read]"),
        "{lang:?}: {text}"
    );
}

#[test]
fn a_failing_script_is_a_tool_error_with_its_traceback() {
    let Some(lab) = lab() else { return };
    let mut session = Session::start(&lab.world);
    for lang in LANGS {
        let name = tool("run", lang);
        let file = format!("{name}.{}", lang.ext());
        for (code, expected) in [
            (marked(lang, "mcp raises", raising(lang)), exception(lang)),
            (marked(lang, "mcp broken", broken(lang)), syntax(lang)),
        ] {
            let answer = session.call(&name, json!({"code": code}));
            assert_eq!(answer["result"]["isError"], true, "{lang:?}: {answer}");
            let text = result_text(&answer);
            for line in expected {
                let line = line.replace("FILE", &file);
                assert!(text.contains(&line), "{lang:?}: {line:?} missing:\n{text}");
            }
            for bad in ["wasm backtrace", "trapped", "panicked", "interpreter.py"] {
                assert!(!text.contains(bad), "{lang:?}: {bad:?} in:\n{text}");
            }
            let records = call_records(&lab.world, &code);
            assert_eq!(records.last().unwrap()["exit_code"], 1, "{lang:?}");
        }
        // The syntax error stopped the script before it resolved anything.
        let broken = marked(lang, "mcp broken", broken(lang));
        let kinds_of = call_records(&lab.world, &broken);
        assert_eq!(kinds(&kinds_of), ["exec.start", "tool.call", "exec.end"]);
        let after = session.call(&name, json!({"code": marked(lang, "mcp after", "")}));
        assert_eq!(after["result"]["isError"], false, "{lang:?}: {after}");
    }
    let (status, stderr) = session.finish();
    assert!(status.success(), "{stderr}");
}

/// Lines of the traceback of `raising`, moved one line down by its mark.
fn exception(lang: Lang) -> Vec<&'static str> {
    match lang {
        Lang::Python => vec![
            "Traceback (most recent call last):",
            "File \"FILE\", line 6, in <module>",
            "File \"FILE\", line 4, in check",
            "ValueError: bad value 7",
        ],
        Lang::Js => vec!["RangeError: bad value 7", "at check (FILE:7:"],
    }
}

fn syntax(lang: Lang) -> Vec<&'static str> {
    match lang {
        Lang::Python => vec!["File \"FILE\", line 4", "SyntaxError"],
        Lang::Js => vec!["FILE:4:9", "SyntaxError"],
    }
}

#[test]
fn code_tools_that_may_not_run_are_refused_and_every_refusal_is_recorded() {
    let Some(lab) = lab() else { return };
    let mut session = Session::start(&lab.world);
    let code = json!({"code": "print('never runs')"});
    let cases = [
        ("unscripted-python", code.clone(), "scripts = \"any\""),
        ("pinned-python", code.clone(), "scripts = \"any\""),
        (
            "elsewhere-js",
            code.clone(),
            "may not run as agent pinned-elsewhere",
        ),
        ("run-python", json!({"code": 5}), "must be of type string"),
        ("run-js", json!({}), "\"code\" is required"),
        ("run-python", json!({"code": "x", "args": [1]}), "args[0]"),
        (
            "run-python",
            json!({"code": "x", "env": {}}),
            "is not an input",
        ),
        ("no-such-code-tool", code, "unknown tool"),
    ];
    for (name, arguments, expected) in &cases {
        let answer = session.call(name, arguments.clone());
        assert_eq!(answer["error"]["code"], -32602, "{name}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{name}: {answer}");
    }
    let (status, stderr) = session.finish();
    assert!(status.success(), "{stderr}");
    let refused = lab.world.records_of("tool.refused");
    let of = |name: &str, reason: &str| {
        refused
            .iter()
            .filter(|r| r["tool"] == name && r["reason"] == reason)
            .filter(|r| r["client"] == "scopehold-e2e" && r["client_version"] == "7.7")
            .count()
    };
    assert_eq!(of("unscripted-python", "unavailable"), 1);
    assert_eq!(of("pinned-python", "unavailable"), 1);
    assert_eq!(of("elsewhere-js", "unavailable"), 1);
    assert_eq!(of("run-python", "bad-input"), 3);
    assert_eq!(of("run-js", "bad-input"), 1);
    assert_eq!(of("no-such-code-tool", "unknown-tool"), 1);
    assert!(lab.world.ok(&["audit", "verify"]).status.success());
    let log = lab.world.ok(&["audit", "log", "--agent", "no-scripts"]);
    assert!(
        stdout(&log).contains("tool.refused   tool unscripted-python agent no-scripts"),
        "{}",
        stdout(&log)
    );
}

/// A code tool whose interpreter is not installed: named on stderr at
/// start with the hint, not listed, and a call of it is refused (recorded).
#[test]
fn a_code_tool_without_its_interpreter_is_not_listed() {
    let world = World::with_policy(
        "[projects.p]\n[agents.coder]\nproject = \"p\"\nscripts = \"any\"\n\n\
         [tools.run-python]\nkind = \"python\"\nagent = \"coder\"\ndescription = \"Python\"\n",
    );
    let mut session = Session::start(&world);
    assert!(session.listed().is_empty());
    let answer = session.call("run-python", json!({"code": "print(1)"}));
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("no python interpreter"), "{message}");
    assert!(
        message.contains("interpreters/build.sh --install"),
        "{message}"
    );
    let (status, stderr) = session.finish();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("tool run-python is not listed: no python interpreter"),
        "{stderr}"
    );
    let refused = world.records_of("tool.refused");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["reason"], "unavailable");
    assert_eq!(refused[0]["as_agent"], "coder");
    assert!(world.records_of("exec.start").is_empty());
    assert!(world.ok(&["audit", "verify"]).status.success());
}
