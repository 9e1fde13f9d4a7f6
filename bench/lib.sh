# Shared by the bench/*.sh scripts (sourced, not run). Callers set $root,
# $work (a temp dir) and $RUNS, and define shorten() (a sed that takes long
# paths out of printed commands).

say() { printf '\n== %s\n' "$*"; }

# bench NAME WARMUP PREPARE CMD... : times the commands side by side into
# $work/NAME.json (hyperfine, else bench/timeit.py) and prints medians and
# ratios against the last command.
bench() {
  local name=$1 warmup=$2 prepare=$3; shift 3
  local json=$work/$name.json
  if command -v hyperfine >/dev/null; then
    local args=(--runs "$RUNS" --warmup "$warmup" -N --export-json "$json" --style none)
    [ -n "$prepare" ] && args+=(--prepare "$prepare")
    # -N: no intermediate shell; commands are simple argv.
    hyperfine "${args[@]}" "$@" >/dev/null
  else
    python3 "$root/bench/timeit.py" "$RUNS" "$warmup" "$prepare" "$json" "$@"
  fi
  python3 "$root/bench/median.py" "$json" | shorten
}

median_of() { python3 -c 'import json,statistics,sys; print(statistics.median(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["times"]))' "$@"; }

machine() {
  echo "nproc: $(nproc)"; grep -m1 'model name' /proc/cpuinfo; free -h | head -2
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg)   (shared machine: other builds may run)"
}

# install_tools: wasmtime-cli 48.0.8 into $TOOLS (the peer; NO_INSTALL=1
# skips it, and comparisons with it are skipped) and hyperfine if missing.
install_tools() {
  if [ ! -x "$WASMTIME" ] && [ -z "${NO_INSTALL:-}" ]; then
    say "installing wasmtime-cli 48.0.8 into $TOOLS"
    cargo install wasmtime-cli --version 48.0.8 --locked --root "$TOOLS"
  fi
  if ! command -v hyperfine >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq hyperfine || true
    fi
  fi
}
