#!/usr/bin/env bash
# bench/instr.sh: the server's instructions per delivery, counted by
# valgrind's callgrind: repeatable on a shared machine where timings are
# not (the same binary and workload give the same count), and available
# where perf has no hardware counters. Only the publishing phase is
# counted: loadgen connects every subscriber first (--pause), collection
# is switched on, the broadcasts run, collection is switched off.
#
#   bench/instr.sh [SUBS [MSGS [WINDOW]]]     default 1000 200 8
#   DURO_BIN=... bench/instr.sh               another binary
#
# Prints one line: subs, msgs, window, deliveries, instructions and
# instructions per delivery. Stops only the processes it started.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SUBS=${1:-1000} MSGS=${2:-200} WINDOW=${3:-8}
DURO_BIN=${DURO_BIN:-build/release/duro}
LOADGEN=$ROOT/build/bench/loadgen
mkdir -p build/bench
[ -x "$LOADGEN" ] && [ "$LOADGEN" -nt bench/loadgen.c ] ||
  ${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror bench/loadgen.c \
    -o "$LOADGEN" -lm -lssl -lcrypto -lz
TMP=$(mktemp -d)
SRV="" LG=""
cleanup() {
  [ -n "$LG" ] && kill "$LG" 2>/dev/null
  [ -n "$SRV" ] && kill "$SRV" 2>/dev/null
  [ -n "$SRV" ] && wait "$SRV" 2>/dev/null
  [ -n "${KEEP:-}" ] && echo "kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT
(cd "$TMP" && exec valgrind --tool=callgrind --instr-atstart=no \
  --callgrind-out-file="$TMP/cg.out" "$ROOT/$DURO_BIN" backend --mode test \
  --port 0 --data "$TMP/data" > "$TMP/server.log" 2>&1) &
SRV=$!
for _ in $(seq 600); do
  PORT=$(sed -n 's/.*backend on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$TMP/server.log")
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { cat "$TMP/server.log"; echo "instr: duro did not start" >&2; exit 2; }
mkfifo "$TMP/ctl"
"$LOADGEN" fanout --pause --quiet --port "$PORT" --subs "$SUBS" --msgs "$MSGS" \
  --window "$WINDOW" --timeout 600 < "$TMP/ctl" > "$TMP/lg.out" &
LG=$!
exec 3>"$TMP/ctl"
for _ in $(seq 1200); do grep -q '^CONNECTED' "$TMP/lg.out" && break; sleep 0.1; done
grep -q '^CONNECTED' "$TMP/lg.out" || { echo "instr: loadgen did not connect" >&2; exit 2; }
callgrind_control -i on "$SRV" > /dev/null
echo go >&3
for _ in $(seq 6000); do grep -q '^DONE' "$TMP/lg.out" && break; sleep 0.1; done
callgrind_control -i off "$SRV" > /dev/null
exec 3>&-
wait "$LG" || true
LG=""
kill "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=""
DELIV=$(sed -n 's/.*deliveries=\([0-9]*\).*/\1/p' "$TMP/lg.out" | head -1)
IR=$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$TMP"/cg.out* | awk '{s+=$1} END {print s}')
[ -n "$DELIV" ] && [ "$DELIV" -gt 0 ] || { cat "$TMP/lg.out"; echo "instr: no deliveries" >&2; exit 2; }
awk -v s="$SUBS" -v m="$MSGS" -v w="$WINDOW" -v d="$DELIV" -v ir="$IR" 'BEGIN {
  printf "instr: %d subscribers x %d messages, window %d: %d deliveries, %d instructions, %.0f per delivery\n", s, m, w, d, ir, ir / d }'
