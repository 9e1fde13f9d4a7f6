#!/usr/bin/env bash
# Durable resolutions per second through whole `runner exec` runs (each run
# resolves one secret, whose record is committed before its value is
# released) with 1, 8 and 32 concurrent runs, side by side in one run on one
# machine: the PostgreSQL backend, the file backend, and the ceiling, a bare
# SQL loop (pgbench, one connection per client) doing the same
# head-row-locked insert without the runner. A throwaway cluster with fsync
# on (durable commits), unix socket only, removed at the end.
# BENCHMARKS.md, "Many hosts: PostgreSQL backend".
#
# Usage: bench/postgres-exec.sh [RUNNER] [SECONDS]
#   RUNNER   the runner binary (default target/release/runner; build it
#            with `cargo build --release -p runner`)
#   SECONDS  how long each measurement runs (default 10)
# Needs PostgreSQL 12+ (initdb, pg_ctl, pgbench; .ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNNER=$(realpath "${1:-target/release/runner}")
WINDOW=${2:-10}
BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$BIN/initdb" ] || { echo "no PostgreSQL (initdb) found; set PG_BIN" >&2; exit 2; }
[ -x "$RUNNER" ] || { echo "no runner at $RUNNER" >&2; exit 2; }

cargo build --release --target wasm32-wasip2 --target-dir target/guests -p probe -q
PROBE=$(realpath target/guests/wasm32-wasip2/release/probe.wasm)

TMP=$(mktemp -d /tmp/scopehold-pgbench.XXXXXX)
# The cluster in a directory of its own: as root it belongs to `postgres`
# (initdb refuses root), and the state dirs must stay the runner user's.
PGD=$TMP/cluster
chmod 711 "$TMP"
mkdir "$PGD"
AS=()
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); chown postgres "$PGD"; fi
pg() { "${AS[@]}" "$BIN/$1" "${@:2}"; }
cleanup() { pg pg_ctl -D "$PGD/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$TMP"; }
trap cleanup EXIT; [ -n "${KEEP:-}" ] && trap - EXIT
pg initdb -D "$PGD/data" -U test --auth=trust -E UTF8 >/dev/null
pg pg_ctl -D "$PGD/data" -l "$PGD/log" -w \
  -o "-k $PGD -c listen_addresses='' -c max_connections=300" start >/dev/null
export SCOPEHOLD_DATABASE_URL="postgresql://test@localhost/postgres?host=$PGD"

# MANY distinct secrets: a run that resolves them all makes MANY durable
# resolutions (repeats of one secret are counted in exec.end, not recorded).
MANY=${MANY:-50}
POLICY="[projects.analytics]
[agents.support-analysis]
project = \"analytics\"
grants = [{ secret = \"posthog-read\" }$(for i in $(seq "$MANY"); do printf ', { secret = "s%d" }' "$i"; done)]"
GETS_MANY=$(for i in $(seq "$MANY"); do printf 'get:s%d ' "$i"; done)

# One state dir per backend (HOME separate so nothing else is shared).
setup() { # NAME BACKEND
  local dir="$TMP/$1"
  mkdir -p "$dir"
  { [ "$2" = postgres ] && printf '[state]\nbackend = "postgres"\n'; echo "$POLICY"; } >"$dir/tasks.toml"
  "$RUNNER" --home "$dir/home" --config "$dir/tasks.toml" init >/dev/null
  for name in posthog-read $(seq -f 's%g' "$MANY"); do
    printf bench-value | "$RUNNER" --home "$dir/home" --config "$dir/tasks.toml" \
      secret set "$name" --project analytics >/dev/null
  done
}
setup file file
setup pg postgres

# Whole runs per second with N concurrent loops over WINDOW seconds.
runs_per_second() { # NAME N GETS...
  local dir="$TMP/$1" n=$2 end=$((SECONDS + WINDOW)); shift 2
  for i in $(seq "$n"); do
    ( count=0
      while [ $SECONDS -lt $end ]; do
        "$RUNNER" --home "$dir/home" --config "$dir/tasks.toml" exec "$PROBE" \
          --agent support-analysis -- "$@" >/dev/null 2>"$dir/err" && count=$((count + 1))
      done
      echo "$count" >"$dir/count.$i" ) &
  done
  wait
  local total=0
  for i in $(seq "$n"); do total=$((total + $(cat "$dir/count.$i"))); done
  awk -v t="$total" -v w="$WINDOW" 'BEGIN { printf "%.1f", t / w }'
}

# The ceiling: the backend's append as bare SQL, no runner, no sealing.
cat >"$PGD/append.sql" <<'SQL'
BEGIN;
SELECT seq FROM bench_head FOR UPDATE;
INSERT INTO bench_record (seq, line)
  SELECT seq + 1, repeat('x', 300) FROM bench_head;
UPDATE bench_head SET seq = seq + 1;
COMMIT;
SQL
# Tables of its own, shaped as audit_record and chain_head (the chain the
# pg runs append to is left alone).
pg psql -X -q -h "$PGD" -U test -d postgres -c \
  "CREATE TABLE bench_record (id bigserial PRIMARY KEY, seq bigint UNIQUE, line text);
   CREATE TABLE bench_head (id boolean PRIMARY KEY DEFAULT true, seq bigint NOT NULL);
   INSERT INTO bench_head (seq) VALUES (0)" >/dev/null
sql_per_second() { # N
  pg pgbench -n -h "$PGD" -U test -c "$1" -j "$1" -T "$WINDOW" -f "$PGD/append.sql" postgres \
    2>/dev/null | awk '/^tps/ { printf "%.1f", $3 }'
}

ratio() { awk -v p="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f%%", 100 * p / s; else print "-" }'; }
per_second() { awk -v r="$1" -v k="$2" 'BEGIN { printf "%.1f", r * k }'; }
echo "durable resolutions/s; runs of one resolution (process start and wasm load dominate),"
echo "then runs of $MANY distinct resolutions each; bare SQL: one head-locked insert per transaction"
printf '%-12s %-10s %14s %14s %14s %12s\n' concurrent per-run file/s postgres/s bare-sql/s pg/ceiling
for n in 1 8 32; do
  s=$(sql_per_second "$n")
  for k in 1 "$MANY"; do
    if [ "$k" = 1 ]; then gets=(get:posthog-read); else read -ra gets <<<"$GETS_MANY"; fi
    f=$(per_second "$(runs_per_second file "$n" "${gets[@]}")" "$k")
    p=$(per_second "$(runs_per_second pg "$n" "${gets[@]}")" "$k")
    printf '%-12s %-10s %14s %14s %14s %12s\n' "$n" "$k" "$f" "$p" "$s" "$(ratio "$p" "$s")"
  done
done
pg psql -X -q -h "$PGD" -U test -d postgres -At -c \
  "SELECT count(*) || ' records in the chain' FROM audit_record"
