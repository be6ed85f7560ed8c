#!/usr/bin/env bash
# Runs the Node integration suites against DURO_BIN (set by the Makefile).
# Node's test runner prints its own summary (# pass / # fail) last.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules/ws ]; then
  echo "integration: installing test dependencies (npm ci)"
  npm ci --no-audit --no-fund >/dev/null
fi
export DURO_BIN
exec node --test --test-concurrency=1 tests/integration/ tests/web/
