#!/usr/bin/env bash
# Builds the JavaScript support-analysis task into a WebAssembly component:
#   target/guests/polyglot/js-support-analysis.wasm
#
# Installs @bytecodealliance/jco and @bytecodealliance/componentize-js (npm)
# into target/polyglot-tools/js when missing, stages the WIT (guest-sdk/wit +
# the WASI 0.2 packages the runner links) on every build, so a change to
# guest-sdk/wit/task.wit flows through without a manual step. (JS has no
# generated bindings to keep: componentize-js reads the WIT at build time.)
#
# Exit status 3 means the package registry could not be reached (CI prints a
# SKIP for that); any other failure is a real error.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools="$root/target/polyglot-tools/js"
out="$root/target/guests/polyglot"
stage="$root/target/polyglot-wit/js"
jco_version="1.35.0"
cjs_version="0.23.0"

# Concurrent test runs build the same files: one build at a time.
mkdir -p "$root/target/polyglot-tools"
exec 9>"$root/target/polyglot-tools/js.lock"
flock 9

wasm="$out/js-support-analysis.wasm"
# Up to date: nothing it is built from is newer than it.
if [ -f "$wasm" ] && [ -z "$(find "$here" "$root/guest-sdk/wit" "$root/Cargo.lock" \
    "$root/examples/python-support-analysis/stage-wit.sh" -newer "$wasm" -print -quit)" ]; then
  echo "up to date: $wasm"
  exit 0
fi

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "$tool not found: cannot build the JS task" >&2; exit 3; }
done
installed() {
  grep -q "\"version\": \"$2\"" "$tools/node_modules/@bytecodealliance/$1/package.json" 2>/dev/null
}
if ! installed jco "$jco_version" || ! installed componentize-js "$cjs_version"; then
  echo "installing jco $jco_version and componentize-js $cjs_version into $tools"
  mkdir -p "$tools"
  [ -f "$tools/package.json" ] || echo '{"private": true}' > "$tools/package.json"
  if ! (cd "$tools" && npm install --no-audit --no-fund --silent \
      "@bytecodealliance/jco@$jco_version" \
      "@bytecodealliance/componentize-js@$cjs_version"); then
    if npm ping >/dev/null 2>&1; then
      echo "jco/componentize-js: install failed (the npm registry is reachable)" >&2
      exit 1
    fi
    echo "jco/componentize-js: the npm registry is unreachable" >&2
    exit 3
  fi
fi

"$root/examples/python-support-analysis/stage-wit.sh" "$stage" js-task
# The source names WASI interfaces by version; use the one staged.
cli="$(sed -n 's/^package wasi:cli@\(.*\);/\1/p' "$stage/deps/cli.wit")"
sed "s/@WASI_CLI\"/@$cli\"/" "$here/app.js" > "$stage/app.js"
mkdir -p "$out"
# componentize.mjs resolves componentize-js from the staged dir.
cp "$here/componentize.mjs" "$stage/"
ln -sfn "$tools/node_modules" "$stage/node_modules"
node "$stage/componentize.mjs" "$stage/app.js" "$stage" js-task "$wasm"
echo "built $wasm"
