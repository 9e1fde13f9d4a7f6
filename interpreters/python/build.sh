#!/usr/bin/env bash
# Builds the Python interpreter component into OUT with componentize-py:
# interpreter.py (reads the script from stdin, runs it), the `scopehold` SDK
# package and the curated standard library (curated.py), all imported at
# build time so they are in the component's snapshot.
# Exit status 3: PyPI unreachable (see examples/python-support-analysis).
# Usage: interpreters/python/build.sh OUT
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
wasm="$1"
stage="$root/target/polyglot-wit/python-interpreter"
bindings="$root/target/interpreters/python-bindings"

# Up to date: nothing it is built from is newer than it.
if [ -f "$wasm" ] && [ -z "$(find "$here" "$root/guest-sdk/wit" "$root/Cargo.lock" \
    "$root/examples/python-support-analysis" -newer "$wasm" -not -path '*__pycache__*' \
    -not -path '*/bindings*' -print -quit)" ]; then
  echo "up to date: $wasm"
  exit 0
fi
# The example's build installs (or finds) componentize-py; its exit 3 is ours.
"$root/examples/python-support-analysis/build.sh"
cpy="$root/target/polyglot-tools/py/bin/componentize-py"

exec 9>"$root/target/polyglot-tools/python.lock"
flock 9
"$root/examples/python-support-analysis/stage-wit.sh" "$stage" python-interpreter
rm -rf "$bindings"
"$cpy" -d "$stage" -w python-interpreter bindings "$bindings"
"$cpy" -d "$stage" -w python-interpreter componentize -p "$here" -p "$bindings" interpreter \
  -o "$wasm.tmp"
mv "$wasm.tmp" "$wasm"
echo "built $wasm"
