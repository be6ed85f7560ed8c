#!/usr/bin/env bash
# Runs the Node integration suites against DURO_BIN (set by the Makefile).
# Node's test runner prints its own summary (# pass / # fail) last.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules/ws ] || [ ! -d node_modules/@livestore/sync-cf ]; then
  echo "integration: installing test dependencies (npm ci)"
  npm ci --no-audit --no-fund >/dev/null
fi
export DURO_BIN
# --test-force-exit: the LiveStore clients keep timers alive after a
# failed test; a suite must end when its tests are done.
exec node --test --test-concurrency=1 --test-force-exit tests/integration/ tests/web/ tests/browser/
