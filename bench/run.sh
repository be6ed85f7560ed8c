#!/usr/bin/env bash
# bench/run.sh: duro's benchmark. Builds bench/loadgen.c, then for each
# scenario starts a fresh server on a free 127.0.0.1 port from an empty temp
# directory (so no duro.jsonc is found and built-in defaults apply), drives it
# with loadgen and reads the server's CPU time and RSS from /proc. Ends with a
# summary table. See bench/README.md.
#
# Environment:
#   DURO_BIN          server binary (default build/release/duro)
#   BENCH_SERVER_CMD  replaces the whole server command, e.g. for the stand-in:
#                     'node {root}/bench/mini_server.js --port {port}'
#                     ({port}, {data} and {root} are substituted)
#   BENCH_SCENARIOS   subset to run, default "a b c d"
#   BENCH_STRICT=1    exit 1 when a target is missed, not only on errors
#   CC                compiler for loadgen (default cc)
#
# Only processes this script starts are stopped, by PID. Every wait is
# bounded; nothing listens or connects outside 127.0.0.1.
# shellcheck disable=SC2317  # cleanup functions are called from traps
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURO_BIN=${DURO_BIN:-build/release/duro}
BENCH_SERVER_CMD=${BENCH_SERVER_CMD:-}
BENCH_SCENARIOS=${BENCH_SCENARIOS:-a b c d}
BENCH_STRICT=${BENCH_STRICT:-0}
LOADGEN=$ROOT/build/bench/loadgen
LOGDIR=$ROOT/build/bench
TMP=""
FAILED=0
MISSED=0

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
SERVER_CMD=$BENCH_SERVER_CMD
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ----------------------------------------------------------------- scenarios

declare -a ROWS=()

# run_fanout NAME TARGET_KIND TARGET LOADGEN-ARGS...
#   TARGET_KIND cpu: deliveries per server CPU-second >= TARGET
#   TARGET_KIND p99: p99 latency (ms) < TARGET
run_fanout() {
  local name=$1 kind=$2 target=$3
  shift 3
  local srv_cpu conn_cpu dpcs verdict rate
  rate=$(sed -n 's/.*--rate \([0-9.]*\).*/\1/p' <<<"$*")

  say ""
  say "=== $name: fanout $*"
  measure_fanout "$name" "$@"
  ((M_DIED)) && FAILED=1
  if [[ $M_STATUS == connect ]]; then
    FAILED=1
    ROWS+=("$name|connect failed|-|-|-|-|-|-|-|-|-|FAIL")
    return 0
  fi
  if [[ $M_STATUS == noresult ]]; then
    FAILED=1
    ROWS+=("$name|no result|-|-|-|-|-|-|-|-|-|FAIL")
    return 0
  fi
  local t0=$M_T0 t1=$M_T1 rc=$M_RC
  srv_cpu=$(calc "%.2f" "($t1 - $t0) / $CLK_TCK")
  conn_cpu=$(calc "%.3f" "($t0 - $M_TSTART) / $CLK_TCK")
  dpcs=$(calc "%.0f" "($t1 > $t0) ? ${R[deliveries]} * $CLK_TCK / ($t1 - $t0) : 0")
  say "  server cpu     ${srv_cpu} s while publishing (${conn_cpu} s while connecting)"
  say "  per server cpu $(calc "%.2f" "$dpcs / 1e6") M deliveries per CPU-second"

  if [[ ${R[ok]} != 1 || $rc != 0 ]]; then
    verdict=FAIL
    FAILED=1
  elif [[ $kind == cpu ]]; then
    verdict=$(calc "%s" "($dpcs >= $target) ? \"pass\" : \"miss\"")
  else
    verdict=$(calc "%s" "(${R[p99_ms]} < $target) ? \"pass\" : \"miss\"")
  fi
  [[ $verdict == miss ]] && MISSED=1
  ROWS+=("$name|${R[subs]}x${R[msgs]}${rate:+ @${rate}/s}|${R[deliveries]}|${R[elapsed_s]}|$(calc "%.2f" "${R[deliveries_per_s]} / 1e6")|${R[p50_ms]}|${R[p99_ms]}|${R[max_ms]}|$((R[lost] + R[out_of_order] + R[dup]))|${srv_cpu}|$(calc "%.2f" "$dpcs / 1e6")|$verdict")
}

IDLE_ROW=""
run_idle() {
  local name=$1 conns=$2 target=$3 verdict

  say ""
  say "=== $name: idle --conns $conns"
  measure_idle "$name" "$conns"
  if [[ $M_STATUS == connect ]]; then
    FAILED=1
    IDLE_ROW="$name|$conns|-|-|-|FAIL"
    return 0
  fi
  say "  server rss     ${M_RSS0} KiB before, ${M_RSS1} KiB with $conns open -> ${M_PER} bytes per connection"
  if [[ $M_RC != 0 || ${R[ok]:-0} != 1 ]]; then
    verdict=FAIL
    FAILED=1
  else
    verdict=$(calc "%s" "($M_PER <= $target) ? \"pass\" : \"miss\"")
  fi
  [[ $verdict == miss ]] && MISSED=1
  IDLE_ROW="$name|$conns|$M_RSS0|$M_RSS1|$M_PER|$verdict"
}

# ---------------------------------------------------------------------- main

mkdir -p "$LOGDIR"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/duro-bench.XXXXXX")

build_loadgen

if [[ -z $BENCH_SERVER_CMD ]]; then
  DURO=$(cd "$(dirname "$DURO_BIN")" 2>/dev/null && pwd)/$(basename "$DURO_BIN") ||
    die "no server binary at $DURO_BIN (build it with make, or set DURO_BIN)"
  [[ -x $DURO ]] || die "no server binary at $DURO_BIN (build it with make, or set DURO_BIN)"
  SERVER_DESC="$DURO backend --mode test"
else
  SERVER_DESC=$BENCH_SERVER_CMD
fi

raise_nofile

say "bench: $(date -u '+%Y-%m-%d %H:%M:%S UTC')  commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)  nproc $(nproc)  ulimit -n $NOFILE"
say "bench: server: $SERVER_DESC"
say "bench: logs in $LOGDIR"

for s in $BENCH_SCENARIOS; do
  case $s in
  a) run_fanout a cpu 2000000 --subs 1000 --msgs 2000 ;;
  b) run_fanout b cpu 1500000 --subs 10000 --msgs 200 ;;
  c) run_fanout c p99 5 --subs 1000 --msgs 1000 --rate 100 ;;
  d) run_idle d 10000 1024 ;;
  *) die "unknown scenario '$s' (use a b c d)" ;;
  esac
done

say ""
say "=== summary: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), nproc $(nproc)"
say "    server: $SERVER_DESC"
if ((${#ROWS[@]} > 0)); then
  FMT='%-3s %-16s %10s %8s %8s %8s %8s %8s %6s %8s %10s %-5s\n'
  # shellcheck disable=SC2059
  printf "$FMT" "" "subs x msgs" deliveries elapsed "M del/s" "p50 ms" "p99 ms" "max ms" errors "srv cpu" "M del/cpu" ""
  print_rows "$FMT" "${ROWS[@]}"
  say "    errors = lost + out-of-order + duplicates; srv cpu = server CPU seconds while publishing"
  say "    targets: a >= 2.0 M del/cpu, b >= 1.5 M del/cpu, c p99 < 5 ms"
fi
if [[ -n $IDLE_ROW ]]; then
  IFS='|' read -r -a f <<<"$IDLE_ROW"
  printf '%-3s idle %s conns: server RSS %s KiB -> %s KiB, %s bytes per connection (target <= 1024) %s\n' "${f[@]}"
fi

if ((FAILED)); then
  say "bench: FAILED (errors above)"
  exit 1
fi
if ((MISSED)) && [[ $BENCH_STRICT == 1 ]]; then
  say "bench: targets missed"
  exit 1
fi
exit 0
