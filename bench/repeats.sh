#!/usr/bin/env bash
# Repeat resolutions per second (issue 13): every resolution re-checks the
# grant as tasks.toml and the store are at that moment (one stat of each
# when nothing changed). One run resolves posthog-read N+1 times, another
# once; the difference over N is the cost of a repeat resolution.
# Usage: bench/repeats.sh [RUNNER] [N]   (RUNNER defaults to target/release/runner)
# Prints the median of 5 pairs. See BENCHMARKS.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
R=${1:-$root/target/release/runner}
N=${2:-20000}
HOG=$root/target/guests/wasm32-wasip2/release/hog.wasm
[ -f "$HOG" ] || cargo build --release --target wasm32-wasip2 --target-dir "$root/target/guests" -p hog
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cat > "$work/tasks.toml" <<TOML
[projects.analytics]
[agents.bench]
project = "analytics"
grants = [{ secret = "posthog-read" }]
limits = { secret_calls = $((N + 10)) }
TOML
chmod 600 "$work/tasks.toml"
r() { "$R" --home "$work/home" --config "$work/tasks.toml" "$@"; }
r init >/dev/null
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' | r secret set posthog-read --project analytics
ns() { date +%s%N; }
rates=()
for _ in 1 2 3 4 5; do
  t0=$(ns); r exec "$HOG" --agent bench -- get-many:1 >/dev/null
  t1=$(ns); r exec "$HOG" --agent bench -- "get-many:$((N + 1))" >/dev/null
  t2=$(ns)
  extra=$(( (t2 - t1) - (t1 - t0) ))
  rates+=( $(( N * 1000000000 / (extra > 0 ? extra : 1) )) )
done
median=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n 3p)
echo "repeat resolutions: $median /s (median of 5, N=$N, $R)"
