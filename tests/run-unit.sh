#!/usr/bin/env bash
# Runs each cmocka unit-test binary in its own process with a timeout and
# prints one closing summary line over all of them.
#
# The storage tests also run against PostgreSQL: one throwaway cluster
# (tests/pg.sh, in a fresh directory under /tmp) serves every binary
# through DURO_TEST_POSTGRES, and is stopped and removed at the end,
# whatever happens. If it cannot be started, that counts as a failure
# (and the PostgreSQL tests fail on their own, never skip).
set -u
here=$(cd "$(dirname "$0")" && pwd)
total_fail=0
total_pass=0

pg_dir=
stop_pg() {
  if [ -n "$pg_dir" ]; then
    "$here/pg.sh" stop "$pg_dir" || echo "unit: could not stop PostgreSQL in $pg_dir" >&2
    pg_dir=
  fi
}
trap stop_pg EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if pg_dir=$(mktemp -d /tmp/duro-unit-pg-XXXXXX); then
  if conninfo=$("$here/pg.sh" start "$pg_dir"); then
    export DURO_TEST_POSTGRES="$conninfo"
  else
    echo "unit: could not start PostgreSQL (tests/pg.sh start $pg_dir, output above); the PostgreSQL tests will fail"
    rm -rf -- "$pg_dir"
    pg_dir=
    unset DURO_TEST_POSTGRES
    total_fail=$((total_fail + 1))
  fi
else
  echo "unit: mktemp failed; cannot start PostgreSQL"
  pg_dir=
  total_fail=$((total_fail + 1))
fi

for t in "$@"; do
  out=$(timeout 120 "$t" 2>&1)
  rc=$?
  printf '%s\n' "$out"
  # A binary may run several groups: add up every group's summary.
  pass=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' |
         awk '{s += $1} END {if (NR) print s}')
  fail=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' |
         awk '{s += $1} END {if (NR) print s}')
  # cmocka reports a test whose setup or teardown failed as ERROR, apart
  # from the FAILED count: those fail too.
  errors=$(printf '%s\n' "$out" | grep -c '^\[  ERROR   \] [^-]')
  total_pass=$((total_pass + ${pass:-0}))
  total_fail=$((total_fail + ${fail:-0} + errors))
  if [ "$rc" -ne 0 ] && [ -z "$fail" ] && [ "$errors" -eq 0 ]; then
    echo "unit: $t exited with $rc"
    total_fail=$((total_fail + 1))
  fi
done
echo "unit: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
