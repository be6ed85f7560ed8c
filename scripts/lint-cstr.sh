#!/usr/bin/env bash
# The string rules of docs/security.md ("String rules"), over src/:
#   1. banned: functions that read to a NUL nobody promised, that cannot
#      report an error, or that write without a bound;
#   2. snprintf/vsnprintf only inside the helpers that check the result
#      (duro_fmt, duro_buf_printf, duro_err_fmt, the logger);
#   3. strlen, strchr, strtol and their kin only where a comment on the
#      same line says why the argument is a C string ("C string: ...").
# Prints each offending line as file:line: text and exits 1 if any.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
report() { # $1: rule text, $2: the offending lines (grep -n output)
  local out=$2
  if [ -n "$out" ]; then
    echo "lint-cstr: $1" >&2
    echo "$out" | sed 's/^/  /' >&2
    fail=1
  fi
}

# Comments are not code: drop // and /* */ text on a line before matching
# rule 1 and 2 (rule 3 needs them).
code_only() { sed -E 's://.*$::; s:/\*([^*]|\*[^/])*\*/::g'; }

files=$(find src -name '*.[ch]' | sort)

banned='\b(sscanf|vsscanf|scanf|fscanf|strstr|strcasestr|atoi|atol|atoll|atof|strtok|strtok_r|sprintf|vsprintf|strcpy|strcat|strncpy|strncat|gets)[[:space:]]*\('
report "banned functions (use memmem, memchr, duro_parse_u64, duro_fmt, ... from core/str.h)" "$(
  for f in $files; do
    code_only < "$f" | grep -nE "$banned" | sed "s|^|$f:|" || true
  done)"

fmt='\b(snprintf|vsnprintf)[[:space:]]*\('
report "snprintf outside core (use duro_fmt and check for DURO_E2BIG, duro_err_fmt for error text, or duro_buf_printf)" "$(
  for f in $files; do
    case $f in
      src/core/str.c|src/core/buf.c|src/core/err.c|src/core/log.c) continue ;;
    esac
    code_only < "$f" | grep -nE "$fmt" | sed "s|^|$f:|" || true
  done)"

cstr='\b(strlen|strchr|strrchr|strchrnul|strcspn|strspn|strpbrk|strtol|strtoul|strtoll|strtoull|strtod|strtof)[[:space:]]*\('
report "C-string function without a 'C string' comment on its line saying why (bytes from a peer or a file are {ptr, len}: use memchr, duro_parse_u64, ...)" "$(
  for f in $files; do
    grep -nE "$cstr" "$f" | grep -v 'C string' | sed "s|^|$f:|" || true
  done)"

[ $fail -eq 0 ] && echo "lint-cstr: src/ keeps the string rules"
exit $fail
