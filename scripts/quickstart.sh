#!/usr/bin/env bash
# ScopeHold quick start: build the runner and the example tasks, initialise a
# throwaway state dir, then the first try without an editor: store a demo key,
# add an agent, grant it only that key, run the support-analysis task as it
# (one secret resolved, one denied), read the audit log, revoke the grant and
# see the next run denied. Then a key injected host-side, and a verified log.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "installing the wasm32-wasip2 target (if missing)"
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi

step "building the runner and the example tasks"
# --tests: the same feature set as `cargo test`, so the tests and the quick start
# share one build of wasmtime.
cargo build --quiet -p runner --tests
cargo build --quiet --release --target wasm32-wasip2 --target-dir target/guests \
  -p hello -p support-analysis -p posthog-query
cargo build --quiet -p posthog-standin
tasks=target/guests/wasm32-wasip2/release

tmp=$(mktemp -d)
state=$tmp/scopehold
# A copy of the example policy: the grant commands edit it in place.
cp tasks.toml "$tmp/tasks.toml"
runner() { target/debug/runner --home "$state" --config "$tmp/tasks.toml" "$@"; }

step "runner init  (throwaway state dir: $state)"
runner init

demo_key() { printf '%s_demo_%s' "$1" "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }

step "storing demo keys (values read from stdin, never argv)"
phc_key=$(demo_key phc)
printf '%s' "$phc_key" | runner secret set posthog-read --project analytics
demo_key sk | runner secret set billing-admin --project billing
runner secret list

step "runner agent add support-bot  (an identity for the task; no editor)"
runner agent add support-bot --project analytics --description "Quick start agent"

step "runner grant posthog-read --agent support-bot  (only that key, for 30 days)"
runner grant posthog-read --agent support-bot
runner agent list

step "runner exec support-analysis.wasm --agent support-bot"
runner exec "$tasks/support-analysis.wasm" --agent support-bot

step "runner audit log  (who granted what, who resolved it, when)"
runner audit log

step "runner revoke posthog-read --agent support-bot  (the next run is denied)"
runner revoke posthog-read --agent support-bot
if runner exec "$tasks/support-analysis.wasm" --agent support-bot; then
  echo "the revoked grant still worked" >&2
  exit 1
fi
echo "(the task failed: posthog-read was denied, as expected)"
runner audit log --kind grant.revoke

step "runner exec posthog-query.wasm --agent posthog-query  (key injected host-side)"
POSTHOG_KEY=$phc_key target/debug/posthog-standin 127.0.0.1:8080 &
standin=$!
trap 'kill $standin 2>/dev/null || true' EXIT
# Wait until the stand-in accepts connections.
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && break; sleep 0.1; done
runner exec "$tasks/posthog-query.wasm" --agent posthog-query -- http://127.0.0.1:8080
kill $standin 2>/dev/null || true

step "runner audit grants  (who granted each grant, last use)"
runner audit grants

step "runner audit verify"
runner audit verify

printf '\nThe task saw the key only through get-secret; billing-admin was denied, and after\n'
printf 'the revoke so was posthog-read. Every grant change names who made it, and every\n'
printf 'answer was recorded before the task got it. State: %s\n' "$state"
