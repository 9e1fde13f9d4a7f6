#!/usr/bin/env bash
# Durable appends per second, the cost of each resolution's record, with 1,
# 8 and 32 concurrent writers (each with its own connection pool, as separate
# `runner exec` processes have): the PostgreSQL backend, the file backend,
# and the ceiling, a bare SQL loop doing the same head-row-locked insert
# without the backend. A throwaway cluster with fsync on (durable commits).
# BENCHMARKS.md, "Many hosts: PostgreSQL backend".
#
# Usage: bench/postgres.sh   (needs PostgreSQL's initdb; .ci/run installs it)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -p scopehold-core --lib state::postgres::bench -- \
  --ignored --nocapture --test-threads 1
