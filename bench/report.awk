# Turns the W/R/M lines of the bench binaries (see harness.c) into one
# table. Times are medians over every round, with min and max beside them;
# -v clock=cpu (the default) uses each round's thread CPU time, clock=wall
# its wall-clock time. -v title=... heads the table. -v verdict=1 prints
# only the verdict line ("lexrt vs best peer: X.XXx (peer)") instead.
# "floor" is not an allocator and the lexrt rows are lexrt itself: none of
# them can be the best peer. "lexrt" is the handle path, the one Lua uses.

function sort(a, n,    i, j, t) {
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
            t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
        }
}

# ns per allocation of row v's median round.
function ns(v) { return med[v] / allocs[v] }

# "1.23x", and the same ratio with the floor taken off both sides.
function ratio(v, p,    s) {
    s = sprintf("%5.2fx", med[v] / med[p])
    if ("floor" in med && med[p] > med["floor"])
        s = s sprintf("   above the floor: %5.2fx", (med[v] - med["floor"]) / (med[p] - med["floor"]))
    return s
}

$1 == "W" {
    if (!($2 in allocs)) { order[++nv] = $2 }
    allocs[$2] = $3; reqs[$2] = $5; workload = $6
    if (bytes == "") bytes = $4
    else if ($4 != bytes) { print "workload mismatch for " $2 > "/dev/stderr"; bad = 1 }
}
$1 == "R" { t[$2, ++nr[$2]] = clock == "wall" ? $5 : $4 }
$1 == "M" {
    if ($4 > peak[$2]) { peak[$2] = $4 }
    if ($4 - $3 > extra[$2]) { extra[$2] = $4 - $3 }
}

END {
    if (bad) exit 1
    for (k = 1; k <= nv; k++) {
        v = order[k]; n = nr[v]
        for (i = 1; i <= n; i++) s[i] = t[v, i]
        sort(s, n)
        med[v] = n % 2 ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
        lo[v] = s[1]; hi[v] = s[n]
        if (v != "floor" && v !~ /^lexrt/ && (best == "" || med[v] < med[best])) best = v
    }
    if (!("lexrt" in med)) { print "no lexrt row" > "/dev/stderr"; exit 1 }
    if (verdict) {
        if (best != "") printf "lexrt vs best peer: %.2fx (%s)\n", med["lexrt"] / med[best], best
        exit 0
    }
    if (title != "") print title
    printf "%-14s %22s %11s %25s %17s %8s\n", "allocator", "ns/alloc med (min-max)",
        "over floor", "us/request med (min-max)", "maxrss KiB (+own)", "/lexrt"
    for (k = 1; k <= nv; k++) {
        v = order[k]; a = allocs[v]; q = reqs[v]
        over = ("floor" in med) ? sprintf("%11.2f", (med[v] - med["floor"]) / a) : sprintf("%11s", "-")
        printf "%-14s %8.2f (%5.2f-%6.2f) %s %9.2f (%6.2f-%7.2f) %8d (%+6d) %7.2fx\n",
            v, ns(v), lo[v] / a, hi[v] / a, over, med[v] / q / 1000, lo[v] / q / 1000,
            hi[v] / q / 1000, peak[v], extra[v], med[v] / med["lexrt"]
    }
    if (best == "") exit 0
    printf "best peer: %s\n", best
    printf "%-30s %s\n", "lexrt / " best, ratio("lexrt", best)
    if ("apr-pool" in med && best != "apr-pool")
        printf "%-30s %s\n", "lexrt / apr-pool", ratio("lexrt", "apr-pool")
    if ("lexrt-raw" in med)
        printf "%-30s %s\n", "lexrt-raw / " best, ratio("lexrt-raw", best)
    if ("lexrt-scope" in med)
        printf "%-30s %s\n", "lexrt-scope / lexrt", ratio("lexrt-scope", "lexrt")
}
