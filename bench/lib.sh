# bench/lib.sh: helpers shared by bench/run.sh and bench/compare_bun.sh,
# sourced, not run. Starting and stopping servers and loadgen, free ports,
# /proc readings, and one measured fan-out or idle run.
#
# The caller sets ROOT, LOGDIR, LOADGEN and TMP (a fresh temp directory)
# and, before start_server, either DURO (absolute path of the binary; the
# array DURO_ARGS, if set, is appended to its command line, e.g. --tls-cert)
# or SERVER_CMD (a command template: {port}, {data} and {root} are
# substituted). Only processes started here are stopped, by PID; every
# wait is bounded; nothing listens or connects outside 127.0.0.1.
# Results are handed back in globals (M_*, R) that the callers read.
# shellcheck shell=bash disable=SC2317,SC2034

CLK_TCK=$(getconf CLK_TCK)
SERVER_PID=""
LOADGEN_PID=""
CTL_FD=""
PORT=""
RUN_N=0
SERVER_CMD=""
DURO_ARGS=()

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
  if [[ -n ${TMP:-} ]]; then rm -rf "$TMP"; fi
}

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
# sys_busy_ticks: the whole machine's busy CPU ticks so far (/proc/stat:
# user, nice, system, irq, softirq, steal), to catch work that leaves the
# server's own account (a kernel path run in another context) rather than
# going away.
sys_busy_ticks() {
  local cpu u n s i w irq sirq st
  read -r cpu u n s i w irq sirq st _ </proc/stat
  say $((u + n + s + irq + sirq + st))
}

cpu_ticks() {
  local s f
  s=$(<"/proc/$1/stat")
  s=${s##*) }
  read -r -a f <<<"$s"
  say $((f[11] + f[12]))
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# "sends bytes" of the server: duro's own counters (SIGUSR2 makes it log
# them, io_uring sends included); for another server (SERVER_CMD set) the
# write(2)-family calls and bytes of /proc/PID/io, which count write and
# writev but not send/sendmsg. "- -" when neither is available.
# io_counts PID LOG
io_counts() {
  local pid=$1 log=$2 n0 n i line
  if [[ -z ${SERVER_CMD:-} ]]; then
    n0=$(grep -c 'net counters:' "$log" || true)
    kill -USR2 "$pid" 2>/dev/null || { say "- -"; return 0; }
    for ((i = 0; i < 200; i++)); do
      n=$(grep -c 'net counters:' "$log" || true)
      ((n > n0)) && break
      sleep 0.01
    done
    line=$(grep 'net counters:' "$log" | tail -n 1)
    if ((n > n0)) && [[ $line =~ writes=([0-9]+).*bytes_written=([0-9]+) ]]; then
      say "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"
    else
      say "- -"
    fi
    return 0
  fi
  awk '/^syscw:/ { c = $2 } /^wchar:/ { b = $2 }
       END { if (c == "") print "- -"; else print c, b }' "/proc/$pid/io" 2>/dev/null ||
    say "- -"
}

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
    if [[ -n $SERVER_CMD ]]; then
      cmd=${SERVER_CMD//\{port\}/$PORT}
      cmd=${cmd//\{data\}/$data}
      cmd=${cmd//\{root\}/$ROOT}
      (cd "$run" && exec bash -c "exec $cmd") </dev/null >>"$log" 2>&1 &
    else
      # DURO_BENCH_CONFIG: a duro.jsonc to run with (to compare settings)
      (cd "$run" && exec "$DURO" backend --mode test --port "$PORT" \
        --data "$data" ${DURO_BENCH_CONFIG:+--config "$DURO_BENCH_CONFIG"} \
        ${DURO_ARGS[@]+"${DURO_ARGS[@]}"}) </dev/null >>"$log" 2>&1 &
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

# The median of the numbers given ("-" if none are numbers).
median() {
  printf '%s\n' "$@" | { grep -E '^-?[0-9.]+$' || true; } | sort -g |
    awk '{ v[++n] = $1 } END { if (!n) print "-"; else if (n % 2) print v[(n + 1) / 2];
                               else print (v[n / 2] + v[n / 2 + 1]) / 2 }'
}

# Builds loadgen (libc, OpenSSL for --tls, zlib for --deflate).
build_loadgen() {
  say "bench: building loadgen"
  ${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror "$ROOT/bench/loadgen.c" \
    -o "$LOADGEN" -lm -lssl -lcrypto -lz
}

# Raises the descriptor limit; the server and loadgen inherit it.
raise_nofile() {
  if ! ulimit -n 200000 2>/dev/null; then
    say "bench: could not raise ulimit -n to 200000 (hard limit $(ulimit -Hn)); using the hard limit"
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  fi
  NOFILE=$(ulimit -n)
  if [[ $NOFILE != unlimited ]] && ((NOFILE < 10100)); then
    say "bench: warning: ulimit -n is $NOFILE; the 10,000-connection scenarios will fail"
  fi
}

# ------------------------------------------------------------ measured runs

# gave_up_connecting NAME OUT: loadgen did not get its sockets open; reaps
# it, shows its output, stops the server and sets M_RC and M_STATUS.
gave_up_connecting() {
  close_ctl
  wait "$LOADGEN_PID" || M_RC=$?
  LOADGEN_PID=""
  cat "$2"
  say "bench: $1: loadgen did not connect (exit $M_RC); server log: $LOGDIR/server-$1.log"
  M_STATUS=connect
  stop_server
}

# measure_fanout NAME LOADGEN-FANOUT-ARGS...
# measure_phase NAME MODE LOADGEN-ARGS...
# Starts a fresh server, runs `loadgen fanout --pause` (measure_phase:
# `loadgen MODE --pause`, e.g. handshakes) against it and reads
# the server's CPU ticks and write counters around the publishing phase
# only (between loadgen's CONNECTED and DONE). Prints loadgen's output,
# stops the server and sets:
#   M_STATUS  ok | connect (loadgen did not connect) | noresult
#   M_RC      loadgen's exit status
#   M_TSTART, M_T0, M_T1  CPU ticks at start, at CONNECTED, at DONE
#   M_IO0, M_IO1          io_counts at CONNECTED and at DONE
#   M_S0, M_S1            sys_busy_ticks at CONNECTED and at DONE
#   M_DIED    1 if the server died while publishing
#   R         the RESULT line (read_result)
measure_fanout() {
  local name=$1
  shift
  measure_phase "$name" fanout "$@"
}

measure_phase() {
  local name=$1 mode=$2
  shift 2
  local out=$LOGDIR/loadgen-$name.out fifo=$TMP/ctl.$name budget msgs rate conns
  msgs=$(sed -n 's/.*--msgs \([0-9]*\).*/\1/p' <<<"$*")
  rate=$(sed -n 's/.*--rate \([0-9.]*\).*/\1/p' <<<"$*")
  conns=$(sed -n 's/.*--conns \([0-9]*\).*/\1/p' <<<"$*")
  msgs=${msgs:-0}
  budget=$(calc "%d" "90 + $msgs / 100 + ${conns:-0} / 100 + (${rate:-0} > 0 ? $msgs / ${rate:-1} : 0)")
  M_RC=0 M_DIED=0 M_STATUS=ok M_IO0="- -" M_IO1="- -"
  R=()

  start_server "$name"
  rm -f "$fifo"
  mkfifo "$fifo"
  timeout -k 5 $((budget + 300)) "$LOADGEN" "$mode" --pause --port "$PORT" "$@" \
    <"$fifo" >"$out" &
  LOADGEN_PID=$!
  exec {CTL_FD}>"$fifo"
  M_TSTART=$(cpu_ticks "$SERVER_PID")
  if ! wait_for_line "$out" '^CONNECTED' "$LOADGEN_PID" 200; then
    gave_up_connecting "$name" "$out"
    return 0
  fi
  M_T0=$(cpu_ticks "$SERVER_PID")
  M_IO0=$(io_counts "$SERVER_PID" "$LOGDIR/server-$name.log")
  M_S0=$(sys_busy_ticks)
  say go >&"$CTL_FD"
  wait_for_line "$out" '^DONE' "$LOADGEN_PID" "$budget" || true
  M_S1=$(sys_busy_ticks)
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    M_T1=$(cpu_ticks "$SERVER_PID")
    M_IO1=$(io_counts "$SERVER_PID" "$LOGDIR/server-$name.log")
  else
    M_T1=$M_T0
    M_DIED=1
    say "bench: $name: the server died; see $LOGDIR/server-$name.log"
  fi
  close_ctl
  wait "$LOADGEN_PID" || M_RC=$?
  LOADGEN_PID=""
  grep -v -e '^CONNECTED$' -e '^DONE$' "$out"
  stop_server

  read_result "$out"
  if [[ -z ${R[deliveries]:-} && -z ${R[handshakes]:-} ]]; then
    say "bench: $name: no RESULT line (loadgen exit $M_RC)"
    M_STATUS=noresult
  fi
}

# measure_idle NAME CONNS [LOADGEN-ARGS...]
# Starts a fresh server, opens CONNS idle WebSockets with loadgen (with
# LOADGEN-ARGS, e.g. --tls) and reads
# the server's RSS before and once all are open. Prints loadgen's output,
# stops the server and sets M_STATUS (ok | connect), M_RC, M_RSS0, M_RSS1
# (KiB), M_PER (bytes per connection) and R.
measure_idle() {
  local name=$1 conns=$2
  shift 2
  local out=$LOGDIR/loadgen-$name.out fifo=$TMP/ctl.$name
  M_RC=0 M_STATUS=ok M_RSS0=- M_RSS1=- M_PER=-
  R=()

  start_server "$name"
  M_RSS0=$(rss_kb "$SERVER_PID")
  rm -f "$fifo"
  mkfifo "$fifo"
  timeout -k 5 600 "$LOADGEN" idle --port "$PORT" --conns "$conns" "$@" \
    <"$fifo" >"$out" &
  LOADGEN_PID=$!
  exec {CTL_FD}>"$fifo"
  if ! wait_for_line "$out" '^READY' "$LOADGEN_PID" 200; then
    gave_up_connecting "$name" "$out"
    return 0
  fi
  M_RSS1=$(rss_kb "$SERVER_PID")
  close_ctl
  wait "$LOADGEN_PID" || M_RC=$?
  LOADGEN_PID=""
  cat "$out"
  stop_server
  read_result "$out"
  M_PER=$(calc "%.0f" "($M_RSS1 - $M_RSS0) * 1024 / $conns")
}

# print_rows FORMAT ROW...: prints each ROW's |-separated fields with FORMAT.
print_rows() {
  local fmt=$1 row f
  shift
  for row in "$@"; do
    IFS='|' read -r -a f <<<"$row"
    # shellcheck disable=SC2059  # the format is the caller's
    printf "$fmt" "${f[@]}"
  done
}
