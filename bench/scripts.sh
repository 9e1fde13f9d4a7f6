#!/usr/bin/env bash
# Scripts (issue 18): warm `runner exec SCRIPT.py|.js` against the host's own
# python3 and node running the same script: hello world, and a script that
# resolves one key and makes one request to a local stand-in API. Prints
# medians and ratios; see BENCHMARKS.md. Usage: bench/scripts.sh (RUNS=N)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
RUNS=${RUNS:-15}
R=$root/target/release/runner
export SCOPEHOLD_INTERPRETERS=$root/target/interpreters
work=$(mktemp -d)
source "$root/bench/lib.sh"
shorten() { sed -e "s|$R --home $work/home --config $work/tasks.toml|runner|g" -e "s|$work/||g" -e "s|$PY|python3|g" -e "s|$NODE|node|g"; }

say "build (release)"
cargo build --release -p runner -p posthog-standin
[ -f "$SCOPEHOLD_INTERPRETERS/python.wasm" ] && [ -f "$SCOPEHOLD_INTERPRETERS/javascript.wasm" ] \
  || interpreters/build.sh
chmod -R go-w "$SCOPEHOLD_INTERPRETERS"
# The interpreters themselves, not a version manager's shim in front of them.
PY=$(python3 -c 'import sys; print(sys.executable)')
NODE=$(node -p process.execPath)

say "machine"
machine
"$R" --version; "$PY" --version; "$NODE" --version

key=phc_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
port=$((20000 + RANDOM % 20000))
POSTHOG_KEY=$key target/release/posthog-standin 127.0.0.1:$port >/dev/null &
standin=$!
trap 'kill $standin 2>/dev/null; rm -rf "$work"' EXIT
api=http://127.0.0.1:$port
cat > "$work/tasks.toml" <<TOML
[projects.analytics]
[agents.bench]
project = "analytics"
scripts = "any"
allowed_hosts = ["http://127.0.0.1:$port"]
grants = [{ secret = "posthog-read", hosts = ["http://127.0.0.1:$port"] }]
TOML
r() { "$R" --home "$work/home" --config "$work/tasks.toml" "$@"; }
r init >/dev/null
printf %s "$key" | r secret set posthog-read --project analytics

echo 'print("hello")' > "$work/hello.py"
echo 'console.log("hello")' > "$work/hello.js"
cat > "$work/key.py" <<'PY'
import sys
from scopehold import fetch, placeholder
r = fetch(sys.argv[1] + "/api/projects/1/events",
          headers={"Authorization": f"Bearer {placeholder('posthog-read')}"})
print(r.status, len(r.json()["results"]))
PY
cat > "$work/host-key.py" <<'PY'
import json, os, sys, urllib.request
q = urllib.request.Request(sys.argv[1] + "/api/projects/1/events",
                           headers={"Authorization": "Bearer " + os.environ["POSTHOG_KEY"]})
with urllib.request.urlopen(q) as r:
    print(r.status, len(json.load(r)["results"]))
PY
cat > "$work/key.js" <<'JS'
import { fetch, placeholder } from "scopehold";
const r = await fetch(`${process.argv[2]}/api/projects/1/events`,
                      { headers: { Authorization: `Bearer ${placeholder("posthog-read")}` } });
console.log(r.status, (await r.json()).results.length);
JS
cat > "$work/host-key.mjs" <<'JS'
const r = await fetch(`${process.argv[2]}/api/projects/1/events`,
                      { headers: { Authorization: `Bearer ${process.env.POSTHOG_KEY}` } });
console.log(r.status, (await r.json()).results.length);
JS
# The first run of each language compiles its interpreter (once per version).
for s in hello.py hello.js; do r exec "$work/$s" --agent bench >/dev/null; done
r exec "$work/key.py" --agent bench -- "$api" | grep -q '^200 ' || { echo "key.py failed"; exit 1; }
export POSTHOG_KEY=$key
RX="$R --home $work/home --config $work/tasks.toml exec"

say "1. Python hello world: runner exec hello.py vs python3 hello.py"
bench py-hello 3 "" "$RX $work/hello.py --agent bench" "$PY $work/hello.py"
if [ -x /usr/bin/python3 ] && [ "$(readlink -f /usr/bin/python3)" != "$(readlink -f "$PY")" ]; then
  say "1b. the same against the distribution's /usr/bin/python3 (no version manager, fewer site packages)"
  bench py-hello-system 3 "" "$RX $work/hello.py --agent bench" "/usr/bin/python3 $work/hello.py"
fi
say "2. JavaScript hello world: runner exec hello.js vs node hello.js"
bench js-hello 3 "" "$RX $work/hello.js --agent bench" "$NODE $work/hello.js"
say "3. Python, one key injected into one GET: runner (placeholder) vs python3 + urllib (key from env)"
bench py-key 3 "" "$RX $work/key.py --agent bench -- $api" "$PY $work/host-key.py $api"
say "4. JavaScript, the same: runner (placeholder) vs node + fetch (key from env)"
bench js-key 3 "" "$RX $work/key.js --agent bench -- $api" "$NODE $work/host-key.mjs $api"

say "5. the same through runner serve (a daemon holding the compiled interpreters)"
export XDG_RUNTIME_DIR=$work/xdg; mkdir -m 700 "$XDG_RUNTIME_DIR"
# The runner itself in the background (not a function: its pid is a
# subshell's, and killing that would leave the daemon running).
"$R" --home "$work/home" --config "$work/tasks.toml" serve 2>"$work/serve.log" & daemon=$!
trap 'kill $standin 2>/dev/null; kill $daemon 2>/dev/null && wait $daemon; rm -rf "$work"' EXIT
until ls "$XDG_RUNTIME_DIR"/scopehold/*.sock >/dev/null 2>&1; do sleep 0.1; done
for s in hello.py hello.js; do r exec "$work/$s" --agent bench >/dev/null; done
bench py-hello-serve 3 "" "$RX $work/hello.py --agent bench" "$PY $work/hello.py"
bench js-hello-serve 3 "" "$RX $work/hello.js --agent bench" "$NODE $work/hello.js"
bench py-key-serve 3 "" "$RX $work/key.py --agent bench -- $api" "$PY $work/host-key.py $api"
bench js-key-serve 3 "" "$RX $work/key.js --agent bench -- $api" "$NODE $work/host-key.mjs $api"
