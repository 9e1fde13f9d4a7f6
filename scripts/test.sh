#!/usr/bin/env bash
# Runs every test: unit tests, the policy golden files, and the end-to-end
# tests that build the example components and drive the real runner binary.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-wasip2; then
  rustup target add wasm32-wasip2
fi
exec cargo test --workspace "$@"
