#!/usr/bin/env bash
# Hot calls through `runner serve` (issue 15 item 3), side by side in one
# run with one-shot `runner exec` and `wasmtime run` of the same component
# (examples/hello, a task that needs no secret).
#  1. one warm call through the daemon, request to exit status, timed inside
#     a client process (runner/examples/serve_client.rs: what `runner exec`
#     does once started): median and p99 over CALLS calls, 1 client;
#  2. tasks per second with 1 and 8 concurrent clients;
#  3. whole processes with hyperfine: `runner exec` through the daemon,
#     one-shot `runner exec` (no daemon) and `wasmtime run -C cache=y`.
# Usage: bench/serve.sh   (CALLS=N, default 2000; RUNS=N for hyperfine, default 50;
#   PROFILE=debug to time the dev build: dependencies (wasmtime, tokio) at
#   opt-level 2, the runner's own code unoptimised; WASMTIME=path to the
#   wasmtime 48 CLI, default target/bench-tools/bin/wasmtime)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CALLS=${CALLS:-2000}
RUNS=${RUNS:-50}
PROFILE=${PROFILE:-release}
R=$root/target/$PROFILE/runner
CLIENT=$root/target/$PROFILE/examples/serve_client
WASMTIME=${WASMTIME:-$root/target/bench-tools/bin/wasmtime}
HELLO=$root/target/guests/wasm32-wasip2/release/hello.wasm
say() { printf '\n== %s\n' "$*"; }

say "build ($PROFILE)"
[ "$PROFILE" = release ] && flag=--release || flag=
cargo build $flag -p runner --bin runner --example serve_client
cargo build --release --target wasm32-wasip2 --target-dir target/guests -p hello
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine; }

say "machine"
echo "nproc: $(nproc)"; grep -m1 'model name' /proc/cpuinfo
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)   (shared machine: other builds may run)"
"$R" --version | head -1; [ -x "$WASMTIME" ] && "$WASMTIME" --version

work=$(mktemp -d)
cleanup() { [ -n "${daemon:-}" ] && kill "$daemon" 2>/dev/null && wait "$daemon"; rm -rf "$work"; }
trap cleanup EXIT
cat > "$work/tasks.toml" <<'TOML'
[projects.analytics]
[agents.bench]
project = "analytics"
TOML
chmod 600 "$work/tasks.toml"
H=$work/home
r() { "$R" --home "$H" --config "$work/tasks.toml" "$@"; }
r init >/dev/null
r exec "$HELLO" --agent bench >/dev/null   # first sight of tasks.toml, warm cache
export XDG_RUNTIME_DIR=$work/xdg; mkdir -m 700 "$XDG_RUNTIME_DIR"

say "one-shot runner exec vs wasmtime run (no daemon running)"
hyperfine -N --warmup 5 --runs "$RUNS" --style none --export-json "$work/cold.json" \
  "$R --home $H --config $work/tasks.toml exec $HELLO --agent bench" \
  "$WASMTIME run -C cache=y $HELLO" >/dev/null

say "start runner serve"
# The runner itself in the background (not a subshell running `r`), so
# that the clean-up stops the daemon.
"$R" --home "$H" --config "$work/tasks.toml" serve 2>"$work/serve.log" & daemon=$!
until ls "$XDG_RUNTIME_DIR"/scopehold/*.sock >/dev/null 2>&1 && r exec "$HELLO" --agent bench >/dev/null 2>&1; do sleep 0.1; done
head -1 "$work/serve.log"

say "runner exec through the daemon (whole process)"
hyperfine -N --warmup 5 --runs "$RUNS" --style none --export-json "$work/hot.json" \
  "$R --home $H --config $work/tasks.toml exec $HELLO --agent bench" >/dev/null

say "hot calls inside a client process (request to exit status)"
"$CLIENT" "$H" "$work/tasks.toml" "$HELLO" bench 200 1 >/dev/null   # warm-up
one=$("$CLIENT" "$H" "$work/tasks.toml" "$HELLO" bench "$CALLS" 1)
eight=$("$CLIENT" "$H" "$work/tasks.toml" "$HELLO" bench "$CALLS" 8)
echo "$one"; echo "$eight"
r audit verify >/dev/null && echo "audit verify: intact ($(wc -l < "$H/audit.jsonl") records)"

say "summary"
python3 - "$work/cold.json" "$work/hot.json" "$one" "$eight" <<'PY'
import json, statistics, sys
def stats(path, i):
    t = sorted(json.load(open(path))["results"][i]["times"])
    return statistics.median(t) * 1e3, t[min(len(t) - 1, int(len(t) * 0.99))] * 1e3
def field(line, name):
    parts = line.split(); return float(parts[parts.index(name) + 1])
exec_cold, wt = stats(sys.argv[1], 0), stats(sys.argv[1], 1)
exec_hot = stats(sys.argv[2], 0)
one, eight = sys.argv[3], sys.argv[4]
hot = (field(one, "median_us") / 1e3, field(one, "p99_us") / 1e3)
rows = [("hot call through runner serve (in-client timing)", hot),
        ("runner exec through runner serve (whole process)", exec_hot),
        ("one-shot runner exec (warm code cache)", exec_cold),
        ("wasmtime run -C cache=y", wt)]
print(f"{'':52} {'median ms':>10} {'p99 ms':>8}")
for name, (med, p99) in rows:
    print(f"{name:52} {med:10.3f} {p99:8.3f}")
print(f"wasmtime run / hot call (median): {wt[0] / hot[0]:.1f}x")
print(f"tasks/s through runner serve: 1 client {field(one, 'per_s'):.0f}, 8 clients {field(eight, 'per_s'):.0f}")
PY
