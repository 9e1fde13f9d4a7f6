//! Steps of a hostile task, arguments split on `|` (URLs hold `:`):
//! - `inject-gzip|SECRET|URL|SINK`: GET URL with `Authorization: Bearer
//!   <placeholder>` and `Accept-Encoding: gzip`, then POST the body it got
//!   back, as is, to SINK (an allowed host the secret is not bound to);
//! - `forward|URL|SINK`: GET URL without any placeholder, then POST what
//!   came back to SINK (reading back what a bound API stored);
//! - `inject-url|SECRET|URL`: GET URL with every `{}` replaced by the
//!   placeholder (in the host, the path, the query);
//! - `inject-header|SECRET|NAME|TEMPLATE|URL`: GET URL with header NAME set
//!   to TEMPLATE, its `{}` replaced by the placeholder;
//! - `inject-body|SECRET|URL`: the placeholder in the body (and a valid
//!   bearer header);
//! - `inject-method|SECRET|URL`, `raw-method|SECRET|URL`: the placeholder
//!   (with a valid bearer header), or the resolved value, as the method,
//!   sent through wasi:http directly (the SDK upper-cases methods);
//! - `big-method|BYTES|SECRET|URL`: a method of BYTES bytes, with the
//!   placeholder in a valid bearer header;
//! - `echo|TEXT`: prints TEXT as is (escapes, control characters);
//! - `ask-derived|SECRET|TEMPLATE`, `fetch-derived|SECRET|URL`: resolve
//!   SECRET, then ask for the secret named TEMPLATE, or GET URL, with `{}`
//!   replaced by the value (to get it written into the log);
//! - `fields-flood|N|BYTES`: creates N wasi:http header sets of BYTES bytes
//!   each and keeps them all.

use scopehold::http::{HttpError, Request, Response};
use scopehold::placeholder;

pub fn step(step: &str) {
    let parts: Vec<&str> = step.split('|').collect();
    match parts.as_slice() {
        ["inject-gzip", secret, url, sink] => {
            let token = token(secret);
            let request = Request::get(url)
                .bearer(&token)
                .header("accept-encoding", "gzip");
            if let Some(body) = got("inject-gzip", request.send()) {
                forward_to(sink, body);
            }
        }
        ["forward", url, sink] => {
            if let Some(body) = got("forward", Request::get(url).send()) {
                forward_to(sink, body);
            }
        }
        ["inject-url", secret, url] => {
            let url = url.replace("{}", &token(secret));
            got("inject-url", Request::get(&url).send());
        }
        ["inject-header", secret, name, template, url] => {
            let value = template.replace("{}", &token(secret));
            got(
                "inject-header",
                Request::get(url).header(name, &value).send(),
            );
        }
        ["inject-body", secret, url] => {
            let token = token(secret);
            let request = Request::post(url).bearer(&token).body(token.clone());
            got("inject-body", request.send());
        }
        ["inject-method", secret, url] => {
            let token = token(secret);
            let auth = format!("Bearer {token}");
            raw_send("inject-method", &token, url, &[("authorization", &auth)]);
        }
        ["raw-method", secret, url] => {
            raw_send("raw-method", &value(secret), url, &[]);
        }
        ["ask-derived", secret, template] => {
            let name = template.replace("{}", &value(secret));
            let answer = scopehold::get_secret(&name).map(|_| "a value");
            println!("ask-derived: {answer:?}");
        }
        ["fetch-derived", secret, url] => {
            let url = url.replace("{}", &value(secret));
            got("fetch-derived", Request::get(&url).send());
        }
        ["fields-flood", count, bytes] => flood(count, bytes),
        ["big-method", bytes, secret, url] => {
            let method = "X".repeat(bytes.parse().unwrap_or(0));
            let auth = format!("Bearer {}", token(secret));
            raw_send("big-method", &method, url, &[("authorization", &auth)]);
        }
        ["echo", text] => print!("{text}"),
        _ => println!("unknown step {step}"),
    }
}

fn value(secret: &str) -> String {
    match scopehold::get_secret(secret) {
        Ok(value) => value.expose().to_owned(),
        Err(error) => format!("<{error:?}>"),
    }
}

fn token(secret: &str) -> String {
    placeholder(secret).unwrap_or_else(|error| format!("<{error:?}>"))
}

/// Prints the outcome; the body (in hex, so the output filter cannot mask
/// what the task got) if there was one.
fn got(what: &str, result: Result<Response, HttpError>) -> Option<Vec<u8>> {
    match result {
        Ok(response) => {
            let hex: String = response.body.iter().map(|b| format!("{b:02x}")).collect();
            println!("{what}: status {} body-hex {hex}", response.status);
            Some(response.body)
        }
        Err(HttpError::Denied) => {
            println!("{what}: denied");
            None
        }
        Err(error) => {
            println!("{what}: error {error}");
            None
        }
    }
}

fn forward_to(sink: &str, body: Vec<u8>) {
    match Request::post(sink).body(body).send() {
        Ok(response) => println!("sink: status {}", response.status),
        Err(HttpError::Denied) => println!("sink: denied"),
        Err(error) => println!("sink: error {error}"),
    }
}

fn flood(count: &str, bytes: &str) {
    let count: usize = count.parse().unwrap_or(0);
    let bytes: usize = bytes.parse().unwrap_or(0);
    let value = vec![b'v'; bytes];
    let mut kept = Vec::new();
    for n in 0..count {
        let entry = (format!("x-flood-{n}"), value.clone());
        match wasi::http::types::Fields::from_list(&[entry]) {
            Ok(fields) => kept.push(fields),
            Err(error) => return println!("fields-flood: refused at {n}: {error:?}"),
        }
    }
    println!("fields-flood: kept {}", kept.len());
}

/// Sends `method url` with `headers` through wasi:http itself, so the method
/// goes out exactly as given.
fn raw_send(what: &str, method: &str, url: &str, headers: &[(&str, &str)]) {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect();
    let Ok(fields) = Fields::from_list(&list) else {
        return println!("{what}: bad headers");
    };
    let request = OutgoingRequest::new(fields);
    let set = request
        .set_method(&Method::Other(method.to_owned()))
        .is_ok()
        && request.set_scheme(Some(&Scheme::Http)).is_ok()
        && request.set_authority(Some(authority)).is_ok()
        && request
            .set_path_with_query(Some(if path.is_empty() { "/" } else { path }))
            .is_ok();
    if !set {
        return println!("{what}: invalid request");
    }
    let Ok(body) = request.body() else {
        return println!("{what}: no body");
    };
    let future = match outgoing_handler::handle(request, None) {
        Ok(future) => future,
        Err(code) => return println!("{what}: error {code:?}"),
    };
    let _ = OutgoingBody::finish(body, None);
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => println!("{what}: status {}", response.status()),
        Some(Ok(Err(wasi::http::types::ErrorCode::HttpRequestDenied))) => {
            println!("{what}: denied")
        }
        Some(Ok(Err(code))) => println!("{what}: error {code:?}"),
        _ => println!("{what}: error no response"),
    }
}
