#!/usr/bin/env bash
# Builds the Python support-analysis task into a WebAssembly component:
#   target/guests/polyglot/python-support-analysis.wasm
#
# Installs componentize-py (PyPI) into target/polyglot-tools/py when missing,
# stages the WIT (guest-sdk/wit + the WASI 0.2 packages the runner links) and
# regenerates the Python bindings on every build, so a change to
# guest-sdk/wit/task.wit flows through without a manual step.
#
# Exit status 3 means the package registry could not be reached (CI prints a
# SKIP for that); any other failure is a real error.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools="$root/target/polyglot-tools"
out="$root/target/guests/polyglot"
stage="$root/target/polyglot-wit/python"
version="0.25.1"

# Concurrent test runs build the same files: one build at a time.
mkdir -p "$root/target/polyglot-tools"
exec 9>"$root/target/polyglot-tools/python.lock"
flock 9

wasm="$out/python-support-analysis.wasm"
# Up to date: nothing it is built from is newer than it.
if [ -f "$wasm" ] && [ -z "$(find "$here" "$root/guest-sdk/wit" "$root/Cargo.lock" \
    -newer "$wasm" -not -path '*/bindings*' -not -path '*__pycache__*' -print -quit)" ]; then
  echo "up to date: $wasm"
  exit 0
fi

command -v python3 >/dev/null || { echo "python3 not found: cannot install componentize-py" >&2; exit 3; }
cpy="$tools/py/bin/componentize-py"
if ! "$cpy" --version 2>/dev/null | grep -q "$version"; then
  echo "installing componentize-py $version into $tools/py"
  # --clear: a venv left by a moved or broken checkout is rebuilt, not reused.
  python3 -m venv --clear "$tools/py"
  if ! "$tools/py/bin/pip" install -q "componentize-py==$version"; then
    if python3 -c 'import urllib.request as u; u.urlopen("https://pypi.org/simple/componentize-py/", timeout=10)' 2>/dev/null; then
      echo "componentize-py $version: install failed (PyPI is reachable)" >&2
      exit 1
    fi
    echo "componentize-py: PyPI (pypi.org) is unreachable" >&2
    exit 3
  fi
fi

"$root/examples/python-support-analysis/stage-wit.sh" "$stage" python-task
rm -rf "$here/bindings"
"$cpy" -d "$stage" -w python-task bindings "$here/bindings"
mkdir -p "$out"
"$cpy" -d "$stage" -w python-task componentize -p "$here" -p "$here/bindings" app \
  -o "$wasm"
echo "built $wasm"
