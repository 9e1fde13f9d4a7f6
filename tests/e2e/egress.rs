//! Outgoing HTTP: allowlists, host-side key injection, the exfiltration
//! guard and output redaction, against the real binary, real components and
//! a real HTTP server on 127.0.0.1 (the posthog-standin crate).

use std::process::Output;

use posthog_standin::Server;

use crate::harness::{World, canary, stderr, stdout};

const SECRET: &str = "posthog-read";

/// Both streams with the canary (and its hex form) masked, for assertion messages.
fn shown(out: &Output, canary: &str) -> String {
    let text = format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
    // The echo test prints bodies in hex: mask the canary's hex form too.
    let hex: String = canary.bytes().map(|b| format!("{b:02x}")).collect();
    text.replace(canary, "<CANARY>")
        .replace(&hex, "<CANARY-HEX>")
}

/// A world whose agent `q` may reach `allowed` and whose grant of
/// posthog-read (value `key`) is bound to `bound`.
fn world(allowed: Option<&[String]>, bound: &[String], key: &str) -> World {
    let list = |urls: &[String]| {
        let quoted: Vec<String> = urls.iter().map(|u| format!("{u:?}")).collect();
        quoted.join(", ")
    };
    let allowed = match allowed {
        Some(urls) => format!("allowed_hosts = [{}]\n", list(urls)),
        None => String::new(),
    };
    let policy = format!(
        "[projects.analytics]\n\n[agents.q]\nproject = \"analytics\"\n{allowed}\
         grants = [{{ secret = \"{SECRET}\", hosts = [{}] }}]\n",
        list(bound)
    );
    let world = World::with_policy(&policy);
    world.set_secret("analytics", SECRET, key);
    world
}

fn server(key: &str) -> Server {
    Server::start("127.0.0.1:0", key).expect("the stand-in server starts")
}

/// The `http.request` records' (target, decision, reason) triples, but
/// the `sending` record each sent request has before its answer.
fn decisions(world: &World) -> Vec<(String, String, String)> {
    world
        .records_of("http.request")
        .iter()
        .filter(|r| r["reason"] != "sending")
        .map(|r| {
            let field = |name: &str| r[name].as_str().unwrap_or_default().to_owned();
            (field("target"), field("decision"), field("reason"))
        })
        .collect()
}

fn target(server: &Server) -> String {
    format!("http://{}", server.addr())
}

#[test]
fn injected_key_reaches_the_bound_host_and_never_the_task() {
    let key = canary();
    let api = server(&key);
    let w = world(Some(&[api.url()]), &[api.url()], &key);
    let url = format!("{}/api/projects/1/events", api.url());
    let out = w.exec("egress-probe", "q", &[&format!("inject:{SECRET}:{url}")]);
    let seen = shown(&out, &key);
    assert!(stdout(&out).contains("inject: status 200"), "{seen}");
    assert!(stdout(&out).contains("\"event\":\"signed_up\""), "{seen}");
    assert!(
        stdout(&out).contains("task sees authorization: Bearer scopehold-placeholder-"),
        "{seen}"
    );
    assert!(
        !seen.contains("<CANARY>"),
        "the task's output holds the key:\n{seen}"
    );
    let received = api.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let auth_ok = received[0].header("authorization") == Some(&format!("Bearer {key}"));
    assert!(auth_ok, "the server did not receive the injected key");
    let records = w.records_of("http.request");
    assert_eq!(records.len(), 2, "{records:?}");
    let (sending, record) = (&records[0], &records[1]);
    assert_eq!(sending["reason"], "sending", "recorded before it was sent");
    assert_eq!(sending["injected"], SECRET);
    assert_eq!(record["injected"], SECRET);
    assert_eq!(record["status"], 200);
    let readable = stdout(&w.ok(&["audit", "log", "--kind", "http.request"]));
    assert!(
        readable.contains(&format!("injected {SECRET}")),
        "{readable}"
    );
    assert_eq!(record["decision"], "allowed");
    assert_eq!(
        w.records_of("secret.resolve").len(),
        1,
        "injection is audited as a resolve"
    );
    let log = std::fs::read_to_string(w.audit_path()).unwrap();
    assert!(!log.contains(&key), "the audit log holds the key");
}

#[test]
fn a_server_echoing_the_injected_key_does_not_hand_it_to_the_task() {
    let key = canary();
    let api = server(&key);
    let w = world(Some(&[api.url()]), &[api.url()], &key);
    let out = w.exec(
        "egress-probe",
        "q",
        &[&format!("inject:{SECRET}:{}/echo", api.url())],
    );
    let seen = shown(&out, &key);
    let echoed = api
        .received()
        .first()
        .and_then(|r| r.header("authorization").map(str::to_owned));
    assert_eq!(
        echoed,
        Some(format!("Bearer {key}")),
        "the server did not get the key"
    );
    // The task prints the body in hex, which the output filter cannot mask:
    // this checks what the task received, not what reached the terminal.
    let expected: String = b"you sent: Bearer [REDACTED:posthog-read]"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let received = stdout(&out).contains(&format!("inject: body-hex {expected}\n"));
    assert!(
        received,
        "the task received the key or something else: {seen}"
    );
    assert!(
        stdout(&out).contains("x-echo: Bearer [REDACTED:posthog-read]"),
        "{seen}"
    );
    assert!(
        !seen.contains("<CANARY>"),
        "the echoed key reached the task:\n{seen}"
    );
}

#[test]
fn a_large_response_to_an_injected_request_is_read_and_masked_whole() {
    let key = canary();
    let api = server(&key);
    let w = world(Some(&[api.url()]), &[api.url()], &key);
    let out = w.exec(
        "egress-probe",
        "q",
        &[&format!("inject-len:{SECRET}:{}/big", api.url())],
    );
    let marker = "Bearer [REDACTED:posthog-read]";
    let length = marker.len() + posthog_standin::BIG_PADDING;
    let expected = format!("inject-len: status 200 length {length} head {marker}x");
    assert!(stdout(&out).contains(&expected), "{}", shown(&out, &key));
}

#[test]
fn the_posthog_query_example_lists_events_with_the_injected_key() {
    let key = canary();
    let api = server(&key);
    let w = world(Some(&[api.url()]), &[api.url()], &key);
    let out = w.exec("posthog-query", "q", &[&api.url()]);
    let seen = shown(&out, &key);
    assert!(out.status.success(), "{seen}");
    assert!(stdout(&out).contains("3 events answered"), "{seen}");
    assert!(!seen.contains("<CANARY>"), "{seen}");
}

#[test]
fn placeholder_is_not_injected_towards_an_unbound_host() {
    let key = canary();
    let (api, other) = (server(&key), server(&key));
    let w = world(Some(&[api.url(), other.url()]), &[api.url()], &key);
    let out = w.exec(
        "egress-probe",
        "q",
        &[&format!("inject:{SECRET}:{}/api", other.url())],
    );
    let seen = shown(&out, &key);
    assert!(stdout(&out).contains("inject: denied"), "{seen}");
    assert!(
        other.received().is_empty(),
        "the unbound host got a request"
    );
    let expected = (
        target(&other),
        "denied".into(),
        "placeholder-unbound".into(),
    );
    assert_eq!(decisions(&w), vec![expected]);
    assert!(
        stderr(&out).contains(&format!("hosts = [\"{}\"]", other.url())),
        "{seen}"
    );
}

#[test]
fn placeholder_is_denied_without_a_grant() {
    let key = canary();
    let api = server(&key);
    let w = world(Some(&[api.url()]), &[api.url()], &key);
    let out = w.exec(
        "egress-probe",
        "q",
        &[&format!("inject:billing-admin:{}", api.url())],
    );
    assert!(
        stdout(&out).contains("inject: placeholder Denied"),
        "{}",
        shown(&out, &key)
    );
    assert!(api.received().is_empty());
}

#[test]
fn hosts_ports_and_schemes_not_listed_are_denied_and_audited() {
    let key = canary();
    let (api, other) = (server(&key), server(&key));
    let w = world(Some(&[api.url()]), &[api.url()], &key);
    let port = api.addr().port();
    let urls = [
        format!("http://localhost:{port}/x"),
        format!("{}/x", other.url()),
        format!("https://127.0.0.1:{port}/x"),
        format!("{}/ok", api.url()),
    ];
    let steps: Vec<String> = urls.iter().map(|u| format!("fetch:{u}")).collect();
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let out = w.exec("egress-probe", "q", &steps);
    let seen = shown(&out, &key);
    assert_eq!(stdout(&out).matches("fetch: denied").count(), 3, "{seen}");
    assert!(stdout(&out).contains("fetch: status 200 body ok"), "{seen}");
    assert!(
        other.received().is_empty(),
        "a request reached the port not listed"
    );
    let got: Vec<(String, String)> = decisions(&w).into_iter().map(|(t, d, _)| (t, d)).collect();
    let want = [
        (format!("http://localhost:{port}"), "denied"),
        (target(&other), "denied"),
        (format!("https://127.0.0.1:{port}"), "denied"),
        (target(&api), "allowed"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(t, d)| (t.clone(), d.to_string()))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn the_printed_line_allows_the_denied_request() {
    let key = canary();
    let (api, other) = (server(&key), server(&key));
    let w = world(Some(&[api.url()]), &[api.url()], &key);
    let step = format!("fetch:{}/x", other.url());
    let out = w.exec("egress-probe", "q", &[&step]);
    let line = format!("allowed_hosts = [{:?}, {:?}]", api.url(), other.url());
    assert!(stderr(&out).contains(&line), "{}", shown(&out, &key));
    let policy = std::fs::read_to_string(w.config()).unwrap();
    let old = format!("allowed_hosts = [{:?}]", api.url());
    std::fs::write(w.config(), policy.replace(&old, &line)).unwrap();
    let out = w.exec("egress-probe", "q", &[&step]);
    assert!(
        stdout(&out).contains("fetch: status 200"),
        "{}",
        shown(&out, &key)
    );
}

#[test]
fn an_empty_allowlist_denies_everything() {
    let key = canary();
    let api = server(&key);
    let w = world(Some(&[]), &[api.url()], &key);
    let out = w.exec("egress-probe", "q", &[&format!("fetch:{}/x", api.url())]);
    assert!(
        stdout(&out).contains("fetch: denied"),
        "{}",
        shown(&out, &key)
    );
    assert!(api.received().is_empty());
    assert_eq!(
        decisions(&w),
        vec![(target(&api), "denied".into(), "not-allowed".into())]
    );
}

#[test]
fn a_redirect_to_a_host_not_listed_is_denied() {
    let key = canary();
    let (api, other) = (server(&key), server(&key));
    let w = world(Some(&[api.url()]), &[api.url()], &key);
    let step = format!("fetch:{}/redirect?to={}/landing", api.url(), other.url());
    let out = w.exec("egress-probe", "q", &[&step]);
    assert!(
        stdout(&out).contains("fetch: denied"),
        "{}",
        shown(&out, &key)
    );
    assert!(
        other.received().is_empty(),
        "the redirect target was reached"
    );
    let got = decisions(&w);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], (target(&api), "allowed".into(), "sent".into()));
    assert_eq!(
        got[1],
        (target(&other), "denied".into(), "not-allowed".into())
    );
    assert_eq!(w.records_of("http.request")[1]["status"], 302);
}

#[test]
fn a_raw_value_cannot_travel_to_a_host_it_is_not_bound_to() {
    let key = canary();
    let (api, other) = (server(&key), server(&key));
    let w = world(Some(&[api.url(), other.url()]), &[api.url()], &key);
    let steps: Vec<String> = ["raw-header", "raw-query", "raw-body"]
        .iter()
        .map(|verb| format!("{verb}:{SECRET}:{}/collect", other.url()))
        .chain(std::iter::once(format!(
            "raw-header:{SECRET}:{}/ok",
            api.url()
        )))
        .collect();
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let out = w.exec("egress-probe", "q", &steps);
    let seen = shown(&out, &key);
    for verb in ["raw-header", "raw-query", "raw-body"] {
        assert!(
            stdout(&out).contains(&format!("{verb}: denied")),
            "{verb}: {seen}"
        );
    }
    assert!(
        stdout(&out).contains("raw-header: status 200"),
        "bound host refused: {seen}"
    );
    assert!(
        other.received().is_empty(),
        "the key reached an unbound host"
    );
    assert_eq!(api.received().len(), 1);
    let exfil = (
        target(&other),
        "denied".to_owned(),
        "exfiltration".to_owned(),
    );
    let got = decisions(&w);
    assert_eq!(got[..3], [exfil.clone(), exfil.clone(), exfil], "{got:?}");
    let log = std::fs::read_to_string(w.audit_path()).unwrap();
    assert!(!log.contains(&key), "the audit log holds the key");
    assert!(
        log.contains("key=[REDACTED:posthog-read]"),
        "the query is not masked in the log"
    );
}

#[test]
fn printed_values_are_redacted_whole_or_byte_by_byte() {
    let key = canary();
    let w = world(None, &[], &key);
    let steps = [
        format!("print:{SECRET}"),
        format!("print-bytes:{SECRET}"),
        format!("eprint-bytes:{SECRET}"),
    ];
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let out = w.exec("egress-probe", "q", &steps);
    let seen = shown(&out, &key);
    assert!(
        stdout(&out).contains("value: [REDACTED:posthog-read]"),
        "{seen}"
    );
    assert!(
        stdout(&out).contains("bytes: [REDACTED:posthog-read]\n"),
        "{seen}"
    );
    assert!(
        stderr(&out).contains("bytes: [REDACTED:posthog-read]\n"),
        "{seen}"
    );
    assert!(
        !seen.contains("<CANARY>"),
        "a value escaped redaction:\n{seen}"
    );
}

#[test]
fn allowed_hosts_open_no_sockets_and_no_dns() {
    let key = canary();
    let api = server(&key);
    let w = world(Some(&[api.url()]), &[api.url()], &key);
    let addr = api.addr().to_string();
    let steps = ["dns:localhost".to_owned(), format!("connect:{addr}")];
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let out = w.exec("egress-probe", "q", &steps);
    let seen = shown(&out, &key);
    assert!(stdout(&out).contains("dns localhost: error"), "{seen}");
    assert!(
        stdout(&out).contains(&format!("connect {addr}: error")),
        "{seen}"
    );
    assert!(
        api.received().is_empty(),
        "a raw socket reached the allowed host"
    );
}

#[test]
fn without_allowed_hosts_there_is_no_dns_and_no_connection() {
    let key = canary();
    let api = server(&key);
    let w = world(None, &[api.url()], &key);
    let addr = api.addr().to_string();
    let steps = [
        "dns:localhost".to_owned(),
        format!("connect:{addr}"),
        format!("fetch:{}/x", api.url()),
    ];
    let steps: Vec<&str> = steps.iter().map(String::as_str).collect();
    let out = w.exec("egress-probe", "q", &steps);
    let seen = shown(&out, &key);
    assert!(stdout(&out).contains("dns localhost: error"), "{seen}");
    assert!(
        stdout(&out).contains(&format!("connect {addr}: error")),
        "{seen}"
    );
    assert!(stdout(&out).contains("fetch: denied"), "{seen}");
    assert!(api.received().is_empty(), "a connection reached the server");
    assert_eq!(
        decisions(&w),
        vec![(target(&api), "denied".into(), "not-allowed".into())]
    );
}
