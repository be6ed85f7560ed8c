#!/usr/bin/env bash
# Writes the linker dynamic list of the duro executable to stdout: exactly
# the functions declared in include/duro.h (the API a loaded class library
# may call), so that no internal function is exported to it. duro_module
# is defined by the libraries, not by duro, and is left out.
set -euo pipefail
header=${1:-include/duro.h}
names=$(sed -E 's://.*$::' "$header" |
  grep -oE '\bduro_[a-z0-9_]+[[:space:]]*\(' | sed -E 's/[[:space:]]*\($//' |
  grep -vx 'duro_module' | sort -u)
[ -n "$names" ] || { echo "gen-dynlist: no functions found in $header" >&2; exit 1; }
echo "/* generated from $header by scripts/gen-dynlist.sh */"
echo "{"
for n in $names; do echo "  $n;"; done
echo "};"
