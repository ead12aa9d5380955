#!/bin/sh
# Instructions per allocation under callgrind: slower than run.sh but
# reproducible to the instruction, so small core changes can be compared
# on a noisy machine. Counts only lxb_round (warm-up + 1 round).
#
#   ./callgrind.sh [NAME...]     NAME is a binary (lexrt, apr, ...); default all
#   WORKLOAD=light|heavy REQUESTS=300 ./callgrind.sh
# Instructions are not time: syscalls (glibc's heap trimming) and cache
# misses cost nothing here. Use run.sh for time, this for small deltas.
# "over floor" is the row's count minus the floor's: what the allocator adds
# to the loop and the writes.
set -eu
cd "$(dirname "$0")"
WORKLOAD=${WORKLOAD:-light}
REQUESTS=${REQUESTS:-300}
NAMES=${*:-floor lexrt bumpalo malloc obstack apr talloc mimalloc}
RUNS=""
for name in $NAMES; do
    for v in $(build/"$WORKLOAD"/bench_"$name" --list); do
        RUNS="$RUNS $name:$v"
    done
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT INT TERM

echo "$WORKLOAD workload, $REQUESTS requests"
printf '%-14s %10s %11s %12s\n' variant Ir/alloc "over floor" Ir/request
floor=""
for r in $RUNS; do
    bin=build/$WORKLOAD/bench_${r%%:*}
    allocs=$("$bin" "${r#*:}" 1 "$REQUESTS" | awk '$1 == "W" { print $3 }')
    valgrind --tool=callgrind --toggle-collect=lxb_round --callgrind-out-file="$out" \
        "$bin" "${r#*:}" 1 "$REQUESTS" >/dev/null 2>&1
    line=$(callgrind_annotate "$out" | awk -v v="${r#*:}" -v a="$allocs" -v q="$REQUESTS" -v f="$floor" '
        /PROGRAM TOTALS/ {
            gsub(",", "", $1); per = $1 / (2 * a)
            printf "%-14s %10.2f %11s %12.0f\n", v, per,
                v == "floor" ? "0.00" : f == "" ? "-" : sprintf("%.2f", per - f), $1 / (2 * q)
        }')
    echo "$line"
    [ "${r#*:}" = floor ] && floor=$(echo "$line" | awk '{ print $2 }')
done
