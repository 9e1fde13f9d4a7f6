#!/usr/bin/env bash
# The fuzz harness (issue 17): mutated hostile input for tasks.toml, audit
# lines and logs, the store file, checkpoint and anchor text, CLI ages and
# dates, and component bytes, in-process with a time budget. Fails on any
# panic, on an input slower than 20 s, or on a peak RSS over 1 GiB; inputs
# that panicked are kept in target/fuzz-failures/. Numbers: BENCHMARKS.md,
# "Reliability". Usage: bench/fuzz.sh  (FUZZ_SECONDS=N, default 300;
# FUZZ_SEED=N for another sequence; FUZZ_VERBOSE=1 to print panics)
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_SECONDS=${FUZZ_SECONDS:-300}
# The harness runs in one process: its peak RSS is the process's.
exec nice cargo test -p runner --test e2e fuzz::fuzz_hostile_inputs \
  -- --ignored --exact --nocapture
