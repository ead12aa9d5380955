#!/bin/sh
# Runs every allocator binary on both workloads and prints the two tables
# (README.md): the light workload first (the headline), then the heavy one,
# then the headline's verdict as the last line.
#
#   ./run.sh [NAME...]     NAME is a binary (lexrt, bumpalo, malloc, ...); default all
#   ROUNDS=5 PASSES=4 CLOCK=cpu|wall WORKLOADS="light heavy" ./run.sh
#   LIGHT_REQUESTS=20000 HEAVY_REQUESTS=2000 ./run.sh
#   LIGHT_SKIP="obstack talloc" HEAVY_SKIP="" ./run.sh   variants left out of a table
#
# Each pass runs every variant once, in turn, as its own process (warm-up
# round + ROUNDS timed rounds). Passes interleave the variants so that a
# slow moment of the machine is spread over all rows instead of landing on
# one; statistics are over all PASSES x ROUNDS rounds.
set -eu
cd "$(dirname "$0")"
ROUNDS=${ROUNDS:-5}
PASSES=${PASSES:-4}
# Thread CPU time by default: on a shared machine, wall time also counts the
# moments another process held the CPU, and that noise is not ours.
CLOCK=${CLOCK:-cpu}
WORKLOADS=${WORKLOADS:-light heavy}
NAMES=${*:-floor lexrt bumpalo malloc obstack apr talloc mimalloc}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Which core was measured: csrc changes under us, so name it by content.
core=$(cat ../csrc/arena.[ch] ../csrc/pool.[ch] ../csrc/sysmem.[ch] ../csrc/poison.h |
    sha256sum | cut -c1-12)

for wl in $WORKLOADS; do
    case $wl in
    # Default obstack and plain talloc are 30x and 12x lexrt on the light
    # workload and would take most of its time; the heavy table has them.
    light) req=${LIGHT_REQUESTS:-20000} skip=${LIGHT_SKIP-obstack talloc}
        what="first and last byte of each block" ;;
    heavy) req=${HEAVY_REQUESTS:-2000} skip=${HEAVY_SKIP-}
        what="one byte per 64-byte line${LXB_TOUCH:+ ($LXB_TOUCH)}" ;;
    *) echo "unknown workload $wl" >&2; exit 2 ;;
    esac
    runs=""
    for name in $NAMES; do
        for v in $(build/"$wl"/bench_"$name" --list); do
            case " $skip " in *" $v "*) continue ;; esac
            runs="$runs $name:$v"
        done
    done
    echo "$wl workload: $req requests x $ROUNDS rounds x $PASSES passes, writes: $what," \
        "clock=$CLOCK, GLIBC_TUNABLES=${GLIBC_TUNABLES:-(default)}, core $core," \
        "load $(cut -d' ' -f1 /proc/loadavg)"
    pass=0
    while [ "$pass" -lt "$PASSES" ]; do
        for r in $runs; do
            build/"$wl"/bench_"${r%%:*}" "${r#*:}" "$ROUNDS" "$req" >>"$tmp/$wl"
        done
        pass=$((pass + 1))
    done
    awk -v clock="$CLOCK" -f report.awk "$tmp/$wl"
    echo
done
# The headline (the first workload) has the last word.
set -- $WORKLOADS
awk -v clock="$CLOCK" -v verdict=1 -f report.awk "$tmp/$1"
