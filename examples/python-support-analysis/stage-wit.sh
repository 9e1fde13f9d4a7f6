#!/usr/bin/env bash
# Stages the WIT a non-Rust task is built against, in DIR:
#   DIR/world.wit              package scopehold:polyglot, world WORLD: the
#                              ScopeHold `task` world + WASI 0.2 imports
#                              (cli, filesystem, sockets, http) + export of
#                              wasi:cli/run (a command)
#   DIR/deps/scopehold-task/   guest-sdk/wit, as it is now
#   DIR/deps/*.wit             the WASI packages of the wasmtime-wasi-http
#                              crate the runner links (found with cargo
#                              metadata), so guests and host agree on versions
# Usage: stage-wit.sh DIR WORLD
set -euo pipefail
dir="$1"
world="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"

manifest="$(cd "$root" && cargo metadata --format-version 1 |
  python3 -c 'import json,sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == "wasmtime-wasi-http":
        print(p["manifest_path"]); break')"
wasi="$(dirname "$manifest")/wit/deps"
[ -f "$wasi/cli.wit" ] || { echo "WASI WIT not found next to $manifest" >&2; exit 1; }
cli="$(sed -n 's/^package wasi:cli@\(.*\);/\1/p' "$wasi/cli.wit")"
http="$(sed -n 's/^package wasi:http@\(.*\);/\1/p' "$wasi/http.wit")"

rm -rf "$dir"
mkdir -p "$dir/deps/scopehold-task"
cp "$wasi"/*.wit "$dir/deps/"
cp "$root"/guest-sdk/wit/*.wit "$dir/deps/scopehold-task/"
cat > "$dir/world.wit" <<WIT
package scopehold:polyglot;

world $world {
  include scopehold:task/task@0.1.0;
  include wasi:cli/imports@$cli;
  import wasi:http/outgoing-handler@$http;
  export wasi:cli/run@$cli;
}
WIT
