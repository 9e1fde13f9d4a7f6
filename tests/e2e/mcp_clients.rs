//! `runner mcp` driven by real MCP clients not written here: the Python
//! `mcp` package's stdio client (PyPI) and `@modelcontextprotocol/inspector-cli`
//! (npm), installed under target/mcp-clients by tests/mcp-clients/setup.sh.
//! Each lists the tools, calls one that resolves a canary key and one that
//! injects it into a request to the stand-in API; the canary must be absent
//! from everything the client printed, the server's stderr and the audit
//! log. Each also runs code through the code tools of the scripts lab
//! (mcp_code.rs): a key resolved (checksum only) and one injected, an
//! exception's traceback, a refused tool. When a registry cannot be reached
//! the tests print SKIP and pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::harness::{RUNNER, World, canary, text};
use crate::mcp::{LISTED, assert_absent, standin, tools_world};
use crate::mcp_code::{
    CODE_LISTED, call_records, inject_code, marked, resolved_line, sent_keys, tool,
};
use crate::scripts::{LANGS, Lab, Lang, lab};
use crate::scripts_errors::raising;
use crate::scripts_secrets::resolve_script;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The clients' install dir, or `None` (with SKIP printed) when a registry
/// is unreachable. Installed once per test process.
fn clients() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("tests/mcp-clients/setup.sh"))
            .output()
            .expect("bash runs");
        match out.status.code() {
            Some(0) => Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())),
            Some(3) => {
                println!(
                    "SKIP: MCP client tests: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                eprintln!("SKIP: MCP client tests: a package registry is unreachable");
                None
            }
            _ => panic!("tests/mcp-clients/setup.sh failed:\n{}", text(&out)),
        }
    })
    .as_deref()
}

/// `runner mcp`'s command line for this world, as a client launches it.
fn server_args(world: &World) -> Vec<String> {
    let (home, config) = (world.home(), world.config());
    [
        "--home",
        home.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "mcp",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// Everything that must not hold the canary: the client's output and the
/// audit log; then the log must verify.
/// The names of the tools in a `tools/list` answer, sorted.
fn sorted_names(tools: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort();
    names
}

fn check_leaks(key: &str, world: &World, out: &Output) {
    let log = std::fs::read_to_string(world.audit_path()).unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_absent(
        key,
        &[
            ("client stdout", &stdout),
            ("client stderr", &stderr),
            ("audit log", &log),
        ],
    );
    assert!(world.ok(&["audit", "verify"]).status.success());
}

#[test]
fn the_python_sdk_client_lists_and_calls_tools() {
    let Some(dir) = clients() else { return };
    let key = canary();
    let api = standin(&key);
    let world = tools_world(&api, &key);
    let plan = json!({
        "command": RUNNER,
        "args": server_args(&world),
        "env": {"PATH": std::env::var("PATH").unwrap_or_default()},
        "calls": [
            {"tool": "reveal"},
            {"tool": "inject"},
            {"tool": "echo", "arguments": {"text": "from python"}},
            {"tool": "echo", "arguments": {"text": 5}},
            {"tool": "no-such-tool"},
            {"tool": "crash"},
        ],
    });
    let plan_path = world.tmp.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let out = Command::new(dir.join("venv/bin/python"))
        .arg(repo().join("tests/mcp-clients/py_client.py"))
        .arg(&plan_path)
        .output()
        .unwrap();
    // Leaks first: the failure messages below print the client's output.
    check_leaks(&key, &world, &out);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["server"]["name"], "scopehold");
    assert_eq!(sorted_names(&report["tools"]), LISTED);
    let calls = report["calls"].as_array().unwrap();
    let text_of = |i: usize| {
        calls[i]["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        text_of(0).contains("value: [REDACTED:posthog-read]"),
        "{}",
        calls[0]
    );
    assert!(text_of(1).contains("inject: status 200"), "{}", calls[1]);
    assert!(
        text_of(2).contains(r#"stdin: {"text":"from python"}"#),
        "{}",
        calls[2]
    );
    assert_eq!(calls[3]["error"]["code"], -32602, "{}", calls[3]);
    assert_eq!(calls[4]["error"]["code"], -32602, "{}", calls[4]);
    assert_eq!(calls[5]["result"]["isError"], true, "{}", calls[5]);
    assert_eq!(
        report["tools_after"].as_array().unwrap().len(),
        LISTED.len()
    );
    let client = &world.records_of("tool.call")[0]["client"];
    assert!(
        client.as_str().is_some_and(|c| !c.is_empty()),
        "the handshake's client name: {client}"
    );
}

/// `mcp-inspector-cli --cli` with the `mcpServers` configuration block of
/// docs/mcp.md, so the documented block is the one tested.
fn inspector(dir: &Path, world: &World, method_args: &[&str]) -> Output {
    let config =
        json!({"mcpServers": {"scopehold": {"command": RUNNER, "args": server_args(world)}}});
    let config_path = world.tmp.path().join("mcp.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let build = dir.join("npm/node_modules/@modelcontextprotocol/inspector-cli/build");
    Command::new("node")
        .arg(build.join("cli.js"))
        // It finds its own package.json by a path it checks against the
        // working directory but imports relative to itself: run it from
        // its build directory so both agree.
        .current_dir(&build)
        .args(["--cli", "--config"])
        .arg(&config_path)
        .args(["--server", "scopehold"])
        .args(method_args)
        .output()
        .unwrap()
}

#[test]
fn the_inspector_cli_lists_and_calls_tools() {
    let Some(dir) = clients() else { return };
    let key = canary();
    let api = standin(&key);
    let world = tools_world(&api, &key);
    let listed = inspector(dir, &world, &["--method", "tools/list"]);
    // Leaks first: the failure messages below print the client's output.
    check_leaks(&key, &world, &listed);
    assert!(listed.status.success(), "{}", text(&listed));
    let tools: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(sorted_names(&tools["tools"]), LISTED);
    let call = |tool: &str| {
        inspector(
            dir,
            &world,
            &["--method", "tools/call", "--tool-name", tool],
        )
    };
    let revealed = call("reveal");
    let injected = call("inject");
    let unknown = call("no-such-tool");
    for out in [&revealed, &injected, &unknown] {
        check_leaks(&key, &world, out);
    }
    assert!(
        String::from_utf8_lossy(&revealed.stdout).contains("[REDACTED:posthog-read]"),
        "{}",
        text(&revealed)
    );
    assert!(
        String::from_utf8_lossy(&injected.stdout).contains("inject: status 200"),
        "{}",
        text(&injected)
    );
    assert!(!unknown.status.success(), "{}", text(&unknown));
    let records = world.records_of("tool.call");
    let tools: Vec<&Value> = records.iter().map(|r| &r["tool"]).collect();
    assert_eq!(tools, [&json!("reveal"), &json!("inject")]);
}

/// The code a client sends to each code tool of the scripts lab, marked
/// with the client's name (its runs and requests are its own).
fn code_calls(client: &str, api: &str) -> Vec<(String, Value)> {
    let mut calls = Vec::new();
    for lang in LANGS {
        let resolve = marked(lang, client, resolve_script(lang));
        let inject = inject_code(lang, &format!("{client}-{}", lang.ext()));
        calls.push((tool("run", lang), json!({"code": resolve, "args": ["one"]})));
        calls.push((tool("inject", lang), json!({"code": inject, "args": [api]})));
    }
    calls
}

/// What each call of [`code_calls`] must have answered: `texts[i]` holds
/// the result text of call `i`.
fn check_code_answers(lab: &Lab, client: &str, texts: &[String]) {
    let resolved = resolved_line(&lab.canary);
    let bearer = format!("Bearer {}", lab.canary);
    for (i, lang) in LANGS.into_iter().enumerate() {
        let (run, inject) = (&texts[2 * i], &texts[2 * i + 1]);
        assert!(run.contains(&resolved), "{lang:?}: {run}");
        assert!(inject.contains("events 200 3"), "{lang:?}: {inject}");
        let origin = format!("{client}-{}", lang.ext());
        assert!(
            sent_keys(lab, &origin) == [Some(bearer.clone())],
            "{lang:?}"
        );
        let code = marked(lang, client, resolve_script(lang));
        let records = call_records(&lab.world, &code);
        assert_eq!(records[1]["kind"], "tool.call");
        assert_eq!(records[1]["tool"], tool("run", lang).as_str());
    }
}

#[test]
fn the_python_sdk_client_runs_code_tools() {
    let (Some(dir), Some(lab)) = (clients(), lab()) else {
        return;
    };
    let client = "mcp-python-sdk";
    let mut calls: Vec<Value> = code_calls(client, &lab.api.url())
        .into_iter()
        .map(|(tool, arguments)| json!({"tool": tool, "arguments": arguments}))
        .collect();
    let raising = marked(Lang::Python, client, raising(Lang::Python));
    calls.push(json!({"tool": "run-python", "arguments": {"code": raising}}));
    calls.push(json!({"tool": "unscripted-python", "arguments": {"code": "1"}}));
    let plan = json!({
        "command": RUNNER,
        "args": server_args(&lab.world),
        "env": {"PATH": std::env::var("PATH").unwrap_or_default()},
        "calls": calls,
    });
    let plan_path = lab.world.tmp.path().join("code-plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let out = Command::new(dir.join("venv/bin/python"))
        .arg(repo().join("tests/mcp-clients/py_client.py"))
        .arg(&plan_path)
        .output()
        .unwrap();
    // Leaks first: the failure messages below print the client's output.
    check_leaks(&lab.canary, &lab.world, &out);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sorted_names(&report["tools"]), CODE_LISTED);
    let calls = report["calls"].as_array().unwrap();
    let texts: Vec<String> = calls.iter().map(|c| c["result"].to_string()).collect();
    check_code_answers(lab, client, &texts);
    let failed = &calls[4]["result"];
    assert_eq!(failed["isError"], true, "{failed}");
    assert!(
        failed.to_string().contains("ValueError: bad value 7"),
        "{failed}"
    );
    assert!(!failed.to_string().contains("wasm backtrace"), "{failed}");
    assert_eq!(calls[5]["error"]["code"], -32602, "{}", calls[5]);
    assert_eq!(report["tools_after"].as_array().unwrap().len(), 5);
    let refused = lab.world.records_of("tool.refused");
    let mine = refused
        .iter()
        .filter(|r| r["tool"] == "unscripted-python" && r["client"] == "mcp");
    assert_eq!(mine.count(), 1, "the refused call is recorded");
}

#[test]
fn the_inspector_cli_runs_code_tools() {
    let (Some(dir), Some(lab)) = (clients(), lab()) else {
        return;
    };
    let client = "mcp-inspector";
    let mut texts = Vec::new();
    for (tool, arguments) in code_calls(client, &lab.api.url()) {
        let code = format!("code={}", arguments["code"].as_str().unwrap());
        let args = format!("args={}", arguments["args"]);
        let method = ["--method", "tools/call", "--tool-name", &tool, "--tool-arg"];
        let mut method_args = method.to_vec();
        method_args.extend([code.as_str(), args.as_str()]);
        let out = inspector(dir, &lab.world, &method_args);
        check_leaks(&lab.canary, &lab.world, &out);
        assert!(out.status.success(), "{tool}: {}", text(&out));
        texts.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    check_code_answers(lab, client, &texts);
    let refused = inspector(
        dir,
        &lab.world,
        &["--method", "tools/call", "--tool-name", "pinned-python"],
    );
    check_leaks(&lab.canary, &lab.world, &refused);
    assert!(!refused.status.success(), "{}", text(&refused));
    let records = lab.world.records_of("tool.refused");
    let mine = records.iter().filter(|r| r["tool"] == "pinned-python");
    assert!(mine.count() >= 1, "the refused call is recorded");
}
