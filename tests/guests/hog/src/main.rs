//! A hostile task for the limit tests: each argument is one attempt to use
//! more than the sandbox allows. It prints `start STEP` before each step, so a
//! test can tell the step began and was then stopped.
//!
//! Steps: `spin` (an infinite loop), `host-spin` (an infinite loop of host
//! calls), `sleep` (one host call that waits an hour), `alloc:MIB` (grow memory
//! MiB at a time, touching every page, forever), `recurse` (unbounded
//! recursion), `flood` (print without end, ignoring errors), `get-many:N:NAME`
//! (call get-secret N times), `print:BYTES` (write that many bytes, then exit 0).

use std::hint::black_box;
use std::io::Write;

fn main() {
    for step in std::env::args().skip(1) {
        println!("start {step}");
        let mut parts = step.split(':');
        match parts.next().unwrap_or("") {
            "spin" => spin(),
            "host-spin" => host_spin(),
            "sleep" => std::thread::sleep(std::time::Duration::from_secs(3600)),
            "alloc" => alloc(parts.next().and_then(|n| n.parse().ok()).unwrap_or(1)),
            "recurse" => println!("depth {}", recurse(black_box(1))),
            "flood" => flood(),
            "get-many" => get_many(parts.next(), parts.next().unwrap_or("posthog-read")),
            "print" => print(parts.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
            _ => println!("unknown step {step}"),
        }
        println!("done {step}");
    }
}

fn spin() {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Every iteration is a host call (the clock), and the loop never ends.
fn host_spin() {
    let mut last = std::time::Instant::now();
    loop {
        let now = std::time::Instant::now();
        last = black_box(now.max(last));
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

fn alloc(mib: usize) {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![1u8; mib << 20]);
        black_box(&hoard);
    }
}

#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 64]);
    recurse(black_box(depth + 1)) + frame[0]
}

fn flood() {
    let chunk = vec![b'x'; 64 * 1024];
    let mut stdout = std::io::stdout();
    loop {
        // Errors ignored on purpose: a task need not stop when writes fail.
        let _ = stdout.write_all(&chunk);
    }
}

fn get_many(count: Option<&str>, name: &str) {
    let count: u64 = count.and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let mut denied = 0u64;
    for _ in 0..count {
        if scopehold::get_secret(name).is_err() {
            denied += 1;
        }
    }
    println!("get-many {name}: {count} calls, {denied} denied");
}

fn print(bytes: usize) {
    let mut stdout = std::io::stdout();
    stdout.write_all(&vec![b'y'; bytes]).expect("write");
    stdout.flush().expect("flush");
}
