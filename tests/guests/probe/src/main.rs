//! A hostile task used by the end-to-end tests: it tries what an untrusted or
//! LLM-steered task might try, and prints what happened, one line per step.
//!
//! Each argument is a step: `env`, `read:PATH`, `list:PATH`, `connect:ADDR`,
//! `get:NAME` (prints the blake3 of the value, never the value),
//! `get-as-name:NAME` (resolves NAME, then asks for a secret *named* by its
//! value, trying to smuggle it into the audit log), `exit:CODE`, `panic`,
//! `write:PATH` (create PATH and write to it), `udp:ADDR` (send a datagram),
//! `dns:HOST` (resolve a name), `getenv:NAME` (print one variable's value),
//! `get-len:N` (ask for a secret whose name is N bytes long),
//! `symlink:TARGET:LINK` (create LINK, a path under a granted dir, pointing
//! to TARGET, through wasi:filesystem's `symlink-at`), `poll:NAME` (resolve
//! NAME once a second, one line per call, until the second denial in a row
//! or 25 calls), `stdin` (print what stdin holds).

use std::io::Read;

use scopehold::get_secret;

fn main() {
    for step in std::env::args().skip(1) {
        let (verb, arg) = step.split_once(':').unwrap_or((step.as_str(), ""));
        match verb {
            "env" => env(),
            "getenv" => println!("getenv {arg}: {:?}", std::env::var(arg).ok()),
            "read" => read(arg),
            "list" => list(arg),
            "connect" => connect(arg),
            "write" => write(arg),
            "symlink" => symlink(arg),
            "udp" => udp(arg),
            "dns" => dns(arg),
            "get-len" => get(&"a".repeat(arg.parse().unwrap_or(0))),
            "get" => get(arg),
            "poll" => poll(arg),
            "get-as-name" => get_as_name(arg),
            "exit" => std::process::exit(arg.parse().unwrap_or(1)),
            "panic" => panic!("the probe panics on purpose"),
            "stdin" => stdin(),
            _ => println!("unknown step {step}"),
        }
    }
}

/// Prints what the task got on stdin (`runner mcp` passes a call's
/// arguments there as JSON).
fn stdin() {
    let mut input = String::new();
    match std::io::stdin().read_to_string(&mut input) {
        Ok(_) => println!("stdin: {input}"),
        Err(error) => println!("stdin: error {error}"),
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

fn write(path: &str) {
    match std::fs::write(path, b"written by the probe\n") {
        Ok(()) => println!("write {path}: ok"),
        Err(error) => println!("write {path}: error {error}"),
    }
}

/// `TARGET:LINK`: std has no stable symlink call on WASI, so this goes to
/// the granted dir's descriptor directly.
fn symlink(arg: &str) {
    let (target, link) = arg.split_once(':').unwrap_or((arg, ""));
    let dirs = wasip2::filesystem::preopens::get_directories();
    let found = dirs.iter().find_map(|(dir, guest)| {
        let rest = link.strip_prefix(guest.as_str())?.strip_prefix('/')?;
        Some((dir, rest))
    });
    match found.map(|(dir, rest)| dir.symlink_at(target, rest)) {
        Some(Ok(())) => println!("symlink {link}: ok"),
        Some(Err(code)) => println!("symlink {link}: error {code:?}"),
        None => println!("symlink {link}: error not under a granted dir"),
    }
}

fn udp(addr: &str) {
    let sent = std::net::UdpSocket::bind("0.0.0.0:0").and_then(|socket| socket.send_to(b"x", addr));
    match sent {
        Ok(n) => println!("udp {addr}: ok {n} bytes"),
        Err(error) => println!("udp {addr}: error {error}"),
    }
}

fn dns(host: &str) {
    use std::net::ToSocketAddrs;
    match (host, 443).to_socket_addrs() {
        Ok(addrs) => println!("dns {host}: ok {} addresses", addrs.count()),
        Err(error) => println!("dns {host}: error {error}"),
    }
}

fn get(name: &str) {
    // A 10 MB name is reported by its length, not echoed.
    let shown = if name.len() > 64 {
        format!("<{} bytes>", name.len())
    } else {
        name.to_owned()
    };
    let name_for_call = name;
    let name = shown.as_str();
    match get_secret(name_for_call) {
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

fn poll(name: &str) {
    let mut denied_in_a_row = 0;
    for call in 1..=25 {
        match get_secret(name) {
            Ok(secret) => {
                denied_in_a_row = 0;
                let digest = blake3::hash(secret.expose().as_bytes()).to_hex();
                println!("poll {call}: granted blake3={digest}");
            }
            Err(error) => {
                denied_in_a_row += 1;
                println!("poll {call}: {error:?}");
            }
        }
        if denied_in_a_row == 2 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
