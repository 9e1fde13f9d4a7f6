#!/usr/bin/env bash
# The ScopeHold benchmark suite (issue 7): runner vs `wasmtime run`, the price
# of an audited resolution, repeat resolutions, concurrency, peak RSS and
# `audit verify` on 1,000,000 records. Prints medians and ratios; see
# BENCHMARKS.md. Usage: bench/run.sh   (RUNS=N to change the run count)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
RUNS=${RUNS:-15}
TOOLS=$root/target/bench-tools          # gitignored (under target/)
WASMTIME=$TOOLS/bin/wasmtime
R=$root/target/release/runner
GUESTS=$root/target/guests/wasm32-wasip2/release
HELLO=$GUESTS/hello.wasm
HOG=$GUESTS/hog.wasm

source "$root/bench/lib.sh"
install_tools
# Long paths out of the printed commands.
shorten() { sed -e "s|$R --home $H --config $work/tasks.toml|runner|g" -e "s|$R --home $H --config $work/tasks-every.toml|runner(every-record)|g" -e "s|$GUESTS/||g" \
  -e "s|$WASMTIME|wasmtime|g" -e "s|$R|runner|g" -e "s|$work/||g"; }

say "build (release)"
cargo build --release -p runner
cargo build --release --target wasm32-wasip2 --target-dir target/guests -p hello -p hog

say "machine"
machine
if [ -x "$WASMTIME" ]; then "$WASMTIME" --version; else echo "wasmtime: not installed, skipped"; fi
"$R" --version
# with_wt WT CMD...: the commands, then the wasmtime one WT if installed.
with_wt() { local wt=$1; shift; printf '%s\n' "$@"; [ -x "$WASMTIME" ] && printf '%s\n' "$wt"; return 0; }

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cat > "$work/tasks.toml" <<'TOML'
[projects.analytics]
[agents.bench]
project = "analytics"
grants = [{ secret = "posthog-read" }]
limits = { secret_calls = 20000 }
TOML
H=$work/home
r() { "$R" --home "$H" --config "$work/tasks.toml" "$@"; }
r init >/dev/null
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' | r secret set posthog-read --project analytics
RX="$R --home $H --config $work/tasks.toml exec"

say "1. warm compiled-code cache: runner exec hello vs wasmtime run hello"
mapfile -t cmds < <(with_wt "$WASMTIME run -C cache=y $HELLO" "$RX $HELLO --agent bench")
bench warm 3 "" "${cmds[@]}"

say "1b. warm, with [audit] sync = \"every-record\" (exec.start and exec.end synced and anchored)"
{ printf '[audit]\nsync = "every-record"\n\n'; cat "$work/tasks.toml"; } > "$work/tasks-every.toml"
mapfile -t cmds < <(with_wt "$WASMTIME run -C cache=y $HELLO" "$R --home $H --config $work/tasks-every.toml exec $HELLO --agent bench")
bench warm-every 3 "" "${cmds[@]}"

say "1c. cold (no cache): runner exec hello (cache cleared before each) vs wasmtime run -C cache=n"
mapfile -t cmds < <(with_wt "$WASMTIME run -C cache=n $HELLO" "$RX $HELLO --agent bench")
bench cold 1 "$R --home $H cache clear" "${cmds[@]}"

say "2. one audited resolution: hog get-many:1 vs hog print:1 vs hello (warm)"
bench resolve 3 "" "$RX $HOG --agent bench -- get-many:1:posthog-read" "$RX $HOG --agent bench -- print:1" "$RX $HELLO --agent bench"

say "3. 10,000 repeat resolutions in one run (vs one resolution)"
bench repeats 2 "" "$RX $HOG --agent bench -- get-many:10001:posthog-read" "$RX $HOG --agent bench -- get-many:1:posthog-read"
python3 - "$work/repeats.json" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"]
many, one = (statistics.median(x["times"]) for x in r)
print(f"  repeat resolutions/s: {10000 / max(many - one, 1e-9):,.0f}  (10,000 / (median(10001) - median(1)))")
PY
echo "  exec.end of a 10001-get run: $(r audit log --json | grep -o '"repeats":10000' | head -1)"

say "4. 16 concurrent runner exec of a secret-resolving task"
cat > "$work/conc.sh" <<SH
#!/usr/bin/env bash
for i in \$(seq 16); do $RX $HOG --agent bench -- get-many:1:posthog-read >/dev/null & done; wait
SH
chmod +x "$work/conc.sh"
before=$(wc -l < "$H/audit.jsonl")
bench concurrent 1 "" "$work/conc.sh"
after=$(wc -l < "$H/audit.jsonl")
rounds=$((RUNS + 1))
python3 - "$work/concurrent.json" "$(( (after - before) / rounds ))" <<'PY'
import json, statistics, sys
t = statistics.median(json.load(open(sys.argv[1]))["results"][0]["times"])
per = int(sys.argv[2])
print(f"  {16 / t:.1f} runs/s, {per / t:.1f} audit records/s ({per} records per round of 16; the 16 resolutions synced before release)")
PY

say "5. peak RSS (median of 5, KiB): runner exec hello vs wasmtime run hello (warm)"
rss() { for i in 1 2 3 4 5; do /usr/bin/time -v "$@" 2>&1 >/dev/null | awk '/Maximum resident/ {print $6}'; done | sort -n | sed -n 3p; }
rr=$(rss $RX "$HELLO" --agent bench); echo "  runner $rr KiB"
if [ -x "$WASMTIME" ]; then
  rw=$(rss "$WASMTIME" run -C cache=y "$HELLO")
  echo "  wasmtime $rw KiB, ratio runner/wasmtime $(python3 -c "print(f'{$rr/$rw:.2f}')")"
fi

say "6. runner audit verify on a 1,000,000-record log"
V=$work/verify; "$R" --home "$V" --config "$work/tasks.toml" init >/dev/null
BENCH_HOME=$V BENCH_RECORDS=1000000 cargo test -q -p runner --test e2e -- --ignored --exact cache::bench_generate_audit_log >/dev/null
echo "  $(wc -l < "$V/audit.jsonl") records, $(du -h "$V/audit.jsonl" | cut -f1)"
"$R" --home "$V" --config "$work/tasks.toml" audit verify 2>&1 | head -3 || true
saved=$RUNS; RUNS=5
bench verify 1 "" "sh -c '$R --home $V audit verify >/dev/null 2>&1; true'"
RUNS=$saved
python3 - "$work/verify.json" <<'PY'
import json, statistics, sys
r = json.load(open(sys.argv[1]))["results"][0]
t = statistics.median(r["times"])
print(f"  {1e6 / t:,.0f} records/s wall; {1e6 / r['user']:,.0f} records per user-CPU second (mean user {r['user']:.2f} s)")
PY
