//! A task used by the egress end-to-end tests. Each argument is a step,
//! printing one line of what happened:
//! - `fetch:URL`: GET, following redirects;
//! - `inject:SECRET:URL`: GET with `Authorization: Bearer <placeholder>`,
//!   then prints what the task itself sees of its request;
//! - `raw-header:SECRET:URL`, `raw-query:SECRET:URL`, `raw-body:SECRET:URL`:
//!   resolve the value and try to send it (exfiltration attempts);
//! - `print:SECRET`, `print-bytes:SECRET`, `eprint-bytes:SECRET`: print the
//!   value whole, or one byte per write;
//! - `dns:HOST`, `connect:ADDR`: try the network without wasi:http;
//! - hostile steps with `|`-separated arguments: see `hostile.rs`.

mod hostile;

use std::io::Write;
use std::net::ToSocketAddrs;

use scopehold::http::{HttpError, Request};
use scopehold::{get_secret, placeholder};

fn main() {
    for step in std::env::args().skip(1) {
        if step.contains('|') {
            hostile::step(&step);
            continue;
        }
        let (verb, rest) = step.split_once(':').unwrap_or((step.as_str(), ""));
        match verb {
            "fetch" => show("fetch", Request::get(rest).send()),
            "inject" => inject(rest),
            "inject-len" => inject_len(rest),
            "raw-header" | "raw-query" | "raw-body" => raw(verb, rest),
            "print" => println!("value: {}", value(rest)),
            "print-bytes" => bytewise(&mut std::io::stdout(), rest),
            "eprint-bytes" => bytewise(&mut std::io::stderr(), rest),
            "dns" => dns(rest),
            "connect" => connect(rest),
            _ => println!("unknown step {step}"),
        }
    }
}

fn show(what: &str, result: Result<scopehold::http::Response, HttpError>) {
    match result {
        Ok(response) => println!(
            "{what}: status {} body {}",
            response.status,
            response.text()
        ),
        Err(HttpError::Denied) => println!("{what}: denied"),
        Err(error) => println!("{what}: error {error}"),
    }
}

fn inject(rest: &str) {
    let (name, url) = rest.split_once(':').unwrap_or((rest, ""));
    let token = match placeholder(name) {
        Ok(token) => token,
        Err(error) => return println!("inject: placeholder {error:?}"),
    };
    let request = Request::get(url).bearer(&token);
    for (header, value) in request.headers() {
        println!(
            "inject: task sees {header}: {}",
            String::from_utf8_lossy(value)
        );
    }
    match request.send() {
        Ok(response) => {
            for (header, value) in &response.headers {
                println!(
                    "inject: response header {header}: {}",
                    String::from_utf8_lossy(value)
                );
            }
            println!(
                "inject: status {} body {}",
                response.status,
                response.text()
            );
            // Hex, so the output filter cannot mask what the task received.
            let hex: String = response.body.iter().map(|b| format!("{b:02x}")).collect();
            println!("inject: body-hex {hex}");
        }
        result => show("inject", result),
    }
}

/// Like `inject`, but prints only the status, body length and its first bytes.
fn inject_len(rest: &str) {
    let (name, url) = rest.split_once(':').unwrap_or((rest, ""));
    let token = placeholder(name).unwrap_or_default();
    match Request::get(url).bearer(&token).send() {
        Ok(response) => {
            let head = String::from_utf8_lossy(&response.body[..response.body.len().min(40)]);
            let len = response.body.len();
            println!(
                "inject-len: status {} length {len} head {head}",
                response.status
            );
        }
        result => show("inject-len", result.map(|_| unreachable!())),
    }
}

fn value(name: &str) -> String {
    match get_secret(name) {
        Ok(secret) => secret.expose().to_owned(),
        Err(error) => format!("<{error:?}>"),
    }
}

fn raw(verb: &str, rest: &str) {
    let (name, url) = rest.split_once(':').unwrap_or((rest, ""));
    let value = value(name);
    let request = match verb {
        "raw-header" => Request::get(url).header("x-api-key", &value),
        "raw-query" => Request::get(&format!("{url}?key={value}")),
        _ => Request::post(url).body(format!("{{\"key\":\"{value}\"}}")),
    };
    show(verb, request.send());
}

fn bytewise(out: &mut dyn Write, name: &str) {
    let value = value(name);
    let _ = out.write_all(b"bytes: ");
    for byte in value.as_bytes() {
        let _ = out.write_all(&[*byte]);
        let _ = out.flush();
    }
    let _ = out.write_all(b"\n");
}

fn dns(host: &str) {
    match (host, 443).to_socket_addrs() {
        Ok(addrs) => println!("dns {host}: ok {} addresses", addrs.count()),
        Err(error) => println!("dns {host}: error {error}"),
    }
}

fn connect(addr: &str) {
    match std::net::TcpStream::connect(addr) {
        Ok(_) => println!("connect {addr}: ok"),
        Err(error) => println!("connect {addr}: error {error}"),
    }
}
