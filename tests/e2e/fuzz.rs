//! The fuzz harness (issue 17): mutated and generated hostile input for every
//! parser a user or a state-dir writer can reach: tasks.toml, audit lines and
//! whole logs, the store file, checkpoint and anchor text, CLI ages and
//! dates, and component bytes. Each input runs in this process under
//! `catch_unwind`; a panic anywhere (compiler threads included, through the
//! panic hook), an input slower than 20 s, or a peak RSS over 1 GiB fails
//! the run. Not part of the suite: `bench/fuzz.sh` runs it with a time
//! budget (`FUZZ_SECONDS`) and prints the numbers BENCHMARKS.md reports.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::harness::*;

/// Panics seen by the hook, in any thread.
static PANICS: AtomicU64 = AtomicU64::new(0);

/// xorshift64*: reproducible from `FUZZ_SEED`, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens that have broken parsers before, spliced into inputs.
const DICTIONARY: &[&str] = &[
    "9999-12-31T23:59:59-00:01",
    "0000-01-01T00:00:00+23:59",
    "99999999999999d",
    "15250284452472w",
    "106751991167301d",
    "18446744073709551616",
    "-9223372036854775808",
    "\u{1b}]0;x\u{7}",
    "\u{202e}",
    "\"",
    "\\u0000",
    "[[[[[[[[[[[[[[[[",
    "{\"a\":",
    "[agents.a]\nproject = \"p\"\n",
    "expires = ",
    "components = [\"blake3:",
    "limits = { memory = \"4GiB\", timeout = \"24h\" }",
    "\n",
    "\0asm\x0d\0\x01\0",
    "\u{ffff}",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        let last = data.len().saturating_sub(1);
        match rng.below(7) {
            0 if !data.is_empty() => data[at.min(last)] ^= 1 << rng.below(8),
            1 if !data.is_empty() => data[at.min(last)] = rng.next() as u8,
            2 => {
                let token = DICTIONARY[rng.below(DICTIONARY.len())].as_bytes();
                data.splice(at..at, token.iter().copied());
            }
            3 => {
                let end = (at + rng.below(64)).min(data.len());
                data.drain(at..end);
            }
            4 => {
                let end = (at + rng.below(256)).min(data.len());
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy);
            }
            5 => data.truncate(at),
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                data.splice(at.., other[from..].iter().copied());
            }
        }
    }
    data
}

/// What is done with one input.
pub(crate) type Feed = Box<dyn Fn(&[u8])>;

/// One kind of input: its seeds and what is done with each input.
pub(crate) struct Target {
    pub name: &'static str,
    pub seeds: Vec<Vec<u8>>,
    pub run: Feed,
}

/// What one target's share of the budget found.
#[derive(Default)]
struct Tally {
    inputs: u64,
    panics: u64,
    slowest: Duration,
}

fn run_target(target: &Target, rng: &mut Rng, budget: Duration, failures: &Path) -> Tally {
    let mut tally = Tally::default();
    let started = Instant::now();
    while started.elapsed() < budget {
        let input = match tally.inputs < target.seeds.len() as u64 {
            true => target.seeds[tally.inputs as usize].clone(),
            false => mutate(rng, &target.seeds),
        };
        let before = PANICS.load(Ordering::SeqCst);
        let one = Instant::now();
        let caught =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (target.run)(&input)));
        tally.slowest = tally.slowest.max(one.elapsed());
        tally.inputs += 1;
        if caught.is_err() || PANICS.load(Ordering::SeqCst) != before {
            tally.panics += 1;
            let file = failures.join(format!("{}-{}.bin", target.name, tally.panics));
            std::fs::write(file, &input).unwrap();
        }
    }
    tally
}

fn peak_rss_mib() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as u64 / 1024
}

#[test]
#[ignore = "fuzz harness: bench/fuzz.sh"]
fn fuzz_hostile_inputs() {
    let seconds: u64 = std::env::var("FUZZ_SECONDS").map_or(60, |s| s.parse().unwrap());
    let seed: u64 = std::env::var("FUZZ_SEED").map_or(0x5eed_5c0e_401d, |s| s.parse().unwrap());
    let failures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-failures");
    std::fs::create_dir_all(&failures).unwrap();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        if std::env::var_os("FUZZ_VERBOSE").is_some() {
            default_hook(info);
        }
    }));
    let world = seeded_world();
    let targets = crate::fuzz_targets::all(&world);
    let budget = Duration::from_secs(seconds) / targets.len() as u32;
    let mut rng = Rng(seed);
    let (mut inputs, mut panics, mut slowest) = (0, 0, Duration::ZERO);
    for target in &targets {
        let tally = run_target(target, &mut rng, budget, &failures);
        println!(
            "fuzz: {:<14} {:>8} inputs, {} panics, slowest {} ms",
            target.name,
            tally.inputs,
            tally.panics,
            tally.slowest.as_millis()
        );
        (inputs, panics) = (inputs + tally.inputs, panics + tally.panics);
        slowest = slowest.max(tally.slowest);
    }
    let rss = peak_rss_mib();
    println!(
        "fuzz total: {inputs} inputs in {seconds} s, {panics} panics, slowest input {} ms, \
         peak RSS {rss} MiB (seed {seed})",
        slowest.as_millis()
    );
    assert_eq!(panics, 0, "panicking inputs are in {}", failures.display());
    assert!(
        slowest < Duration::from_secs(20),
        "an input took {slowest:?}"
    );
    assert!(rss < 1024, "peak RSS {rss} MiB");
}

/// A state dir with a store, a rotated secret and a log with a checkpoint:
/// the seeds of the state-file targets.
fn seeded_world() -> World {
    let world = World::new();
    world.set_secret("analytics", "posthog-read", "seed-value");
    let out = run_with_input(
        &world,
        &["secret", "rotate", "posthog-read", "--project", "analytics"],
        b"seed-value-2\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    world.ok(&["audit", "head"]);
    world
}
