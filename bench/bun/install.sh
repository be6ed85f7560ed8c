#!/usr/bin/env bash
# bench/bun/install.sh: installs Bun 1.4.5 for bench/compare_bun.sh from the
# npm package @oven/bun-linux-x64 (the glibc x64 build; it needs AVX2, which
# the bench machines have), pinned by bench/bun/package-lock.json. It goes
# into build/bench/bun (git-ignored), never into the project's own
# package.json: Bun is only the yardstick, not a dependency.
#
# Prints the path of the bun binary on stdout; everything else goes to
# stderr. Does nothing when the right version is already there. Exit 1 if
# the install fails (no registry, wrong platform).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WANT=1.4.5
DIR=$ROOT/build/bench/bun
BUN=$DIR/node_modules/@oven/bun-linux-x64/bin/bun

installed() { [[ -x $BUN ]] && [[ $("$BUN" --version 2>/dev/null) == "$WANT" ]]; }

if ! installed; then
  [[ $(uname -sm) == "Linux x86_64" ]] || {
    echo "bun install: only linux x64 is supported here ($(uname -sm))" >&2
    exit 1
  }
  echo "bun install: npm ci @oven/bun-linux-x64@$WANT into $DIR" >&2
  mkdir -p "$DIR"
  # npm ci works on a folder with its own package.json and lockfile; copying
  # them keeps npm from walking up to the project's root package.json.
  cp "$ROOT/bench/bun/package.json" "$ROOT/bench/bun/package-lock.json" "$DIR/"
  timeout 600 npm ci --prefix "$DIR" --no-audit --no-fund --ignore-scripts \
    --loglevel=error >&2 || {
    echo "bun install: npm ci failed" >&2
    exit 1
  }
  installed || {
    echo "bun install: $BUN does not run or is not version $WANT" >&2
    exit 1
  }
fi
printf '%s\n' "$BUN"
