#!/bin/sh
# Instructions per Lua-side operation under callgrind, split into where
# they are spent: the VM (interpreter loop, calls, tables, strings), its
# collector, the Lua C API the binding calls, lexrt's binding and lexrt's
# core. Run from the top level after `make build`:
#
#   bench/lua_callgrind.sh [OP...]     OP from lua_ops.lua; default all
#
# Each OP runs twice, N1 and N2 iterations, in lua_host (a symbol build
# against liblua5.4.a); the difference divided by N2 - N1 is the cost of
# one iteration, free of start-up. The "loop" op is the bare for loop.
# Lua seeds its string hashes from the clock and addresses, so a method
# lookup may probe a longer chain in one run than in another: each OP is
# measured REPEAT times (default 3) and the run with the median total is
# printed.
set -eu
cd "$(dirname "$0")/.."
N1=${N1:-20000}
N2=${N2:-120000}
OPS=${*:-loop len alloc bound sub read pcall with_scope}
B=bench/build
mkdir -p "$B"
if [ ! -x "$B/lua_host" ] || [ bench/lua_host.c -nt "$B/lua_host" ]; then
    gcc -O2 -std=c99 -Wall -Wextra -Wpedantic -I"${LUA_INC:-/usr/include/lua5.4}" -o "$B/lua_host" \
        bench/lua_host.c /usr/lib/x86_64-linux-gnu/liblua5.4.a -lm -ldl -Wl,-E
fi
export LUA_PATH="$PWD/lua/?.lua;$PWD/lua/?/init.lua;;" LUA_CPATH="$PWD/build/?.so;;"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Self cost of every function, as "count file:function" lines.
profile() { # op n out
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$B/lua_host" bench/lua_ops.lua "$1" "$2" \
        >/dev/null 2>&1
    callgrind_annotate --inclusive=no --threshold=100 "$tmp/cg" 2>/dev/null |
        awk '/Auto-annotated/ { exit } /PROGRAM TOTALS/ { next }
            /^ *[0-9,]+ +\( *[0-9.]+%\) / { c = $1; gsub(",", "", c); sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, ""); print c, $0 }' >"$3"
}

printf '%-11s %8s %8s %8s %8s %8s %8s %8s\n' op total VM GC "Lua API" binding core libc
for op in $OPS; do
    r=0
    : >"$tmp/runs"
    while [ "$r" -lt "${REPEAT:-3}" ]; do
        profile "$op" "$N1" "$tmp/a"
        profile "$op" "$N2" "$tmp/b"
        awk -v op="$op" -v d=$((N2 - N1)) -v top="${TOP:-0}" '
        # f is "file:function [object]"; inlined code carries its own file.
        function cat(f) {
            if (f ~ /^[^ ]*csrc\/(arena|pool|sysmem)\.[ch]:/) return "core"
            if (f ~ /^[^ ]*csrc\// || f ~ /core\.so\]/) return "binding"
            if (f ~ /libc\.so|ld-linux|vgpreload/) return "libc"
            if (f ~ /:(lua_|luaL_|index2value|index2stack|aux_|auxgetstr|auxsetstr|f_call|tag_error|interror|typeerror)/) return "api"
            if (f ~ /:(luaC_|GCTM|sweep|propagate|mark|reallymark|freeobj|atomic|singlestep|entersweep|remark|clearby|traverse|genstep|incstep|youngcollection|convergeinc|correctgraylist|udata2finalize|separatetobefnz|checkSizes|luaE_setdebt|luaM_|luaF_free|luaS_remove|luaH_free)/) return "gc"
            return "vm"
        }
        FNR == 1 { file++ }
        { n = $1; $1 = ""; sub(/^ /, ""); v[$0] += file == 1 ? -n : n; seen[$0] = 1 }
        END {
            for (f in seen) { k = cat(f); sum[k] += v[f] / d; tot += v[f] / d }
            # One line: the total first (to pick the median run), then the
            # row, then the top functions, separated by tabs.
            printf "%.1f\t%-11s %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f", tot, op, tot, sum["vm"],
                sum["gc"], sum["api"], sum["binding"], sum["core"], sum["libc"]
            n = 0
            for (f in seen) if (v[f] / d >= 1 || v[f] / d <= -1) list[++n] = sprintf("%10.1f  %-7s %s", v[f] / d, cat(f), f)
            for (i = 2; i <= n; i++) for (j = i; j > 1 && list[j - 1] + 0 < list[j] + 0; j--) { t = list[j]; list[j] = list[j - 1]; list[j - 1] = t }
            for (i = 1; i <= n && i <= top; i++) printf "\t%s", list[i]
            printf "\n"
        }' "$tmp/a" "$tmp/b" >>"$tmp/runs"
        r=$((r + 1))
    done
    sort -n "$tmp/runs" | awk -v m=$(((${REPEAT:-3} + 1) / 2)) 'NR == m' | cut -f2- | tr '\t' '\n'
done
