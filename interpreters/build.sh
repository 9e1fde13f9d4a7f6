#!/usr/bin/env bash
# Builds the script interpreters `runner exec SCRIPT.py|.js|.mjs` runs:
#   target/interpreters/python.wasm      componentize-py (PyPI)
#   target/interpreters/javascript.wasm  componentize-js (npm)
# and, with --install DIR, copies them into DIR (mode 0600, DIR 0700):
# by default the runner looks in <state dir>/interpreters (docs/scripts.md).
#
# The tools are installed into target/polyglot-tools on first use, as the
# example tasks' build.sh do. Exit status 3 means a package registry could
# not be reached (CI prints a SKIP for that); any other failure is an error.
#
# Usage: interpreters/build.sh [python|javascript]... [--install DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="$root/target/interpreters"
install=""
languages=()
while [ $# -gt 0 ]; do
  case "$1" in
    --install) install="${2:?--install needs a directory}"; shift 2 ;;
    python|javascript) languages+=("$1"); shift ;;
    *) echo "usage: $0 [python|javascript]... [--install DIR]" >&2; exit 2 ;;
  esac
done
[ "${#languages[@]}" -gt 0 ] || languages=(python javascript)

mkdir -p "$out"
for language in "${languages[@]}"; do
  "$here/$language/build.sh" "$out/$language.wasm"
done
if [ -n "$install" ]; then
  mkdir -p "$install"
  chmod 700 "$install"
  for language in "${languages[@]}"; do
    install -m 600 "$out/$language.wasm" "$install/$language.wasm"
    echo "installed $install/$language.wasm"
  done
fi
