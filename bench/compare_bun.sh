#!/usr/bin/env bash
# bench/compare_bun.sh: duro against Bun 1.4.5 on the same workloads, in
# one invocation. For each scenario and run it starts a fresh duro
# (`duro backend --mode test`, as bench/run.sh does) and a fresh Bun server
# (bench/bun/server.js: same routes, Bun.serve pub/sub), drives each with
# the same loadgen command and reads the server's CPU (publishing phase
# only) or RSS from /proc. Prints each run, then one table of medians with
# the duro/Bun ratio. See bench/README.md.
#
# Scenarios a-e are plain ws/http; t, h and i serve https/wss only, both
# servers with the same throwaway certificate (a self-signed EC P-256 leaf
# for IP 127.0.0.1, made with `openssl req` in the temp directory); z runs
# a ~2 KiB JSON message with permessage-deflate offered and, as "zp", the
# same without the offer (both servers have deflate enabled in both).
#
# Environment:
#   BENCH_RUNS        runs per scenario and server (default 3; median shown)
#   BENCH_SCENARIOS   subset of "a b c d e t z h i" (default all; z also
#                     runs zp, the same workload without deflate)
#   BENCH_SMOKE=1     tiny sizes, to check the harness (figures mean little)
#   DURO_BIN          duro binary (default build/release/duro)
#   BUN_BIN           a Bun binary to use instead of bench/bun/install.sh
#   DURO_BENCH_CONFIG a duro.jsonc for duro (e.g. another flush_gather_us)
#   CC                compiler for loadgen (default cc)
#
# If Bun cannot be installed it says so and exits 0. Exit 1 if a run of
# either server lost, reordered or duplicated a message or failed; 2 on a
# setup error. Only processes this script starts are stopped, by PID; every
# wait is bounded; everything runs on 127.0.0.1.
# shellcheck disable=SC2317  # cleanup functions are called from traps
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURO_BIN=${DURO_BIN:-build/release/duro}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_SCENARIOS=${BENCH_SCENARIOS:-a b c d e t z h i}
BENCH_SMOKE=${BENCH_SMOKE:-0}
LOADGEN=$ROOT/build/bench/loadgen
LOGDIR=$ROOT/build/bench
TMP=""
FAILED=0

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

[[ $BENCH_RUNS =~ ^[1-9][0-9]?$ ]] || die "BENCH_RUNS must be 1..99"

# Scenario sizes: the issue's, or tiny ones for BENCH_SMOKE=1. Loadgen's
# --tls, --deflate and --body-bytes are part of the arguments, so both
# servers get exactly the same client.
declare -A ARGS DESC
if [[ $BENCH_SMOKE == 1 ]]; then
  ARGS=([a]="--subs 200 --msgs 200 --pubs 8 --window 1"
    [b]="--subs 500 --msgs 50 --pubs 8 --window 1"
    [c]="--subs 200 --msgs 200 --window 64"
    [d]="--subs 100 --msgs 100 --rate 100"
    [e]=500
    [t]="--subs 200 --msgs 200 --pubs 8 --window 1 --tls"
    [z]="--subs 100 --msgs 100 --pubs 8 --window 1 --body-bytes 2048 --deflate"
    [zp]="--subs 100 --msgs 100 --pubs 8 --window 1 --body-bytes 2048"
    [h]="--conns 200 --concurrency 50 --tls"
    [i]=500)
else
  ARGS=([a]="--subs 1000 --msgs 2000 --pubs 8 --window 1"
    [b]="--subs 10000 --msgs 200 --pubs 8 --window 1"
    [c]="--subs 1000 --msgs 2000 --window 64"
    [d]="--subs 1000 --msgs 1000 --rate 100"
    [e]=10000
    [t]="--subs 1000 --msgs 2000 --pubs 8 --window 1 --tls"
    [z]="--subs 1000 --msgs 500 --pubs 8 --window 1 --body-bytes 2048 --deflate"
    [zp]="--subs 1000 --msgs 500 --pubs 8 --window 1 --body-bytes 2048"
    [h]="--conns 2000 --concurrency 50 --tls"
    [i]=10000)
fi
# z is measured with and without deflate: it brings zp along.
SCENARIOS=""
for s in $BENCH_SCENARIOS; do
  [[ -n ${ARGS[$s]:-} ]] || die "unknown scenario '$s' (use a b c d e t z h i)"
  if [[ $s == z ]]; then SCENARIOS+=" z zp"; else SCENARIOS+=" $s"; fi
done
size() { sed -n 's/.*--subs \([0-9]*\) --msgs \([0-9]*\).*/\1 x \2/p' <<<"${ARGS[$1]}"; }
hsize() { sed -n 's/.*--conns \([0-9]*\) --concurrency \([0-9]*\).*/\1 conns, \2 at a time/p' <<<"${ARGS[$1]}"; }
DESC=([a]="$(size a), 8 pubs x 1 in flight"
  [b]="$(size b), 8 pubs x 1 in flight"
  [c]="$(size c), 64 pipelined on 1 conn"
  [d]="$(size d | cut -d' ' -f1) subs at 100 msg/s"
  [e]="${ARGS[e]} idle WebSockets"
  [t]="wss: $(size t), 8 pubs x 1 in flight"
  [z]="$(size z), 8 x 1, 2 KiB JSON, deflate"
  [zp]="$(size zp), 8 x 1, 2 KiB JSON, no deflate"
  [h]="TLS handshakes: $(hsize h)"
  [i]="${ARGS[i]} idle wss WebSockets")

# The servers' options per scenario: the certificate for the TLS ones;
# deflate enabled for z and zp alike (duro's ws_deflate is on by default;
# Bun needs perMessageDeflate), so that only loadgen's offer differs.
is_tls() { [[ $1 == t || $1 == h || $1 == i ]]; }
bun_flags() {
  if is_tls "$1"; then
    printf ' --tls-cert %q --tls-key %q' "$TMP/cert.pem" "$TMP/key.pem"
  elif [[ $1 == z || $1 == zp ]]; then
    printf ' --deflate'
  fi
}

# --------------------------------------------------------------- one run

# Figures of the last run, by server: FIG (the scenario's figure; for d
# "p50 p99"), and for fan-outs the extras below: WPD, BPD (duro's writes
# and bytes per delivery), DPR (deliveries per recv), SYS (per machine
# CPU-s), WIRE (bytes loadgen's subscribers received per delivery), HSW
# (h: handshakes per wall-clock second). "-" when not measured.
declare -A FIG WPD BPD DPR SYS WIRE HSW

# run_one SCENARIO SERVER(duro|bun) RUN
run_one() {
  local s=$1 srv=$2 r=$3 name="cmp-$1-$2-$3" dt w0 b0 w1 b1
  if [[ $srv == bun ]]; then SERVER_CMD="$BUN_CMD$(bun_flags "$s")"; else SERVER_CMD=""; fi
  DURO_ARGS=()
  is_tls "$s" && DURO_ARGS=(--tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem")
  FIG[$srv]=- WPD[$srv]=- BPD[$srv]=- DPR[$srv]=- SYS[$srv]=- WIRE[$srv]=- HSW[$srv]=-
  say ""
  if [[ $s == e || $s == i ]]; then
    local tls=""
    [[ $s == i ]] && tls=--tls
    say "=== $s/$srv run $r: idle --conns ${ARGS[$s]} $tls"
    measure_idle "$name" "${ARGS[$s]}" $tls
    if [[ $M_STATUS != ok || $M_RC != 0 || ${R[ok]:-0} != 1 ]]; then
      say "bench: $name: FAIL"
      FAILED=1
      return 0
    fi
    FIG[$srv]=$M_PER
    say "  server rss     $M_RSS0 KiB before, $M_RSS1 KiB with ${ARGS[$s]} open -> $M_PER bytes per connection"
    return 0
  fi
  if [[ $s == h ]]; then
    say "=== $s/$srv run $r: handshakes ${ARGS[$s]}"
    # shellcheck disable=SC2086  # ARGS holds several words on purpose
    measure_phase "$name" handshakes ${ARGS[$s]}
  else
    say "=== $s/$srv run $r: fanout ${ARGS[$s]}"
    # shellcheck disable=SC2086  # ARGS holds several words on purpose
    measure_fanout "$name" ${ARGS[$s]}
  fi
  if [[ $M_STATUS != ok || $M_DIED == 1 || $M_RC != 0 || ${R[ok]:-0} != 1 ]]; then
    say "bench: $name: FAIL (see $LOGDIR/loadgen-$name.out, $LOGDIR/server-$name.log)"
    FAILED=1
    return 0
  fi
  dt=$((M_T1 - M_T0))
  if [[ $s == h ]]; then
    ((dt > 0)) && FIG[$srv]=$(calc "%.0f" "${R[handshakes]} * $CLK_TCK / $dt")
    HSW[$srv]=${R[handshakes_per_s]}
    say "  server cpu     $(calc "%.2f" "$dt / $CLK_TCK") s for ${R[handshakes]} handshakes (${R[tls_session]:-}); machine $(calc "%.2f" "($M_S1 - $M_S0) / $CLK_TCK") s"
    return 0
  fi
  if [[ $s == d ]]; then
    FIG[$srv]="${R[p50_ms]} ${R[p99_ms]}"
  elif ((dt > 0)); then
    FIG[$srv]=$(calc "%.0f" "${R[deliveries]} * $CLK_TCK / $dt")
  fi
  ((${R[deliveries]:-0} > 0)) && WIRE[$srv]=$(calc "%.1f" "${R[sub_bytes]:-0} / ${R[deliveries]}")
  if [[ $s == z ]]; then
    say "  deflate        ${R[inflated]} of ${R[deliveries]} deliveries compressed; ${R[deflate_socks]} sockets negotiated it; ${WIRE[$srv]} bytes received per delivery"
    # A server that did not compress is not measured on deflate.
    if ((${R[inflated]:-0} == 0)); then
      say "bench: $name: FAIL (no delivery came compressed)"
      FAILED=1
      FIG[$srv]=-
    fi
  fi
  say "  server cpu     $(calc "%.2f" "$dt / $CLK_TCK") s while publishing; machine $(calc "%.2f" "($M_S1 - $M_S0) / $CLK_TCK") s"
  ((M_S1 > M_S0)) && SYS[$srv]=$(calc "%.0f" "${R[deliveries]} * $CLK_TCK / ($M_S1 - $M_S0)")
  ((R[sub_recvs] > 0)) && DPR[$srv]=$(calc "%.2f" "${R[deliveries]} / ${R[sub_recvs]}")
  # Sends and bytes from duro's own counters (SIGUSR2; writev and io_uring
  # sends alike). Bun's sends are not counted: its del/recv shows them.
  read -r w0 b0 <<<"$M_IO0"
  read -r w1 b1 <<<"$M_IO1"
  if [[ $srv == duro && $w0 != - && $w1 != - ]] && ((w1 > w0)); then
    WPD[$srv]=$(calc "%.4f" "($w1 - $w0) / ${R[deliveries]}")
    BPD[$srv]=$(calc "%.1f" "($b1 - $b0) / ${R[deliveries]}")
    say "  server writes  $((w1 - w0)) sends (writev or io_uring), $((b1 - b0)) bytes"
  fi
}

# ------------------------------------------------------------------ main

mkdir -p "$LOGDIR"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/duro-cmp.XXXXXX")

DURO=$(cd "$(dirname "$DURO_BIN")" 2>/dev/null && pwd)/$(basename "$DURO_BIN") ||
  die "no server binary at $DURO_BIN (build it with make, or set DURO_BIN)"
[[ -x $DURO ]] || die "no server binary at $DURO_BIN (build it with make, or set DURO_BIN)"

if [[ -n ${BUN_BIN:-} ]]; then
  BUN=$BUN_BIN
elif ! BUN=$(bench/bun/install.sh); then
  say "bench: Bun comparison skipped: bench/bun/install.sh could not install Bun 1.4.5"
  exit 0
fi
BUN_VERSION=$("$BUN" --version 2>/dev/null) || {
  say "bench: Bun comparison skipped: $BUN does not run"
  exit 0
}
BUN_CMD="$(printf '%q' "$BUN") $(printf '%q' "$ROOT/bench/bun/server.js") --port {port}"

build_loadgen
raise_nofile
HEAD=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
say "bench: duro vs Bun: $(date -u '+%Y-%m-%d %H:%M:%S UTC')  commit $HEAD  nproc $(nproc)  ulimit -n $NOFILE  runs $BENCH_RUNS"
say "bench: duro: $DURO backend --mode test"
say "bench: bun:  $BUN ($BUN_VERSION) bench/bun/server.js"
((BENCH_SMOKE == 1)) && say "bench: BENCH_SMOKE=1: tiny sizes, the figures mean little"

# The TLS scenarios' certificate: a throwaway self-signed EC P-256 leaf
# for 127.0.0.1, in the temp directory (removed on exit).
if [[ " $SCENARIOS " == *" t "* || " $SCENARIOS " == *" h "* || " $SCENARIOS " == *" i "* ]]; then
  command -v openssl >/dev/null || die "the TLS scenarios (t h i) need the openssl command"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" >"$TMP/openssl.log" 2>&1 ||
    die "openssl req could not make the test certificate: $(tail -n 3 "$TMP/openssl.log")"
  say "bench: TLS scenarios: both servers use $TMP/cert.pem (self-signed EC P-256, IP 127.0.0.1)"
fi

# A / B to 2 decimals, or "-" when either is missing or B is 0.
ratio() {
  # (awk would read an unbracketed "printf x > y" as a redirection)
  if [[ $1 == - || $2 == - ]]; then say -; else calc "%s" "($2 > 0 ? sprintf(\"%.2f\", $1 / $2) : \"-\")"; fi
}
mega() { if [[ $1 == - ]]; then say -; else calc "%.2f M" "$1 / 1e6"; fi; }

# A run's figure with its unit.
show() {
  case $1 in
  a | b | c | t | z | zp) say "$(mega "$2") deliveries per server CPU-s" ;;
  d) say "p50/p99 ${2/ //} ms" ;;
  e | i) say "$2 bytes per idle socket" ;;
  h) say "$2 handshakes per server CPU-s" ;;
  esac
}
# Server CPU per unit from a per-CPU-second figure: "$1" per s -> ns or us.
per_unit() {
  if [[ $1 == - || $1 == 0 ]]; then say -; else calc "%.${3:-0}f $2" "${4:-1e9} / $1"; fi
}

declare -a ROWS=() EXTRA=()
declare -A ALL
for s in $SCENARIOS; do
  ALL=()
  for ((r = 1; r <= BENCH_RUNS; r++)); do
    # Alternate who goes first, so a drift of the machine hits both alike.
    if ((r % 2)); then order="duro bun"; else order="bun duro"; fi
    for srv in $order; do
      run_one "$s" "$srv" "$r"
      ALL[$srv]+=" ${FIG[$srv]%% *}"
      ALL[${srv}_p99]+=" ${FIG[$srv]##* }"
      ALL[${srv}_dpr]+=" ${DPR[$srv]}"
      ALL[${srv}_sys]+=" ${SYS[$srv]}"
      ALL[${srv}_wire]+=" ${WIRE[$srv]}"
      ALL[${srv}_hsw]+=" ${HSW[$srv]}"
    done
    ALL[duro_wpd]+=" ${WPD[duro]}"
    ALL[duro_bpd]+=" ${BPD[duro]}"
    say "--- $s run $r: duro $(show "$s" "${FIG[duro]}"), Bun $(show "$s" "${FIG[bun]}")"
  done
  # The lists are space-separated words on purpose.
  # shellcheck disable=SC2086
  md=$(median ${ALL[duro]}) mb=$(median ${ALL[bun]})
  say "--- $s: all runs duro:${ALL[duro]}  Bun:${ALL[bun]}  medians $md / $mb"
  [[ $s == d ]] && say "--- d p99: all runs duro:${ALL[duro_p99]}  Bun:${ALL[bun_p99]}"
  # shellcheck disable=SC2086
  mwd=$(median ${ALL[duro_wire]}) mwb=$(median ${ALL[bun_wire]})
  case $s in
  a | b | c | t | z | zp)
    ROWS+=("$s|${DESC[$s]}|$(mega "$md")|$(mega "$mb")|$(ratio "$md" "$mb")|deliveries per server CPU-s")
    # shellcheck disable=SC2086
    ms=$(median ${ALL[duro_sys]}) mbs=$(median ${ALL[bun_sys]})
    ROWS+=("$s|  the same, whole machine|$(mega "$ms")|$(mega "$mbs")|$(ratio "$ms" "$mbs")|deliveries per machine CPU-s (server, loadgen, kernel)")
    if [[ $s == t || $s == z || $s == zp ]]; then
      ROWS+=("$s|  the same: server CPU per delivery|$(per_unit "$md" ns)|$(per_unit "$mb" ns)|$(ratio "$md" "$mb")|Bun/duro: > 1 is duro ahead (1e9 / the median above)")
      ROWS+=("$s|  the same: bytes received per delivery|$mwd B|$mwb B|$(ratio "$mwd" "$mwb")|server->subscriber (recv() total / deliveries); lower is better")
    fi
    # shellcheck disable=SC2086
    wpd=$(median ${ALL[duro_wpd]})
    # shellcheck disable=SC2086
    EXTRA+=("$s|$wpd|$(ratio 1 "$wpd")|$(median ${ALL[duro_bpd]})|$(median ${ALL[duro_dpr]})|$(median ${ALL[bun_dpr]})")
    ;;
  d)
    # shellcheck disable=SC2086
    md99=$(median ${ALL[duro_p99]}) mb99=$(median ${ALL[bun_p99]})
    ROWS+=("d|${DESC[d]}: p50|$md ms|$mb ms|$(ratio "$md" "$mb")|p50 publish-to-receive, lower is better")
    ROWS+=("d|${DESC[d]}: p99|$md99 ms|$mb99 ms|$(ratio "$md99" "$mb99")|p99 publish-to-receive, lower is better")
    ;;
  e | i)
    ROWS+=("$s|${DESC[$s]}|$md B|$mb B|$(ratio "$md" "$mb")|server RSS per idle socket, lower is better")
    ;;
  h)
    # shellcheck disable=SC2086
    mhd=$(median ${ALL[duro_hsw]}) mhb=$(median ${ALL[bun_hsw]})
    ROWS+=("h|${DESC[h]}|$md|$mb|$(ratio "$md" "$mb")|handshakes (+ GET /, Connection: close) per server CPU-s")
    ROWS+=("h|  the same: server CPU per handshake|$(per_unit "$md" us 0 1e6)|$(per_unit "$mb" us 0 1e6)|$(ratio "$md" "$mb")|Bun/duro: > 1 is duro ahead (1e6 / the median above)")
    ROWS+=("h|  the same: handshakes per second|$mhd|$mhb|$(ratio "$mhd" "$mhb")|wall clock; loadgen's TLS client shares the 2 cores")
    ;;
  esac
done

say ""
say "=== duro vs Bun $BUN_VERSION: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), commit $HEAD, nproc $(nproc), median of $BENCH_RUNS run(s) each"
FMT='%-2s %-42s %12s %12s %9s  %s\n'
# shellcheck disable=SC2059
printf "$FMT" "" scenario duro Bun duro/Bun figure
print_rows "$FMT" "${ROWS[@]}"
say "   a-c, t, z, zp, h: higher is better (ratio > 1: duro ahead); d, e, i: lower is better"
say "   (ratio < 1: duro ahead); the CPU-per-unit rows give Bun/duro, so > 1 is duro ahead too"
say "   t, h, i: https/wss with the same certificate; z/zp: the same 2 KiB JSON body, with and"
say "   without permessage-deflate offered (both servers have it enabled in both)"
say "   server CPU = utime + stime of all its threads while publishing (/proc/PID/stat)"
say "   machine CPU = busy ticks of the whole machine (/proc/stat) in the same phase: loadgen"
say "   and kernel threads included, so work moved out of the server's account still counts"
if ((${#EXTRA[@]} > 0)); then
  say ""
  FMT='%-2s %16s %16s %18s %18s %18s\n'
  # shellcheck disable=SC2059
  printf "$FMT" "" "duro writes/del" "duro frames/wr" "duro bytes/del" "duro del/recv" "Bun del/recv"
  print_rows "$FMT" "${EXTRA[@]}"
  say "   writes, bytes: the server's sends (writev or io_uring) and bytes per delivery, from"
  say "   its own counters (kill -USR2; the publisher's HTTP answers included); Bun's are not"
  say "   counted. del/recv: deliveries per recv() on loadgen's subscribers, both servers."
fi

if ((FAILED)); then
  say "bench: duro vs Bun: FAILED (errors above)"
  exit 1
fi
exit 0
