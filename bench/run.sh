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
CLK_TCK=$(getconf CLK_TCK)

SERVER_PID=""
LOADGEN_PID=""
CTL_FD=""
PORT=""
TMP=""
RUN_N=0
FAILED=0
MISSED=0

say() { printf '%s\n' "$*"; }
die() {
  say "bench: $*" >&2
  exit 2
}

# ------------------------------------------------------------ process control

stop_server() {
  local pid=$SERVER_PID i
  [[ -n $pid ]] || return 0
  SERVER_PID=""
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "bench: server $pid ignored SIGTERM for 5 s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

stop_loadgen() {
  local pid=$LOADGEN_PID
  [[ -n $pid ]] || return 0
  LOADGEN_PID=""
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

close_ctl() {
  if [[ -n $CTL_FD ]]; then
    exec {CTL_FD}>&-
    CTL_FD=""
  fi
}

cleanup() {
  close_ctl
  stop_loadgen
  stop_server
  if [[ -n $TMP ]]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# ------------------------------------------------------------------- helpers

# True if something accepts connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port that nothing listens on, outside the ephemeral range if possible.
pick_port() {
  local lo hi p i
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
  for ((i = 0; i < 50; i++)); do
    if ((lo > 11000)); then
      p=$((10000 + RANDOM % (lo - 10000)))
    else
      p=$((hi + 1 + RANDOM % (65535 - hi)))
    fi
    port_open "$p" || {
      say "$p"
      return 0
    }
  done
  return 1
}

# utime + stime of process $1, in clock ticks (/proc/PID/stat fields 14, 15;
# the comm field may contain spaces, so split after its closing paren).
cpu_ticks() {
  local s f
  s=$(<"/proc/$1/stat")
  s=${s##*) }
  read -r -a f <<<"$s"
  say $((f[11] + f[12]))
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# Starts the server on a free port (trying a few), waits until it accepts.
# Sets SERVER_PID and PORT; server output goes to $LOGDIR/server-$1.log.
start_server() {
  local name=$1 attempt i run data cmd log=$LOGDIR/server-$1.log
  : >"$log"
  for ((attempt = 1; attempt <= 5; attempt++)); do
    RUN_N=$((RUN_N + 1))
    PORT=$(pick_port) || die "no free port found"
    run=$TMP/run.$RUN_N
    data=$TMP/data.$RUN_N
    mkdir -p "$run" "$data"
    if [[ -n $BENCH_SERVER_CMD ]]; then
      cmd=${BENCH_SERVER_CMD//\{port\}/$PORT}
      cmd=${cmd//\{data\}/$data}
      cmd=${cmd//\{root\}/$ROOT}
      (cd "$run" && exec bash -c "exec $cmd") </dev/null >>"$log" 2>&1 &
    else
      (cd "$run" && exec "$DURO" backend --mode test --port "$PORT" \
        --data "$data") </dev/null >>"$log" 2>&1 &
    fi
    SERVER_PID=$!
    for ((i = 0; i < 300; i++)); do # up to ~15 s
      kill -0 "$SERVER_PID" 2>/dev/null || break
      if port_open "$PORT"; then
        kill -0 "$SERVER_PID" 2>/dev/null && return 0
        break
      fi
      sleep 0.05
    done
    say "bench: server did not come up on port $PORT (attempt $attempt)" >&2
    stop_server
  done
  say "bench: last lines of $log:" >&2
  tail -n 20 "$log" >&2 || true
  die "could not start the server for scenario $name"
}

# Waits until file $1 has a line matching $2, while process $3 lives, for at
# most $4 seconds.
wait_for_line() {
  local file=$1 re=$2 pid=$3 limit=$4 i
  for ((i = 0; i < limit * 20; i++)); do
    grep -q -- "$re" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || {
      grep -q -- "$re" "$file" 2>/dev/null
      return
    }
    sleep 0.05
  done
  return 1
}

# Reads "RESULT k=v ..." from file $1 into the associative array R.
declare -A R
read_result() {
  local line kv
  R=()
  line=$(grep -m1 '^RESULT ' "$1" || true)
  for kv in $line; do
    [[ $kv == *=* ]] && R[${kv%%=*}]=${kv#*=}
  done
}

calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# ----------------------------------------------------------------- scenarios

declare -a ROWS=()

# run_fanout NAME TARGET_KIND TARGET LOADGEN-ARGS...
#   TARGET_KIND cpu: deliveries per server CPU-second >= TARGET
#   TARGET_KIND p99: p99 latency (ms) < TARGET
run_fanout() {
  local name=$1 kind=$2 target=$3
  shift 3
  local out=$LOGDIR/loadgen-$name.out fifo=$TMP/ctl.$name rc=0
  local t_start t0 t1 srv_cpu conn_cpu dpcs verdict budget msgs rate
  msgs=$(sed -n 's/.*--msgs \([0-9]*\).*/\1/p' <<<"$*")
  rate=$(sed -n 's/.*--rate \([0-9.]*\).*/\1/p' <<<"$*")
  budget=$(calc "%d" "90 + $msgs / 100 + (${rate:-0} > 0 ? $msgs / ${rate:-1} : 0)")

  say ""
  say "=== $name: fanout $*"
  start_server "$name"
  mkfifo "$fifo"
  timeout -k 5 $((budget + 300)) "$LOADGEN" fanout --pause --port "$PORT" "$@" \
    <"$fifo" >"$out" &
  LOADGEN_PID=$!
  exec {CTL_FD}>"$fifo"
  t_start=$(cpu_ticks "$SERVER_PID")
  if ! wait_for_line "$out" '^CONNECTED' "$LOADGEN_PID" 200; then
    close_ctl
    wait "$LOADGEN_PID" || rc=$?
    LOADGEN_PID=""
    cat "$out"
    say "bench: $name: loadgen did not connect (exit $rc); server log: $LOGDIR/server-$name.log"
    FAILED=1
    ROWS+=("$name|connect failed|-|-|-|-|-|-|-|-|-|FAIL")
    stop_server
    return 0
  fi
  t0=$(cpu_ticks "$SERVER_PID")
  say go >&"$CTL_FD"
  wait_for_line "$out" '^DONE' "$LOADGEN_PID" "$budget" || true
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    t1=$(cpu_ticks "$SERVER_PID")
  else
    t1=$t0
    say "bench: $name: the server died; see $LOGDIR/server-$name.log"
    FAILED=1
  fi
  close_ctl
  wait "$LOADGEN_PID" || rc=$?
  LOADGEN_PID=""
  grep -v -e '^CONNECTED$' -e '^DONE$' "$out"
  stop_server

  read_result "$out"
  if [[ -z ${R[deliveries]:-} ]]; then
    say "bench: $name: no RESULT line (loadgen exit $rc)"
    FAILED=1
    ROWS+=("$name|no result|-|-|-|-|-|-|-|-|-|FAIL")
    return 0
  fi
  srv_cpu=$(calc "%.2f" "($t1 - $t0) / $CLK_TCK")
  conn_cpu=$(calc "%.3f" "($t0 - $t_start) / $CLK_TCK")
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
  local name=$1 conns=$2 target=$3
  local out=$LOGDIR/loadgen-$name.out fifo=$TMP/ctl.$name rc=0
  local rss0 rss1 per verdict

  say ""
  say "=== $name: idle --conns $conns"
  start_server "$name"
  rss0=$(rss_kb "$SERVER_PID")
  mkfifo "$fifo"
  timeout -k 5 600 "$LOADGEN" idle --port "$PORT" --conns "$conns" \
    <"$fifo" >"$out" &
  LOADGEN_PID=$!
  exec {CTL_FD}>"$fifo"
  if ! wait_for_line "$out" '^READY' "$LOADGEN_PID" 200; then
    close_ctl
    wait "$LOADGEN_PID" || rc=$?
    LOADGEN_PID=""
    cat "$out"
    say "bench: $name: loadgen did not connect (exit $rc)"
    FAILED=1
    IDLE_ROW="$name|$conns|-|-|-|FAIL"
    stop_server
    return 0
  fi
  rss1=$(rss_kb "$SERVER_PID")
  close_ctl
  wait "$LOADGEN_PID" || rc=$?
  LOADGEN_PID=""
  cat "$out"
  stop_server
  read_result "$out"

  per=$(calc "%.0f" "($rss1 - $rss0) * 1024 / $conns")
  say "  server rss     ${rss0} KiB before, ${rss1} KiB with $conns open -> ${per} bytes per connection"
  if [[ $rc != 0 || ${R[ok]:-0} != 1 ]]; then
    verdict=FAIL
    FAILED=1
  else
    verdict=$(calc "%s" "($per <= $target) ? \"pass\" : \"miss\"")
  fi
  [[ $verdict == miss ]] && MISSED=1
  IDLE_ROW="$name|$conns|$rss0|$rss1|$per|$verdict"
}

# ---------------------------------------------------------------------- main

mkdir -p "$LOGDIR"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/duro-bench.XXXXXX")

say "bench: building loadgen"
${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror bench/loadgen.c \
  -o "$LOADGEN" -lm

if [[ -z $BENCH_SERVER_CMD ]]; then
  DURO=$(cd "$(dirname "$DURO_BIN")" 2>/dev/null && pwd)/$(basename "$DURO_BIN") ||
    die "no server binary at $DURO_BIN (build it with make, or set DURO_BIN)"
  [[ -x $DURO ]] || die "no server binary at $DURO_BIN (build it with make, or set DURO_BIN)"
  SERVER_DESC="$DURO backend --mode test"
else
  SERVER_DESC=$BENCH_SERVER_CMD
fi

if ! ulimit -n 200000 2>/dev/null; then
  say "bench: could not raise ulimit -n to 200000 (hard limit $(ulimit -Hn)); using the hard limit"
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi
NOFILE=$(ulimit -n)
if [[ $NOFILE != unlimited ]] && ((NOFILE < 10100)); then
  say "bench: warning: ulimit -n is $NOFILE; the 10,000-connection scenarios will fail"
fi

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
  printf '%-3s %-16s %10s %8s %8s %8s %8s %8s %6s %8s %10s %-5s\n' \
    "" "subs x msgs" deliveries elapsed "M del/s" "p50 ms" "p99 ms" "max ms" errors "srv cpu" "M del/cpu" ""
  for row in "${ROWS[@]}"; do
    IFS='|' read -r -a f <<<"$row"
    printf '%-3s %-16s %10s %8s %8s %8s %8s %8s %6s %8s %10s %-5s\n' "${f[@]}"
  done
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
