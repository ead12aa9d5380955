#!/bin/sh
# Runs every allocator binary and prints the comparison table (README.md).
#
#   ./run.sh [NAME...]     NAME is a binary (lexrt, malloc, ...); default all
#   ROUNDS=7 REQUESTS=2000 PASSES=5 CLOCK=cpu|wall ./run.sh
#
# Each pass runs every variant once, in turn, as its own process (warm-up
# round + ROUNDS timed rounds of REQUESTS requests). Passes interleave the
# variants so that a slow moment of the machine is spread over all rows
# instead of landing on one; statistics are over all PASSES x ROUNDS rounds.
set -eu
cd "$(dirname "$0")"
ROUNDS=${ROUNDS:-7}
REQUESTS=${REQUESTS:-2000}
PASSES=${PASSES:-5}
# Thread CPU time by default: on a shared machine, wall time also counts the
# moments another process held the CPU, and that noise is not ours.
CLOCK=${CLOCK:-cpu}
NAMES=${*:-floor lexrt malloc obstack apr talloc mimalloc}

out=$(mktemp)
trap 'rm -f "$out"' EXIT INT TERM

runs=""
for name in $NAMES; do
    for v in $(build/bench_"$name" --list); do
        runs="$runs $name:$v"
    done
done

# Which core was measured: csrc changes under us, so name it by content.
core=$(cat ../csrc/arena.[ch] ../csrc/pool.[ch] ../csrc/sysmem.[ch] ../csrc/poison.h |
    sha256sum | cut -c1-12)
echo "workload: $REQUESTS requests x $ROUNDS rounds x $PASSES passes," \
    "clock=$CLOCK, touch=${LXB_TOUCH:-lines}, GLIBC_TUNABLES=${GLIBC_TUNABLES:-(default)}, core $core," \
    "load $(cut -d' ' -f1 /proc/loadavg)"
pass=0
while [ "$pass" -lt "$PASSES" ]; do
    for r in $runs; do
        build/bench_"${r%%:*}" "${r#*:}" "$ROUNDS" "$REQUESTS" >>"$out"
    done
    pass=$((pass + 1))
done
awk -v clock="$CLOCK" -f report.awk "$out"
