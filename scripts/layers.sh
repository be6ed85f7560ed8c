#!/usr/bin/env bash
# The layer check of docs/architecture.md: every #include "..." in src/
# points down the floor plan (or within the file's own folder), never up
# or sideways; include/duro.h, the public API, is included only from the
# runtime (objects/) up; and core's copies of duro.h's shared blocks
# (src/core/types.h) are identical to duro.h's.
set -euo pipefail
cd "$(dirname "$0")/.."

# The floor plan, bottom to top. A folder may include the folders listed
# before it. Keep in step with docs/architecture.md.
order=(core net http ws store objects sync classes frontend backend admin cmd)
# The lowest floor that may include duro.h.
duro_h_from=objects

rank() {
  local i
  for i in "${!order[@]}"; do
    [ "${order[$i]}" = "$1" ] && { echo "$i"; return; }
  done
  echo -1
}

fail=0
min_duro=$(rank $duro_h_from)
while IFS= read -r f; do
  dir=${f#src/}
  dir=${dir%%/*}
  r=$(rank "$dir")
  if [ "$r" -lt 0 ]; then
    echo "layers: $f: folder src/$dir is not on the floor plan (scripts/layers.sh, docs/architecture.md)" >&2
    fail=1
    continue
  fi
  while IFS=: read -r line inc; do
    target=${inc#\"}
    target=${target%\"}
    if [ "$target" = duro.h ]; then
      if [ "$r" -lt "$min_duro" ]; then
        echo "layers: $f:$line: src/$dir includes duro.h (only $duro_h_from and above may)" >&2
        fail=1
      fi
      continue
    fi
    tdir=${target%%/*}
    [ "$tdir" = "$target" ] && {
      echo "layers: $f:$line: include \"$target\" names no folder" >&2
      fail=1
      continue
    }
    [ "$tdir" = "$dir" ] && continue
    tr=$(rank "$tdir")
    if [ "$tr" -lt 0 ] || [ "$tr" -ge "$r" ]; then
      echo "layers: $f:$line: src/$dir includes $target: $tdir is not below $dir" >&2
      fail=1
    fi
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$f" |
           sed -E 's/^([0-9]+):[[:space:]]*#[[:space:]]*include[[:space:]]+("[^"]+").*/\1:\2/')
done < <(find src -name '*.[ch]' | sort)

# A connection's fields (net/conn_impl.h) are for the folders that
# implement protocols over it; above them duro_conn_t is opaque.
conn_impl_in="net http ws"
while IFS=: read -r f line _; do
  dir=${f#src/}
  dir=${dir%%/*}
  case " $conn_impl_in " in
    *" $dir "*) ;;
    *)
      echo "layers: $f:$line: src/$dir includes net/conn_impl.h (only ${conn_impl_in// /, } may; use net/conn.h)" >&2
      fail=1
      ;;
  esac
done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"net/conn_impl\.h"' src --include='*.[ch]' | sort)

# duro.h's shared blocks and core's copies
for name in errors header; do
  a=$(sed -n "/shared with src\/core\/types.h: begin $name/,/shared with src\/core\/types.h: end $name/p" include/duro.h | sed '1d;$d')
  b=$(sed -n "/shared with include\/duro.h: begin $name/,/shared with include\/duro.h: end $name/p" src/core/types.h | sed '1d;$d')
  if [ -z "$a" ] || [ "$a" != "$b" ]; then
    echo "layers: the '$name' block of src/core/types.h differs from include/duro.h's" >&2
    fail=1
  fi
done

[ $fail -eq 0 ] && echo "layers: every include in src/ points down the floor plan"
exit $fail
