#!/usr/bin/env bash
# bench/cluster.sh: the cluster issue's benchmark (`make bench-cluster`):
# commit throughput and latency of duro's store on PostgreSQL beside
# SQLite, same workloads, same invocation; then failover time over
# BENCH_KILLS kill -9 of a node of three (bench/cluster_failover.mjs);
# then fan-out deliveries per server CPU-second with the subscribers on
# one node and spread over three (bench/cluster_fanout.mjs).
#
# It starts its own throwaway PostgreSQL with tests/pg.sh (fsync on,
# synchronous_commit on, socket in a temporary directory, listening on
# 127.0.0.1 only) and runs build/<release>/bench/store_bench on SQLite
# (synchronous=FULL, a fresh directory per run) and on PostgreSQL (over
# the unix socket, a fresh database per run) for each scenario: K objects
# each with one commit in flight, every batch P puts of V bytes, for S
# seconds. Runs alternate which engine goes first. The table gives the
# median of the runs for each engine and PostgreSQL / SQLite.
#
#   bench/cluster.sh
#   BENCH_RUNS=1 BENCH_SECONDS=2 BENCH_OBJECTS="1 100" bench/cluster.sh
#
# Environment: STORE_BENCH (the binary; default build/release/bench/
# store_bench), BENCH_RUNS (3), BENCH_SECONDS (5), BENCH_OBJECTS
# ("1 100 1000"), BENCH_KEYS (2), BENCH_VALUE_BYTES (100), BENCH_KILLS
# (10), BENCH_FANOUT (0 skips the fan-out), BENCH_FANOUT_SECONDS (10),
# BENCH_SUBS (3000), BENCH_RATE (50), PG_BIN (as tests/pg.sh). On exit
# or Ctrl-C it stops what it started, by PID (a store_bench, or the
# failover or fan-out script, which then stops its own nodes and
# PostgreSQL), and its PostgreSQL (tests/pg.sh stop), and removes its
# temporary directory. Exit status: 0 all runs
# succeeded, 1 a run failed, 2 setup failure. Without PostgreSQL it says
# so and measures SQLite only; without node or node_modules it says so
# and skips the failover and the fan-out.
# shellcheck disable=SC2317
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STORE_BENCH=${STORE_BENCH:-$ROOT/build/release/bench/store_bench}
RUNS=${BENCH_RUNS:-3}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
OBJECTS=${BENCH_OBJECTS:-"1 100 1000"}
KEYS=${BENCH_KEYS:-2}
VALUE_BYTES=${BENCH_VALUE_BYTES:-100}
KILLS=${BENCH_KILLS:-10}
LOGDIR=$ROOT/build/bench

say() { printf '%s\n' "$*"; }
die() {
  say "bench-cluster: $*" >&2
  exit 2
}

[ -x "$STORE_BENCH" ] || die "$STORE_BENCH is missing: make build/release/bench/store_bench"
for v in "$RUNS" "$SECONDS_PER_RUN" "$KEYS" "$VALUE_BYTES" "$KILLS" $OBJECTS; do
  case "$v" in '' | *[!0-9]*) die "BENCH_* values must be positive integers (got '$v')" ;; esac
done
mkdir -p "$LOGDIR"

TMP=$(mktemp -d /tmp/duro-bench-cluster.XXXXXX)
# PostgreSQL runs as the user postgres when we are root: it must be able
# to reach its directory inside ours.
chmod 0711 "$TMP"
PG_DIR=$TMP/pg
PG_STARTED=""
BENCH_PID=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$BENCH_PID" ] && kill -0 "$BENCH_PID" 2>/dev/null; then
    kill "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
  fi
  if [ -n "$PG_STARTED" ]; then
    "$ROOT/tests/pg.sh" stop "$PG_DIR" || say "bench-cluster: could not stop PostgreSQL in $PG_DIR" >&2
  fi
  rm -rf -- "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- PostgreSQL
PG_CONNINFO=""
PSQL=""
PG_VERSION=""
if PG_CONNINFO=$("$ROOT/tests/pg.sh" start "$PG_DIR" 2>"$TMP/pg-start.err"); then
  PG_STARTED=1
  PSQL=$(command -v psql || true)
  if [ -z "$PSQL" ]; then
    for c in "${PG_BIN:-}" /usr/lib/postgresql/*/bin; do
      [ -n "$c" ] && [ -x "$c/psql" ] && { PSQL=$c/psql; break; }
    done
  fi
  [ -n "$PSQL" ] || die "psql not found (PostgreSQL's client; scripts/deps.sh test installs it)"
  PG_VERSION=$("$PSQL" "$PG_CONNINFO" -qAtc "SHOW server_version")
  PG_SETTINGS=$("$PSQL" "$PG_CONNINFO" -qAt -F= \
    -c "SELECT name, current_setting(name) FROM pg_settings WHERE name IN
        ('fsync','synchronous_commit','wal_sync_method','full_page_writes',
         'shared_buffers','commit_delay') ORDER BY name" | tr '\n' ' ')
else
  say "PostgreSQL could not be started, so only SQLite is measured:"
  sed 's/^/  /' "$TMP/pg-start.err"
fi

# ------------------------------------------------------------------ one run
# run_one ENGINE K RUN: runs store_bench, keeps its output in LOGDIR,
# prints its RESULT line and appends it to $TMP/results. Returns 1 if the
# run failed.
run_one() {
  local engine=$1 k=$2 run=$3 out rc=0 db="" target=()
  out=$LOGDIR/cluster-$engine-$k-$run.out
  if [ "$engine" = sqlite ]; then
    target=(--sqlite "$TMP/sqlite-$k-$run")
  else
    db=bench_${k}_$run
    "$PSQL" "$PG_CONNINFO" -qc "CREATE DATABASE $db" >/dev/null
    target=(--postgres "${PG_CONNINFO/dbname=postgres/dbname=$db}")
  fi
  # store_bench ends by itself (its watchdog included); timeout is a
  # last resort that cannot outlive this script.
  timeout -k 5 $((SECONDS_PER_RUN + 120)) "$STORE_BENCH" "${target[@]}" \
    --objects "$k" --seconds "$SECONDS_PER_RUN" --keys "$KEYS" \
    --value-bytes "$VALUE_BYTES" --label "run$run" >"$out" 2>&1 &
  BENCH_PID=$!
  wait "$BENCH_PID" || rc=$?
  BENCH_PID=""
  if [ "$engine" = sqlite ]; then
    rm -rf -- "$TMP/sqlite-$k-$run"
  else
    "$PSQL" "$PG_CONNINFO" -qc "DROP DATABASE $db" >/dev/null || true
  fi
  local line
  line=$(grep '^RESULT ' "$out" || true)
  if [ "$rc" -ne 0 ] || [ -z "$line" ]; then
    say "  $engine K=$k run $run: FAIL (exit $rc; $out):"
    tail -n 5 "$out" | sed 's/^/    /'
    return 1
  fi
  say "$line" >>"$TMP/results"
  # shellcheck disable=SC2086
  set -- $line
  local f batches="" bps="" ptx="" p50="" p99="" max=""
  for f in "$@"; do
    case "$f" in
      batches=*) batches=${f#*=} ;;
      batches_per_s=*) bps=${f#*=} ;;
      batches_per_tx=*) ptx=${f#*=} ;;
      p50_ms=*) p50=${f#*=} ;;
      p99_ms=*) p99=${f#*=} ;;
      max_ms=*) max=${f#*=} ;;
    esac
  done
  printf '  %-8s K=%-5s run %s: %8.0f batches/s (%s batches, %s per transaction), p50 %s ms, p99 %s ms, max %s ms\n' \
    "$engine" "$k" "$run" "$bps" "$batches" "$ptx" "$p50" "$p99" "$max"
}

# median ENGINE K FIELD: the median of FIELD over that engine's runs.
median() {
  awk -v e="engine=$1" -v k="objects=$2" -v f="$3=" '
    $0 ~ ("(^| )" e "( |$)") && $0 ~ ("(^| )" k "( |$)") {
      for (i = 1; i <= NF; i++)
        if (index($i, f) == 1) print substr($i, length(f) + 1)
    }' "$TMP/results" | sort -g | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "-"; exit }
      if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

fmt() { awk -v f="$1" -v v="$2" 'BEGIN { if (v == "-") print "-"; else printf f, v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }

# ------------------------------------------------------------------ the runs
ENGINES=(sqlite)
[ -n "$PG_STARTED" ] && ENGINES=(sqlite postgres)
: >"$TMP/results"
say "bench-cluster: commits of K objects, one in flight per object, $KEYS puts x $VALUE_BYTES bytes per batch, ${SECONDS_PER_RUN} s per run, $RUNS run(s)"
say "  SQLite: WAL, synchronous=FULL, a fresh database file per run in $TMP"
if [ -n "$PG_STARTED" ]; then
  say "  PostgreSQL $PG_VERSION on this machine, unix socket, a fresh database per run: $PG_SETTINGS"
fi
failed=0
for k in $OBJECTS; do
  for run in $(seq 1 "$RUNS"); do
    order=("${ENGINES[@]}")
    if [ "${#ENGINES[@]}" -eq 2 ] && [ $((run % 2)) -eq 0 ]; then
      order=(postgres sqlite)
    fi
    for engine in "${order[@]}"; do
      run_one "$engine" "$k" "$run" || failed=1
    done
  done
done

# ------------------------------------------------------------------ the table
say ""
say "Medians of $RUNS run(s); PG/SQLite: PostgreSQL's figure over SQLite's (batches/s: above 1 is PostgreSQL ahead; latency: below 1 is)."
say ""
printf '| %-9s | %-10s | %10s | %8s | %8s | %8s | %8s |\n' objects engine batches/s "per tx" "p50 ms" "p99 ms" "max ms"
printf '| %-9s | %-10s | %10s | %8s | %8s | %8s | %8s |\n' --- --- --- --- --- --- ---
for k in $OBJECTS; do
  for engine in "${ENGINES[@]}"; do
    printf '| %-9s | %-10s | %10s | %8s | %8s | %8s | %8s |\n' "$k" "$engine" \
      "$(fmt %.0f "$(median "$engine" "$k" batches_per_s)")" \
      "$(fmt %.1f "$(median "$engine" "$k" batches_per_tx)")" \
      "$(fmt %.2f "$(median "$engine" "$k" p50_ms)")" \
      "$(fmt %.2f "$(median "$engine" "$k" p99_ms)")" \
      "$(fmt %.2f "$(median "$engine" "$k" max_ms)")"
  done
  if [ -n "$PG_STARTED" ]; then
    printf '| %-9s | %-10s | %10s | %8s | %8s | %8s | %8s |\n' "$k" "PG/SQLite" \
      "$(ratio "$(median postgres "$k" batches_per_s)" "$(median sqlite "$k" batches_per_s)")" "" \
      "$(ratio "$(median postgres "$k" p50_ms)" "$(median sqlite "$k" p50_ms)")" \
      "$(ratio "$(median postgres "$k" p99_ms)" "$(median sqlite "$k" p99_ms)")" \
      "$(ratio "$(median postgres "$k" max_ms)" "$(median sqlite "$k" max_ms)")"
  fi
done
say ""
say "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) cores; outputs in $LOGDIR/cluster-*.out"

# ------------------------------------------------------------------ failover
# bench/cluster_failover.mjs starts its own PostgreSQL and three duro
# nodes; stop ours first, it is not used any more.
if [ -n "$PG_STARTED" ]; then
  "$ROOT/tests/pg.sh" stop "$PG_DIR" || say "bench-cluster: could not stop PostgreSQL in $PG_DIR" >&2
  PG_STARTED=""
fi
say ""
if [ "$KILLS" -eq 0 ]; then
  say "failover: skipped (BENCH_KILLS=0)"
elif ! command -v node >/dev/null; then
  say "failover: skipped (node is not installed)"
elif [ ! -d "$ROOT/node_modules/ws" ]; then
  say "failover: skipped (node_modules is missing: npm ci)"
else
  # It ends by itself (every wait has a deadline); timeout is a last
  # resort, and leaves it time to stop its nodes and PostgreSQL.
  rc=0
  BENCH_KILLS=$KILLS timeout -k 60 $((120 + 60 * KILLS)) node "$ROOT/bench/cluster_failover.mjs" &
  BENCH_PID=$!
  wait "$BENCH_PID" || rc=$?
  BENCH_PID=""
  if [ "$rc" -ne 0 ]; then
    say "failover: FAIL (exit $rc)"
    failed=1
  fi
fi

# ------------------------------------------------------------------- fan-out
# bench/cluster_fanout.mjs: the same subscribers on one node, then spread
# over three; it starts its own PostgreSQL and nodes. BENCH_FANOUT_SECONDS
# (its window; BENCH_SECONDS here is the store's) and BENCH_SUBS,
# BENCH_RATE, BENCH_BODY_BYTES pass through.
say ""
if [ "${BENCH_FANOUT:-1}" = 0 ]; then
  say "fan-out: skipped (BENCH_FANOUT=0)"
elif ! command -v node >/dev/null; then
  say "fan-out: skipped (node is not installed)"
elif [ ! -d "$ROOT/node_modules/ws" ]; then
  say "fan-out: skipped (node_modules is missing: npm ci)"
else
  FANOUT_SECONDS=${BENCH_FANOUT_SECONDS:-10}
  case "$FANOUT_SECONDS" in '' | *[!0-9]*) die "BENCH_FANOUT_SECONDS must be a positive integer" ;; esac
  # Its subscribers are this process's sockets: the hard limit, as
  # bench/run.sh does (node raises its soft limit to it anyway).
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  rc=0
  BENCH_SECONDS=$FANOUT_SECONDS timeout -k 60 $((300 + 2 * FANOUT_SECONDS)) node "$ROOT/bench/cluster_fanout.mjs" &
  BENCH_PID=$!
  wait "$BENCH_PID" || rc=$?
  BENCH_PID=""
  if [ "$rc" -ne 0 ]; then
    say "fan-out: FAIL (exit $rc)"
    failed=1
  fi
fi
[ "$failed" -eq 0 ] || say "bench-cluster: some runs failed (above)"
exit "$failed"
