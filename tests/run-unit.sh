#!/usr/bin/env bash
# Runs each cmocka unit-test binary in its own process with a timeout and
# prints one closing summary line over all of them.
set -u
total_fail=0
total_pass=0
for t in "$@"; do
  out=$(timeout 120 "$t" 2>&1)
  rc=$?
  printf '%s\n' "$out"
  pass=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  fail=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  total_pass=$((total_pass + ${pass:-0}))
  total_fail=$((total_fail + ${fail:-0}))
  if [ "$rc" -ne 0 ] && [ -z "$fail" ]; then
    echo "unit: $t exited with $rc"
    total_fail=$((total_fail + 1))
  fi
done
echo "unit: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
