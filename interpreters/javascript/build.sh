#!/usr/bin/env bash
# Builds the JavaScript interpreter component into OUT with componentize-js:
# interpreter.js reads the script from stdin and runs it with the
# `scopehold` SDK. Exit status 3: the npm registry is unreachable (see
# examples/js-support-analysis).
# Usage: interpreters/javascript/build.sh OUT
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
wasm="$1"
stage="$root/target/polyglot-wit/js-interpreter"
tools="$root/target/polyglot-tools/js"

if [ -f "$wasm" ] && [ -z "$(find "$here" "$root/guest-sdk/wit" "$root/Cargo.lock" \
    "$root/examples/js-support-analysis" "$root/examples/python-support-analysis/stage-wit.sh" \
    -newer "$wasm" -print -quit)" ]; then
  echo "up to date: $wasm"
  exit 0
fi
# The example's build installs (or finds) jco and componentize-js; its
# exit 3 is ours.
"$root/examples/js-support-analysis/build.sh"

exec 9>"$root/target/polyglot-tools/js.lock"
flock 9
"$root/examples/python-support-analysis/stage-wit.sh" "$stage" js-interpreter
cli="$(sed -n 's/^package wasi:cli@\(.*\);/\1/p' "$stage/deps/cli.wit")"
http="$(sed -n 's/^package wasi:http@\(.*\);/\1/p' "$stage/deps/http.wit")"
sed -e "s/@WASI_CLI\"/@$cli\"/" -e "s/@WASI_HTTP\"/@$http\"/" "$here/interpreter.js" \
  > "$stage/interpreter.js"
cp "$root/examples/js-support-analysis/componentize.mjs" "$stage/"
ln -sfn "$tools/node_modules" "$stage/node_modules"
node "$stage/componentize.mjs" "$stage/interpreter.js" "$stage" js-interpreter "$wasm.tmp"
mv "$wasm.tmp" "$wasm"
echo "built $wasm"
