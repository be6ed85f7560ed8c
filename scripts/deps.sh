#!/usr/bin/env bash
# Installs the Debian packages duro needs when they are missing.
#   scripts/deps.sh build   what building and running needs
#   scripts/deps.sh test    that plus what the test suites need
# Does nothing when everything is there; needs root (or sudo) otherwise.
set -euo pipefail
build=(build-essential pkg-config libuv1-dev libhttp-parser-dev libssl-dev
       zlib1g-dev libsqlite3-dev libcjson-dev liburing-dev libpq-dev)
test=(libcmocka-dev sqlite3 clang libclang-rt-14-dev valgrind nodejs chromium
      openssl postgresql-15)
want=("${build[@]}")
[ "${1:-build}" = test ] && want+=("${test[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
if [ "${1:-build}" = test ] && ! command -v npm >/dev/null; then
  missing+=(npm)
fi
[ "${#missing[@]}" -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
