#!/usr/bin/env bash
# Installs the real MCP clients the end-to-end tests drive `runner mcp` with,
# under target/mcp-clients/ (cached: a second run does nothing):
#   - the Python `mcp` package (PyPI) in a venv: its stdio client
#   - @modelcontextprotocol/inspector-cli (npm)
# Exit 0: both installed. Exit 3: a registry could not be reached (the tests
# print SKIP). Any other failure exits 1.
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${MCP_CLIENTS_DIR:-$root/target/mcp-clients}"
py_version="2.3.0"
npm_version="1.0.3"
mkdir -p "$dir"

unreachable() {
    echo "mcp-clients: $1 unreachable: $2" >&2
    exit 3
}

if [ ! -f "$dir/venv/.installed-$py_version" ]; then
    rm -rf "$dir/venv"
    python3 -m venv "$dir/venv" || { echo "mcp-clients: python3 -m venv failed" >&2; exit 1; }
    if ! log="$("$dir/venv/bin/pip" install --quiet --disable-pip-version-check \
        --timeout 30 "mcp==$py_version" 2>&1)"; then
        echo "$log" >&2
        unreachable "PyPI" "pip install mcp==$py_version failed"
    fi
    touch "$dir/venv/.installed-$py_version"
fi

if [ ! -f "$dir/npm/.installed-$npm_version" ]; then
    mkdir -p "$dir/npm"
    if ! log="$(cd "$dir/npm" && npm install --silent --no-audit --no-fund \
        --prefix "$dir/npm" "@modelcontextprotocol/inspector-cli@$npm_version" 2>&1)"; then
        echo "$log" >&2
        unreachable "npm registry" "npm install @modelcontextprotocol/inspector-cli failed"
    fi
    touch "$dir/npm/.installed-$npm_version"
fi
echo "$dir"
