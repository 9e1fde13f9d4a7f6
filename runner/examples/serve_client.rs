//! Times hot calls through `runner serve` (bench/serve.sh, BENCHMARKS.md
//! "Hot calls"): each call is what `runner exec` does once it runs: find
//! and check the daemon, read the task file, send the run, relay its output,
//! take the exit status; without the cost of starting a process.
//!
//! Usage: serve_client HOME CONFIG TASK AGENT CALLS CLIENTS
//! Prints one line: calls, clients, median and p99 of one call (µs), and
//! calls per second over the whole run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use runner::exec::{Request, TaskSource};
use runner::sandbox::TaskIo;
use runner::serve::client;
use scopehold_core::policy::Policy;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [home, config, task, agent, calls, clients] = args.as_slice() else {
        eprintln!("usage: serve_client HOME CONFIG TASK AGENT CALLS CLIENTS");
        std::process::exit(2);
    };
    let (calls, clients): (usize, usize) = (calls.parse().unwrap(), clients.parse().unwrap());
    let policy = Policy::load_trusted(Path::new(config)).expect("tasks.toml loads");
    let (home, task) = (PathBuf::from(home), PathBuf::from(task));
    let call = || one_call(&policy, &home, &task, agent);
    let started = Instant::now();
    let mut times: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|_| scope.spawn(|| (0..calls / clients).map(|_| call()).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let wall = started.elapsed();
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "calls {} clients {clients} median_us {:.1} p99_us {:.1} per_s {:.0}",
        times.len(),
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        times.len() as f64 / wall.as_secs_f64()
    );
}

/// One call, request to exit status; panics unless the task exited 0.
fn one_call(policy: &Policy, home: &Path, task: &Path, agent: &str) -> Duration {
    let started = Instant::now();
    let daemon = client::for_home(Some(home)).expect("runner serve is running");
    let bytes = client::task_bytes(task).expect("the task file reads");
    let request = Request {
        policy,
        home: Some(home),
        database_url: None,
        agent,
        task: TaskSource::File(task),
        args: &[],
        io: TaskIo::Inherit,
        watch_signals: false,
        tool: None,
        summary: None,
        served: None,
    };
    let (mut out, mut err) = (std::io::sink(), std::io::sink());
    let code = daemon.exec_to(request, &bytes, (&mut out, &mut err));
    let elapsed = started.elapsed();
    assert_eq!(code.unwrap(), 0);
    elapsed
}
