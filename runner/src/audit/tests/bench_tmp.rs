use std::time::Instant;
use super::*;
use crate::audit::record::{Parsed, Scratch};

#[test]
#[ignore]
fn breakdown() {
    let recs = chain(LogId::from_bytes([5; 16]), (1..100_000u32).map(|i| Event::SecretResolve {
        run: run_id(i as u8), agent: agent("support-analysis"), project: project("analytics"),
        secret: secret("posthog-read"), version: i }));
    let lines = lines_of(&recs);
    println!("avg line {}", lines.iter().map(|l| l.len()).sum::<usize>() / lines.len());
    let mut s = Scratch::default();
    let t = Instant::now();
    for l in &lines { std::hint::black_box(Parsed::from_line(l.as_bytes(), &mut s).unwrap()); }
    println!("from_line {:?}/rec", t.elapsed() / lines.len() as u32);
    let t = Instant::now();
    for r in &recs { std::hint::black_box(r.compute_hash()); }
    println!("hash {:?}/rec", t.elapsed() / lines.len() as u32);
    let t = Instant::now();
    for r in &recs { std::hint::black_box(r.to_line()); }
    println!("to_line {:?}/rec", t.elapsed() / lines.len() as u32);
    let t = Instant::now();
    for l in &lines { std::hint::black_box(serde_json::from_str::<serde_json::Value>(l).unwrap()); }
    println!("Value parse {:?}/rec", t.elapsed() / lines.len() as u32);
    let t = Instant::now();
    for l in &lines { std::hint::black_box(serde_json::from_str::<Event>(l).is_err()); }
    println!("Event parse (errors) {:?}/rec", t.elapsed() / lines.len() as u32);
}

#[test]
#[ignore]
fn from_line_loop() {
    let recs = chain(LogId::from_bytes([5; 16]), (1..20_000u32).map(|i| Event::SecretResolve {
        run: run_id(i as u8), agent: agent("support-analysis"), project: project("analytics"),
        secret: secret("posthog-read"), version: i }));
    let lines = lines_of(&recs);
    let mut s = Scratch::default();
    let t = Instant::now();
    for _ in 0..25 { for l in &lines { std::hint::black_box(Parsed::from_line(l.as_bytes(), &mut s).unwrap()); } }
    println!("from_line {:?}/rec", t.elapsed() / (25 * lines.len() as u32));
}
