#!/bin/sh
# Installs the Debian packages lexrt's make targets need, if any are
# missing. apt-get update runs only when something has to be installed,
# so a machine that has everything pays nothing.
set -eu
PKGS="gcc clang make pkg-config lua5.4 liblua5.4-dev luarocks lua-busted lua-argparse lua-dkjson
valgrind cppcheck clang-tidy libclang-rt-14-dev libapr1-dev libtalloc-dev libmimalloc-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
