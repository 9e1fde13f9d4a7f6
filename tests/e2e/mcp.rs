//! `runner mcp` spoken to line by line over the child's stdio (JSON-RPC as
//! the MCP stdio transport carries it): listing, calls that resolve and
//! inject a canary key, the audit of each call, and every way a call can go
//! wrong, each followed by a call that still works. The real clients are
//! in `mcp_clients.rs`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use posthog_standin::Server;
use serde_json::{Value, json};

use crate::harness::{World, canary, guest};

pub const SECRET: &str = "posthog-read";

/// A world with tools: `reveal` prints the key (the runner redacts it),
/// `inject` sends it host-side to the stand-in API, `echo` prints its
/// arguments, `crash` traps, `spin` runs past its 1 s timeout, `fails`
/// exits 3, `locked`'s agent is pinned to other code, and `nodir`'s agent
/// is granted a directory that does not exist (listed; its run is refused).
pub fn tools_world(api: &Server, key: &str) -> World {
    let url = api.url();
    let (probe, egress, hog) = (guest("probe"), guest("egress-probe"), guest("hog"));
    let tool = |name: &str, wasm: &std::path::Path, agent: &str, args: &str| {
        format!(
            "[tools.{name}]\ncomponent = {:?}\nagent = \"{agent}\"\n\
             description = \"the {name} tool\"\nargs = [{args}]\n\n",
            wasm.display().to_string()
        )
    };
    let events = format!("\"inject:{SECRET}:{url}/api/projects/1/events\"");
    let policy = format!(
        "[projects.analytics]\n\n\
         [agents.q]\nproject = \"analytics\"\nallowed_hosts = [\"{url}\"]\n\
         grants = [{{ secret = \"{SECRET}\", hosts = [\"{url}\"] }}]\n\n\
         [agents.slow]\nproject = \"analytics\"\nlimits = {{ timeout = \"1s\" }}\n\n\
         [agents.locked]\nproject = \"analytics\"\ncomponents = [\"blake3:{zeros}\"]\n\n\
         [agents.nodir]\nproject = \"analytics\"\n\
         dirs = [{{ host = \"/nonexistent-scopehold-dir\", guest = \"/data\", mode = \"ro\" }}]\n\n\
         {reveal}{inject}{echo}\
         [tools.echo.input.text]\ntype = \"string\"\ndescription = \"what to echo\"\n\n\
         [tools.echo.input.count]\ntype = \"integer\"\nrequired = false\n\n\
         {crash}{spin}{fails}{locked}{nodir}",
        zeros = "0".repeat(64),
        reveal = tool("reveal", &egress, "q", &format!("\"print:{SECRET}\"")),
        inject = tool("inject", &egress, "q", &events),
        echo = tool("echo", &probe, "q", "\"stdin\""),
        crash = tool("crash", &probe, "q", "\"panic\""),
        spin = tool("spin", &hog, "slow", "\"spin\""),
        fails = tool("fails", &probe, "q", "\"exit:3\""),
        locked = tool("locked", &probe, "locked", "\"env\""),
        nodir = tool("nodir", &probe, "nodir", "\"env\""),
    );
    let world = World::with_policy(&policy);
    world.set_secret("analytics", SECRET, key);
    world
}

/// The tools every client must see: all but `locked`.
pub const LISTED: [&str; 7] = [
    "crash", "echo", "fails", "inject", "nodir", "reveal", "spin",
];

pub fn standin(key: &str) -> Server {
    Server::start("127.0.0.1:0", key).expect("the stand-in server starts")
}

/// A `runner mcp` child and every line it wrote to stdout.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    pub seen: Vec<String>,
    next_id: u64,
}

impl Session {
    pub fn start(world: &World) -> Session {
        let mut child = world
            .cmd(&["mcp"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut session = Session {
            child,
            stdin,
            lines,
            seen: Vec::new(),
            next_id: 1,
        };
        let init = session.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "scopehold-e2e", "version": "7.7"}
            }),
        );
        assert_eq!(init["result"]["serverInfo"]["name"], "scopehold", "{init}");
        session.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        session
    }

    pub fn send(&mut self, message: &Value) {
        self.send_line(&message.to_string());
    }

    pub fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends a request and waits for the response with its id.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            // A guard against a hung server, not a measurement.
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(120))
                .expect("the server answers");
            self.seen.push(line.clone());
            let message: Value = serde_json::from_str(&line).expect("every line is JSON");
            if message["id"] == id {
                return message;
            }
        }
    }

    pub fn call(&mut self, tool: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": tool, "arguments": arguments}))
    }

    pub fn listed(&mut self) -> Vec<String> {
        let list = self.request("tools/list", json!({}));
        let tools = list["result"]["tools"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut names: Vec<String> = tools
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        names
    }

    /// Closes stdin and returns the server's stderr once it has exited.
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        drop(self.stdin.take());
        let out = self.child.wait_with_output().unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// The text of a tool result's content blocks, joined.
pub fn result_text(response: &Value) -> String {
    let content = response["result"]["content"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let texts: Vec<&str> = content.iter().filter_map(|c| c["text"].as_str()).collect();
    texts.join("\n")
}

/// Asserts `key` appears nowhere in `places` (name, text) pairs.
pub fn assert_absent(key: &str, places: &[(&str, &str)]) {
    for (name, text) in places {
        assert!(!text.contains(key), "the canary leaked into {name}");
    }
}

#[test]
fn tools_resolve_and_inject_a_key_the_client_never_sees() {
    let key = canary();
    let api = standin(&key);
    let world = tools_world(&api, &key);
    let mut session = Session::start(&world);
    assert_eq!(session.listed(), LISTED);
    let revealed = session.call("reveal", json!({}));
    // Leaks first: the failure messages below print what the server said.
    assert_absent(&key, &[("an MCP message", &revealed.to_string())]);
    assert_eq!(revealed["result"]["isError"], false, "{revealed}");
    let text = result_text(&revealed);
    assert!(text.contains("value: [REDACTED:posthog-read]"), "{text}");
    let injected = session.call("inject", json!({}));
    assert_absent(&key, &[("an MCP message", &injected.to_string())]);
    assert!(
        result_text(&injected).contains("inject: status 200"),
        "{injected}"
    );
    let sent = api.received();
    assert!(
        sent.iter()
            .any(|r| r.header("authorization") == Some(&format!("Bearer {key}")))
    );
    let messages = session.seen.join("\n");
    let (status, stderr) = session.finish();
    let log = std::fs::read_to_string(world.audit_path()).unwrap();
    let places = [
        ("an MCP message", &messages),
        ("stderr", &stderr),
        ("the audit log", &log),
    ];
    assert_absent(&key, &places.map(|(name, text)| (name, text.as_str())));
    assert!(status.success(), "{stderr}");
    check_call_records(&world);
    assert!(world.ok(&["audit", "verify"]).status.success());
}

/// Each call's run: `exec.start`, then `tool.call` naming the tool and the
/// client of the handshake, ..., `exec.end`.
fn check_call_records(world: &World) {
    let calls = world.records_of("tool.call");
    let tools: Vec<&str> = calls.iter().map(|r| r["tool"].as_str().unwrap()).collect();
    assert_eq!(tools, ["reveal", "inject"]);
    for call in &calls {
        assert_eq!(call["client"], "scopehold-e2e");
        assert_eq!(call["client_version"], "7.7");
        let run = call["run"].as_str().unwrap();
        let kinds: Vec<String> = world
            .records()
            .iter()
            .filter(|r| r["run"] == run)
            .map(|r| r["kind"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(kinds[..2], ["exec.start", "tool.call"], "{kinds:?}");
        assert_eq!(kinds.last().unwrap(), "exec.end", "{kinds:?}");
    }
}

#[test]
fn arguments_reach_the_task_as_json_on_stdin() {
    let key = canary();
    let api = standin(&key);
    let world = tools_world(&api, &key);
    let mut session = Session::start(&world);
    let echoed = session.call("echo", json!({"text": "hi \"there\"", "count": 2}));
    assert_eq!(echoed["result"]["isError"], false, "{echoed}");
    let text = result_text(&echoed);
    let json_part = text
        .trim()
        .strip_prefix("stdin: ")
        .expect("the probe echoes stdin");
    let got: Value = serde_json::from_str(json_part).unwrap();
    assert_eq!(got, json!({"text": "hi \"there\"", "count": 2}));
    session.finish();
}

#[test]
fn bad_arguments_are_protocol_errors_and_the_server_stays_healthy() {
    let key = canary();
    let api = standin(&key);
    let world = tools_world(&api, &key);
    let mut session = Session::start(&world);
    let huge = "x".repeat(200 * 1024);
    let cases = [
        (json!({"text": 5}), "must be of type string"),
        (json!({"count": 1}), "\"text\" is required"),
        (
            json!({"text": "a", "count": "2"}),
            "must be of type integer",
        ),
        (json!({"text": "a", "rm": true}), "is not an input"),
        (json!({"text": huge}), "at most 65536"),
    ];
    for (arguments, expected) in cases {
        let answer = session.call("echo", arguments);
        assert_eq!(answer["error"]["code"], -32602, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
        assert!(message.len() < 1024, "a value is never echoed back");
    }
    let fine = session.call("echo", json!({"text": "still here"}));
    assert!(result_text(&fine).contains("still here"), "{fine}");
    assert_eq!(
        world.records_of("tool.call").len(),
        1,
        "refused calls start no run"
    );
    let (status, _) = session.finish();
    assert!(status.success());
    // ... but each leaves a record, without the value it was sent.
    let refused = world.records_of("tool.refused");
    assert_eq!(refused.len(), 5, "{refused:?}");
    for record in &refused {
        assert_eq!(record["tool"], "echo");
        assert_eq!(record["as_agent"], "q");
        assert_eq!(record["reason"], "bad-input");
        assert_eq!(record["client"], "scopehold-e2e");
        assert!(!record.to_string().contains("xxxxxxxx"), "{record}");
    }
    assert!(world.ok(&["audit", "verify"]).status.success());
}

#[test]
fn failing_trapping_and_timed_out_tasks_are_tool_errors() {
    let key = canary();
    let api = standin(&key);
    let world = tools_world(&api, &key);
    let mut session = Session::start(&world);
    let failed = session.call("fails", json!({}));
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    assert!(
        result_text(&failed).contains("exited with code 1"),
        "{failed}"
    );
    let crashed = session.call("crash", json!({}));
    assert_eq!(crashed["result"]["isError"], true, "{crashed}");
    let text = result_text(&crashed);
    assert!(text.contains("trapped"), "{text}");
    assert!(
        text.contains("panics on purpose"),
        "the task's stderr: {text}"
    );
    let spun = session.call("spin", json!({}));
    assert_eq!(spun["result"]["isError"], true, "{spun}");
    assert!(result_text(&spun).contains("timeout limit"), "{spun}");
    let fine = session.call("echo", json!({"text": "after"}));
    assert!(result_text(&fine).contains("after"), "{fine}");
    let outcomes: Vec<Value> = world
        .records_of("exec.end")
        .iter()
        .map(|r| r["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        [
            json!("exited"),
            json!("trapped"),
            json!("limit-timeout"),
            json!("exited")
        ]
    );
    session.finish();
}

#[test]
fn malformed_messages_do_not_stop_the_server() {
    let key = canary();
    let api = standin(&key);
    let world = tools_world(&api, &key);
    let mut session = Session::start(&world);
    session.send_line("{not json");
    session.send_line("\u{1b}[2J");
    let wrong = session.request("tools/call", json!({"name": 5}));
    assert!(wrong.get("error").is_some(), "{wrong}");
    let missing = session.request("no/such/method", json!({}));
    assert_eq!(missing["error"]["code"], -32601, "{missing}");
    assert_eq!(session.listed(), LISTED);
    let (status, stderr) = session.finish();
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
