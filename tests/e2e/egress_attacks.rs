//! A hostile task with a reflecting API (threats T1 + T2, issue 12 item 1):
//! it tries to get an injected key back through a gzip echo, through a
//! store-and-read-back, and to push it out through the URL host. Against the
//! real binary, the egress-probe guest and real servers on 127.0.0.1 (the
//! stand-in's reflecting endpoints, plus a second server as an allowed sink
//! the key is not bound to). The canary must reach the bound API's request
//! only: never the sink, the task's output, the audit log or stderr.

use std::process::Output;

use posthog_standin::{Received, Server};

use crate::harness::{World, canary, stderr, stdout, text};

const SECRET: &str = "posthog-read";

/// A world whose agent `q` may reach `allowed`, with posthog-read (value
/// `key`) bound to `bound` and injected at `inject` (absent: the default).
pub fn world(allowed: &[String], bound: &str, inject: Option<&str>, key: &str) -> World {
    let quoted: Vec<String> = allowed.iter().map(|u| format!("{u:?}")).collect();
    let inject = inject.map_or(String::new(), |at| format!(", inject = {at:?}"));
    let policy = format!(
        "[projects.analytics]\n\n[agents.q]\nproject = \"analytics\"\n\
         allowed_hosts = [{}]\n\
         grants = [{{ secret = \"{SECRET}\", hosts = [{bound:?}]{inject} }}]\n",
        quoted.join(", ")
    );
    let world = World::with_policy(&policy);
    world.set_secret("analytics", SECRET, key);
    world
}

pub fn server(key: &str) -> Server {
    Server::start("127.0.0.1:0", key).expect("the stand-in server starts")
}

/// Every byte a server received, gzip bodies decoded too.
fn wire_text(received: &[Received]) -> String {
    let mut text = String::new();
    for r in received {
        text.push_str(&format!("{} {} {:?}\n", r.method, r.target, r.headers));
        text.push_str(&String::from_utf8_lossy(&r.body));
        if r.body.starts_with(&[0x1f, 0x8b]) {
            text.push_str(&gunzip(&r.body));
        }
    }
    text
}

fn gunzip(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("gzip")
        .arg("-dc")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip runs");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).into_owned()
}

/// Asserts `key` is in none of: the sink's requests, the task's output (hex
/// bodies decoded), stderr, any file of the state dir.
pub fn assert_nowhere(w: &World, out: &Output, sink: &Server, key: &str) {
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    let shown = text(out)
        .replace(key, "<CANARY>")
        .replace(&hex, "<CANARY-HEX>");
    assert!(
        !shown.contains("<CANARY"),
        "the key reached the task or stderr:\n{shown}"
    );
    let wire = wire_text(&sink.received());
    assert!(!wire.contains(key), "the key reached the sink");
    for (path, bytes) in w.state_bytes() {
        assert!(
            !crate::harness::contains(&bytes, key),
            "{} holds the key",
            path.display()
        );
    }
}

/// The (decision, reason) of each `http.request` record, in order.
pub fn outcomes(w: &World) -> Vec<(String, String)> {
    w.records_of("http.request")
        .iter()
        .map(|r| {
            let field = |name: &str| r[name].as_str().unwrap_or_default().to_owned();
            (field("decision"), field("reason"))
        })
        .collect()
}

fn pair(decision: &str, reason: &str) -> (String, String) {
    (decision.to_owned(), reason.to_owned())
}

#[test]
fn a_gzip_echo_comes_back_unencoded_and_masked_so_forwarding_it_leaks_nothing() {
    let key = canary();
    let (api, sink) = (server(&key), server(&key));
    let w = world(&[api.url(), sink.url()], &api.url(), None, &key);
    let step = format!(
        "inject-gzip|{SECRET}|{}/gzip-echo|{}/collect",
        api.url(),
        sink.url()
    );
    let out = w.exec("egress-probe", "q", &[&step]);
    assert!(stdout(&out).contains("sink: status 200"), "{}", text(&out));
    let asked = api.received()[0]
        .header("accept-encoding")
        .map(str::to_owned);
    assert_eq!(
        asked.as_deref(),
        Some("identity"),
        "the task's gzip was sent"
    );
    assert_eq!(
        sink.received()[0].body,
        b"you sent: Bearer [REDACTED:posthog-read]"
    );
    assert_nowhere(&w, &out, &sink, &key);
    w.ok(&["audit", "verify"]);
}

#[test]
fn an_echo_gzipped_against_the_request_is_refused() {
    let key = canary();
    let (api, sink) = (server(&key), server(&key));
    let w = world(&[api.url(), sink.url()], &api.url(), None, &key);
    let always = format!("{}/gzip-echo?always", api.url());
    let step = format!("inject-gzip|{SECRET}|{always}|{}/collect", sink.url());
    let out = w.exec("egress-probe", "q", &[&step]);
    assert!(
        stdout(&out).contains("inject-gzip: error"),
        "{}",
        text(&out)
    );
    assert!(sink.received().is_empty(), "something was forwarded");
    assert!(stderr(&out).contains("gzip-encoded"), "{}", text(&out));
    let got = outcomes(&w);
    assert_eq!(
        got,
        [
            pair("allowed", "sending"),
            pair("denied", "encoded-response")
        ]
    );
    assert_nowhere(&w, &out, &sink, &key);
}

#[test]
fn a_key_the_bound_api_stored_is_masked_when_read_back_without_a_placeholder() {
    let key = canary();
    let (api, sink) = (server(&key), server(&key));
    let w = world(&[api.url(), sink.url()], &api.url(), None, &key);
    let store = format!("inject:{SECRET}:{}/store", api.url());
    let read = format!("forward|{}/read|{}/collect", api.url(), sink.url());
    let out = w.exec("egress-probe", "q", &[&store, &read]);
    assert!(stdout(&out).contains("sink: status 200"), "{}", text(&out));
    let forwarded = String::from_utf8_lossy(&sink.received()[0].body).into_owned();
    assert!(
        forwarded.starts_with("Bearer [REDACTED:posthog-read]\n/store"),
        "{forwarded}"
    );
    assert_nowhere(&w, &out, &sink, &key);
}

#[test]
fn a_query_placeholder_is_refused_by_default_and_injected_where_the_grant_says() {
    let key = canary();
    let (api, sink) = (server(&key), server(&key));
    let w = world(&[api.url(), sink.url()], &api.url(), None, &key);
    let store = format!("inject-url|{SECRET}|{}/store?api_key={{}}", api.url());
    let out = w.exec("egress-probe", "q", &[&store]);
    assert!(
        stdout(&out).contains("inject-url: denied"),
        "{}",
        text(&out)
    );
    assert!(
        api.received().is_empty(),
        "a misplaced placeholder was sent"
    );
    assert_eq!(outcomes(&w), [pair("denied", "placeholder-position")]);
    assert!(
        w.records_of("secret.resolve").is_empty(),
        "resolved for a refused request"
    );
    assert!(
        stderr(&out).contains("query parameter \"api_key\""),
        "{}",
        text(&out)
    );

    // Characters a query must encode: the API stores the encoded form.
    let key = format!("{key}+/=");
    let encoded = key
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let (api, sink) = (server(&key), server(&key));
    let store = format!("inject-url|{SECRET}|{}/store?api_key={{}}", api.url());
    let read = format!("forward|{}/read|{}/collect", api.url(), sink.url());
    let allowed = [api.url(), sink.url()];
    let w = world(&allowed, &api.url(), Some("query:api_key"), &key);
    let out = w.exec("egress-probe", "q", &[&store, &read]);
    let stored = &api.received()[0];
    let expected = format!("/store?api_key={encoded}");
    assert_eq!(stored.target, expected, "not injected in the query");
    assert_eq!(stored.header("authorization"), None);
    let forwarded = String::from_utf8_lossy(&sink.received()[0].body).into_owned();
    assert!(
        forwarded.contains("api_key=[REDACTED:posthog-read]"),
        "{forwarded}"
    );
    assert_nowhere(&w, &out, &sink, &key);
    assert_nowhere(&w, &out, &sink, &encoded);
}

#[test]
fn a_placeholder_in_the_url_host_is_never_substituted() {
    let key = canary();
    let (api, sink) = (server(&key), server(&key));
    let port = sink.addr().port();
    let wildcard = format!("http://*.localhost:{port}");
    let w = world(
        &[api.url(), sink.url(), wildcard.clone()],
        &wildcard,
        None,
        &key,
    );
    let steps = [
        format!("inject-url|{SECRET}|http://{{}}.localhost:{port}/x"),
        format!("inject-url|{SECRET}|http://x@{{}}.localhost:{port}/x"),
    ];
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let out = w.exec("egress-probe", "q", &steps);
    assert_eq!(
        stdout(&out).matches("inject-url: denied").count(),
        2,
        "{}",
        text(&out)
    );
    let denied = pair("denied", "placeholder-position");
    assert_eq!(outcomes(&w), [denied.clone(), denied]);
    assert!(
        w.records_of("secret.resolve").is_empty(),
        "the key was resolved"
    );
    assert!(stderr(&out).contains("in the URL's host"), "{}", text(&out));
    let target = w.records_of("http.request")[0]["target"].to_string();
    assert!(target.contains("[PLACEHOLDER:posthog-read]"), "{target}");
    assert_nowhere(&w, &out, &sink, &key);
    w.ok(&["audit", "verify"]);
}

#[test]
fn a_placeholder_anywhere_but_its_position_is_refused_and_audited() {
    let key = canary();
    let api = server(&key);
    let w = world(&[api.url()], &api.url(), None, &key);
    let url = format!("{}/x", api.url());
    let steps = [
        format!("inject-url|{SECRET}|{}/{{}}", api.url()),
        format!("inject-header|{SECRET}|x-other|Bearer {{}}|{url}"),
        format!("inject-header|{SECRET}|authorization|Basic {{}}|{url}"),
        format!("inject-body|{SECRET}|{url}"),
        format!("inject-method|{SECRET}|{url}"),
    ];
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let out = w.exec("egress-probe", "q", &steps);
    assert!(
        api.received().is_empty(),
        "a misplaced placeholder reached the API"
    );
    let got = outcomes(&w);
    let misplaced = pair("denied", "placeholder-position");
    // A placeholder is longer than any method may be.
    let expected = [vec![misplaced; 4], vec![pair("denied", "too-large")]].concat();
    assert_eq!(got, expected);
    for spot in [
        "the URL's path",
        "header \"x-other\"",
        "header \"authorization\"",
        "the body",
    ] {
        assert!(stderr(&out).contains(spot), "{spot}: {}", text(&out));
    }
    for (path, bytes) in w.state_bytes() {
        assert!(
            !crate::harness::contains(&bytes, &key),
            "{}",
            path.display()
        );
    }
}

#[test]
fn a_bad_injection_position_is_refused_with_its_line_and_column() {
    let key = canary();
    let w = world(
        &["http://127.0.0.1:9".into()],
        "http://127.0.0.1:9",
        Some("host"),
        &key,
    );
    let out = w.exec("egress-probe", "q", &[]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out));
    let err = stderr(&out);
    assert!(err.contains("tasks.toml:6:"), "{err}");
    assert!(
        err.contains("grants.inject") && err.contains("hint: "),
        "{err}"
    );
}
