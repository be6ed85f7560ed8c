#!/usr/bin/env bash
# tests/pg.sh: a throwaway PostgreSQL cluster for the tests.
#
#   tests/pg.sh start DIR   creates a fresh cluster in DIR (which must not
#                           exist or be empty), starts it and prints ONE
#                           line to stdout: its libpq conninfo,
#                           "host=DIR port=P user=postgres dbname=postgres".
#   tests/pg.sh stop DIR    stops the cluster started in DIR and removes
#                           DIR. It touches nothing but that one cluster.
#   tests/pg.sh pause DIR [immediate|fast]
#                           stops the server and keeps DIR, for tests of
#                           an outage: immediate (the default) as in a
#                           crash, its sessions killed without a word;
#                           fast, each session told "terminating
#                           connection due to administrator command".
#   tests/pg.sh resume DIR  starts a paused server again, on the same port
#                           (so the same conninfo reaches it); it runs
#                           crash recovery first. Fails if that port has
#                           been taken meanwhile.
#
# The cluster: initdb -A trust -U postgres (owned by the user postgres when
# run as root, since PostgreSQL refuses to run as root; else by the current
# user), fsync on, the socket in DIR, listening on 127.0.0.1 only, on a free
# high port (another one is tried if it turns out to be taken), logging to
# DIR/log. pg_hba: local socket connections are trusted, TCP connections to
# 127.0.0.1 need a scram-sha-256 password (so a test can see a refusal).
# Layout: DIR/data (the cluster), DIR/log, DIR/.s.PGSQL.P (the socket),
# DIR/port (P), DIR/.duro-pg (a marker: stop, pause and resume only touch
# a DIR that has it).
#
# PG_BIN overrides where initdb and pg_ctl are looked up.
set -euo pipefail

die() {
  echo "pg.sh: $*" >&2
  exit 1
}

usage() { die "usage: tests/pg.sh start|stop|resume DIR, or tests/pg.sh pause DIR [immediate|fast]"; }

[ $# -eq 2 ] || { [ $# -eq 3 ] && [ "$1" = pause ]; } || usage
cmd=$1
dir=$2
stop_mode=${3:-immediate}
case "$stop_mode" in immediate | fast) ;; *) usage ;; esac
[ -n "$dir" ] || usage
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
dir=${dir%/}
# The directory goes into postgresql.conf and into a conninfo unquoted:
# keep it to characters that need no quoting in either.
case "$dir" in
  *[!A-Za-z0-9._/-]*) die "DIR may only contain A-Z a-z 0-9 . _ / - (got '$dir')" ;;
esac

# The PostgreSQL server programs: PG_BIN, then PATH, then pg_config's
# bindir, then the newest /usr/lib/postgresql/*/bin (Debian keeps them
# off PATH), preferring 15.
find_bin() {
  local c
  if [ -n "${PG_BIN:-}" ]; then
    [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && { echo "$PG_BIN"; return 0; }
    echo "pg.sh: PG_BIN=$PG_BIN has no initdb and pg_ctl" >&2
    return 1
  fi
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return 0
  fi
  if command -v pg_config >/dev/null 2>&1; then
    c=$(pg_config --bindir 2>/dev/null || true)
    [ -n "$c" ] && [ -x "$c/initdb" ] && [ -x "$c/pg_ctl" ] && { echo "$c"; return 0; }
  fi
  for c in /usr/lib/postgresql/15/bin $(printf "%s\n" /usr/lib/postgresql/*/bin | sort -t/ -k4 -rn); do
    [ -x "$c/initdb" ] && [ -x "$c/pg_ctl" ] && { echo "$c"; return 0; }
  done
  return 1
}

bin=$(find_bin) || die "PostgreSQL's initdb and pg_ctl not found (looked in \$PG_BIN, on PATH, pg_config --bindir, /usr/lib/postgresql/*/bin); \`scripts/deps.sh test\` installs postgresql-15"

# Runs a command as the cluster's owner, from / (the caller's directory
# may not be readable by postgres).
if [ "$(id -u)" -eq 0 ]; then
  owner=postgres
  id -u postgres >/dev/null 2>&1 || die "running as root but there is no user 'postgres' to own the cluster (PostgreSQL refuses to run as root); \`scripts/deps.sh test\` installs postgresql-15, which creates it"
  command -v runuser >/dev/null 2>&1 || die "running as root but runuser(1) is missing"
  as_owner() { (cd / && runuser -u postgres -- "$@"); }
else
  owner=$(id -un)
  as_owner() { (cd / && "$@"); }
fi

# A high port nobody listens on now (ss when present; the start retries
# anyway if the bind fails).
port_in_use() {
  command -v ss >/dev/null 2>&1 || return 1
  ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}
pick_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  die "no free port found"
}

start() {
  if [ -e "$dir" ]; then
    [ -d "$dir" ] || die "$dir exists and is not a directory"
    [ -e "$dir/.duro-pg" ] && die "$dir already holds a cluster; run tests/pg.sh stop $dir first"
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
  else
    mkdir -p "$dir"
  fi
  # The socket path must fit in sun_path (108 bytes with the NUL).
  [ $((${#dir} + 17)) -lt 108 ] || die "DIR is too long for a unix socket path: $dir"
  : >"$dir/.duro-pg"
  chmod 0700 "$dir"
  [ "$owner" = "$(id -un)" ] || chown "$owner" "$dir"
  if ! as_owner test -w "$dir"; then
    die "user $owner cannot write to $dir (is a parent directory closed to it?)"
  fi

  if ! as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
      --no-locale >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    die "initdb failed in $dir/data (output above)"
  fi
  cat >>"$dir/data/postgresql.conf" <<EOF

# tests/pg.sh
fsync = on
synchronous_commit = on
unix_socket_directories = '$dir'
listen_addresses = '127.0.0.1'
password_encryption = 'scram-sha-256'
logging_collector = off
log_min_messages = warning
EOF
  cat >"$dir/data/pg_hba.conf" <<EOF
# tests/pg.sh: the socket is trusted, TCP needs a password.
local all all                trust
host  all all 127.0.0.1/32   scram-sha-256
EOF
  [ "$owner" = "$(id -un)" ] || chown "$owner" "$dir/data/pg_hba.conf"

  local port
  for _ in 1 2 3 4 5 6 7 8; do
    port=$(pick_port)
    : >"$dir/log"
    [ "$owner" = "$(id -un)" ] || chown "$owner" "$dir/log"
    if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -o "-p $port" \
        -w -t 30 start >>"$dir/initdb.log" 2>&1; then
      echo "$port" >"$dir/port"
      echo "host=$dir port=$port user=postgres dbname=postgres"
      return 0
    fi
    if grep -q -E "could not (bind|create listen)|Address already in use" "$dir/log"; then
      # Someone took the port between the check and the bind.
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -t 10 stop >/dev/null 2>&1 || true
      continue
    fi
    break
  done
  echo "--- $dir/log:" >&2
  tail -n 20 "$dir/log" >&2 || true
  # Do not leave a half-started server behind.
  as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -t 10 stop >/dev/null 2>&1 || true
  die "pg_ctl start failed in $dir/data (log above)"
}

# A DIR that tests/pg.sh start made, or die.
ours() {
  [ -d "$dir" ] || die "$dir does not exist"
  [ -e "$dir/.duro-pg" ] || die "$dir was not made by tests/pg.sh start (no .duro-pg marker); not touching it"
}

stop() {
  ours
  local rc=0
  if [ -f "$dir/data/postmaster.pid" ]; then
    if ! as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -t 30 stop >/dev/null 2>&1; then
      echo "pg.sh: fast stop of $dir/data failed; trying immediate" >&2
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -t 10 stop >/dev/null 2>&1 || rc=1
    fi
    # A server that had died already (a stale postmaster.pid) is stopped.
    if [ "$rc" -ne 0 ]; then
      local st=0
      as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 || st=$?
      [ "$st" -eq 3 ] && rc=0
    fi
  fi
  if [ "$rc" -ne 0 ]; then
    tail -n 20 "$dir/log" >&2 || true
    die "could not stop the cluster in $dir/data; left it in place"
  fi
  rm -rf -- "$dir"
}

pause() {
  ours
  [ -f "$dir/data/postmaster.pid" ] || die "the server in $dir/data is not running"
  if ! as_owner "$bin/pg_ctl" -D "$dir/data" -m "$stop_mode" -t 10 stop >/dev/null 2>&1; then
    tail -n 20 "$dir/log" >&2 || true
    die "could not stop the server in $dir/data ($stop_mode)"
  fi
}

resume() {
  ours
  [ -s "$dir/port" ] || die "$dir/port is missing (a cluster from an older tests/pg.sh?)"
  local port
  port=$(cat "$dir/port")
  if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -o "-p $port" \
      -w -t 30 start >>"$dir/initdb.log" 2>&1; then
    return 0
  fi
  echo "--- $dir/log:" >&2
  tail -n 20 "$dir/log" >&2 || true
  as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -t 10 stop >/dev/null 2>&1 || true
  die "pg_ctl start failed in $dir/data on port $port (log above)"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  pause) pause ;;
  resume) resume ;;
  *) usage ;;
esac
