//! A hostile task used by the end-to-end tests: it tries what an untrusted or
//! LLM-steered task might try, and prints what happened, one line per step.
//!
//! Each argument is a step: `env`, `read:PATH`, `list:PATH`, `connect:ADDR`,
//! `get:NAME` (prints the blake3 of the value, never the value),
//! `get-as-name:NAME` (resolves NAME, then asks for a secret *named* by its
//! value, trying to smuggle it into the audit log), `exit:CODE`, `panic`.

use std::io::Read;

use scopehold::get_secret;

fn main() {
    for step in std::env::args().skip(1) {
        let (verb, arg) = step.split_once(':').unwrap_or((step.as_str(), ""));
        match verb {
            "env" => env(),
            "read" => read(arg),
            "list" => list(arg),
            "connect" => connect(arg),
            "get" => get(arg),
            "get-as-name" => get_as_name(arg),
            "exit" => std::process::exit(arg.parse().unwrap_or(1)),
            "panic" => panic!("the probe panics on purpose"),
            _ => println!("unknown step {step}"),
        }
    }
}

fn env() {
    let vars: Vec<String> = std::env::vars().map(|(name, _)| name).collect();
    println!("env: {} vars [{}]", vars.len(), vars.join(","));
}

fn read(path: &str) {
    let mut contents = Vec::new();
    match std::fs::File::open(path).and_then(|mut file| file.read_to_end(&mut contents)) {
        Ok(len) => println!("read {path}: ok {len} bytes"),
        Err(error) => println!("read {path}: error {error}"),
    }
}

fn list(path: &str) {
    match std::fs::read_dir(path) {
        Ok(entries) => println!("list {path}: ok {} entries", entries.count()),
        Err(error) => println!("list {path}: error {error}"),
    }
}

fn connect(addr: &str) {
    match std::net::TcpStream::connect(addr) {
        Ok(_) => println!("connect {addr}: ok"),
        Err(error) => println!("connect {addr}: error {error}"),
    }
}

fn get(name: &str) {
    match get_secret(name) {
        Ok(secret) => println!(
            "get {name}: granted {} bytes blake3={}",
            secret.len(),
            blake3::hash(secret.expose().as_bytes()).to_hex()
        ),
        Err(error) => println!("get {name}: {error:?}"),
    }
}

fn get_as_name(name: &str) {
    match get_secret(name) {
        Ok(secret) => match get_secret(secret.expose()) {
            Ok(_) => println!("get-as-name {name}: granted?!"),
            Err(error) => println!("get-as-name {name}: {error:?}"),
        },
        Err(error) => println!("get-as-name {name}: first get {error:?}"),
    }
}
