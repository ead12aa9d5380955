#!/bin/sh
# Installs the Debian packages one make target needs, if any are missing:
#
#   sh scripts/deps.sh TARGET...        install what TARGET needs
#   sh scripts/deps.sh --list TARGET... print it, one package a line
#
# TARGET is build, test, test-installed, run, install, dist, bench, check,
# fuzz or all (every package any target or sub-make uses). Each target gets
# only its own set, so that `make test` on a fresh machine does not pull in
# valgrind or the benchmark's allocator libraries. apt-get update runs only
# when something has to be installed, so a machine that has everything
# pays nothing. Works as root, or through sudo.
set -eu

# The C modules: a compiler, make, Lua's headers, and h2o's event loop and
# HTTP/1 parser for lexrt.http_core.
BUILD="gcc make liblua5.4-dev libh2o-evloop-dev"
# What bin/lexrt-experiment loads: argparse always, dkjson for --format json.
LUA_RUN="lua5.4 lua-argparse lua-dkjson"
# The specs: busted, the CLI's modules (cli_spec runs the command), and
# the HTTP specs' clients: curl, and LuaSocket for the specs' own; wrk for
# lexrt-experiment --http's spec.
TEST="$BUILD $LUA_RUN lua-busted curl lua-socket wrk"
RUN="$BUILD $LUA_RUN"
# luarocks builds the rock; --deps-mode=none, so the Lua modules the
# command needs come from Debian.
INSTALL="$BUILD $LUA_RUN luarocks"
# make dist: git archives the committed tree, luarocks packs it (luarocks
# brings zip and unzip).
DIST="git luarocks"
# bench/Makefile links each allocator through pkg-config (APR, talloc) or
# directly (mimalloc), and builds its bumpalo row with Debian's Rust and
# crate sources (bench/deps.txt); bench/lua_bench.lua runs under lua5.4;
# bench/http_bench.lua drives servers with wrk (curl checks their answers),
# nginx with its Lua module the anchor rows.
BENCH="$BUILD lua5.4 pkg-config libapr1-dev libtalloc-dev libmimalloc-dev cargo rustc librust-bumpalo-dev"
BENCH="$BENCH wrk curl nginx libnginx-mod-http-lua"
# fuzz/Makefile: clang with libFuzzer and its sanitizer runtimes (the
# libclang-rt package that matches clang's version is added once clang is
# there), gcc for the standalone build; no Lua.
FUZZ="gcc make clang"
# scripts/check.sh: luacheck, ctest (gcc and clang, ASan), the busted suite
# under ASan+UBSan (gcc's runtimes) and valgrind, cppcheck, clang-tidy, the
# fuzzer.
CHECK="$TEST $FUZZ lua-check valgrind cppcheck clang-tidy"
# Everything, including what only sub-makes use (bench callgrind, ctest
# and fuzz valgrind runs, fuzz corpus regeneration).
ALL="$CHECK $BENCH $INSTALL $DIST python3"

usage() {
    echo "usage: sh scripts/deps.sh [--list] build|test|test-installed|run|install|dist|bench|check|fuzz|all ..." >&2
    exit 2
}

list=0
if [ "${1:-}" = "--list" ]; then
    list=1
    shift
fi
[ $# -gt 0 ] || usage
targets="$*"

wanted=""
needs_rt=0
for target in "$@"; do
    case $target in
    build) wanted="$wanted $BUILD" ;;
    test) wanted="$wanted $TEST" ;;
    test-installed) wanted="$wanted $TEST $DIST" ;;
    dist) wanted="$wanted $DIST" ;;
    run) wanted="$wanted $RUN" ;;
    install | install-local) wanted="$wanted $INSTALL" ;;
    bench) wanted="$wanted $BENCH" ;;
    check) wanted="$wanted $CHECK" needs_rt=1 ;;
    fuzz) wanted="$wanted $FUZZ" needs_rt=1 ;;
    all) wanted="$wanted $ALL" needs_rt=1 ;;
    *) usage ;;
    esac
done
# One of each, in first-seen order.
wanted=$(printf '%s\n' $wanted | awk '!seen[$0]++')

# clang's runtimes (libFuzzer, ASan) are packaged per clang version.
clang_rt() {
    v=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9][0-9]*\).*/\1/p' | head -n 1)
    [ -n "$v" ] && echo "libclang-rt-$v-dev"
}

if [ "$list" -eq 1 ]; then
    printf '%s\n' $wanted
    if [ "$needs_rt" -eq 1 ]; then
        clang_rt || echo "libclang-rt-<clang's major version>-dev"
    fi
    exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: not a Debian system; make sure these are installed:" $wanted >&2
    exit 0
fi

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"
}

SUDO=""
updated=0
# apt-get as root, or through sudo.
as_root() {
    if [ "$(id -u)" -ne 0 ] && [ -z "$SUDO" ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "deps: need root to install packages, and there is no sudo; as root run:" >&2
            echo "  sh scripts/deps.sh $targets" >&2
            exit 1
        fi
        SUDO="sudo"
    fi
    $SUDO "$@"
}

update_once() {
    [ "$updated" -eq 1 ] && return 0
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    updated=1
}

# Installs whichever of the given packages are missing.
install_missing() {
    missing=""
    for p in "$@"; do
        installed "$p" || missing="$missing $p"
    done
    [ -n "$missing" ] || return 0
    echo "deps: installing$missing"
    update_once
    # shellcheck disable=SC2086
    as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# shellcheck disable=SC2086
install_missing $wanted
if [ "$needs_rt" -eq 1 ]; then
    rt=$(clang_rt || true)
    if [ -n "$rt" ] && ! installed "$rt"; then
        update_once
        # Older Debian releases ship the runtimes inside clang's own packages.
        if apt-cache show "$rt" >/dev/null 2>&1; then
            install_missing "$rt"
        fi
    fi
fi
