#!/bin/sh
# The files a request visits, in order, and the C <-> Lua crossings on the
# way (issue 18's "before and after"): builds an instrumented copy of
# lexrt.core into build/trace/lexrt/core.so and records one iso:call
# (empty, then with one effect) and one h:with_scope with
# bench/trace/driver.lua (whose header says what each figure counts),
# recorder bench/trace/tracer.c.
#   sh bench/trace/run.sh           (from anywhere; needs gcc or clang, addr2line)
# The compile line is the Makefile's own (`make -n -B build`), with the
# output moved and the instrumentation added, so that the copy is built
# from the same sources and flags however the Makefile lists them.
set -eu
cd "$(dirname "$0")/../.."
OUT=build/trace
mkdir -p "$OUT/lexrt"

# make -n prints the recipe as written: continued lines are joined first.
line=$(make -s -n -B build | awk '/\\$/ { sub(/\\$/, ""); buf = buf $0; next } { print buf $0; buf = "" }' |
  grep -e '-o build/lexrt/core\.so' || true)
if [ -z "$line" ]; then
  echo "run.sh: no compile line for build/lexrt/core.so in 'make -n -B build'" >&2
  exit 1
fi
cc=${line%% *}

# The recorder is not instrumented: it would record itself.
"$cc" -std=c99 -Wall -Wextra -Wpedantic -O2 -g -fPIC -I/usr/include/lua5.4 \
  -c -o "$OUT/tracer.o" bench/trace/tracer.c
wrap="-Wl,--wrap=lua_callk -Wl,--wrap=lua_pcallk -Wl,--wrap=lua_resume"
line=$(printf '%s\n' "$line" | sed "s# -o build/lexrt/core\.so # -finstrument-functions $wrap -o $OUT/lexrt/core.so $OUT/tracer.o #")
eval "$line -ldl"

LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;" LUA_CPATH="$PWD/$OUT/?.so" \
  lua5.4 bench/trace/driver.lua "$PWD"
