#!/bin/sh
# Instructions per allocation under callgrind: slower than run.sh but
# reproducible to the instruction, so small core changes can be compared
# on a noisy machine. Counts only lxb_round (warm-up + 1 round).
#
#   ./callgrind.sh [NAME...]     NAME is a binary (lexrt, apr, ...); default all
# Instructions are not time: syscalls (glibc's heap trimming) and cache
# misses cost nothing here. Use run.sh for time, this for small deltas.
set -eu
cd "$(dirname "$0")"
REQUESTS=${REQUESTS:-300}
NAMES=${*:-floor lexrt malloc obstack apr talloc mimalloc}
RUNS=""
for name in $NAMES; do
    for v in $(build/bench_"$name" --list); do
        RUNS="$RUNS $name:$v"
    done
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT INT TERM

printf '%-14s %10s %12s\n' variant Ir/alloc Ir/request
for r in $RUNS; do
    allocs=$(build/bench_"${r%%:*}" "${r#*:}" 1 "$REQUESTS" | awk '$1 == "W" { print $3 }')
    valgrind --tool=callgrind --toggle-collect=lxb_round --callgrind-out-file="$out" \
        build/bench_"${r%%:*}" "${r#*:}" 1 "$REQUESTS" >/dev/null 2>&1
    callgrind_annotate "$out" | awk -v v="${r#*:}" -v a="$allocs" -v q="$REQUESTS" '
        /PROGRAM TOTALS/ { gsub(",", "", $1); printf "%-14s %10.1f %12.0f\n", v, $1 / (2 * a), $1 / (2 * q) }'
done
