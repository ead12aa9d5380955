# Turns the W/R/M lines of the bench binaries (see harness.c) into the
# table. Times are medians over every round, with min and max beside them;
# -v clock=cpu (the default) uses each round's thread CPU time, clock=wall
# its wall-clock time.
# "floor" is not an allocator and "lexrt-raw" is lexrt itself: neither can
# be the best peer.

function sort(a, n,    i, j, t) {
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
            t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
        }
}

$1 == "W" {
    if (!($2 in allocs)) { order[++nv] = $2 }
    allocs[$2] = $3; reqs[$2] = $5
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
    printf "%-14s %22s %25s %17s %8s\n", "allocator", "ns/alloc med (min-max)",
        "us/request med (min-max)", "maxrss KiB (+own)", "/lexrt"
    for (k = 1; k <= nv; k++) {
        v = order[k]; a = allocs[v]; q = reqs[v]
        printf "%-14s %8.2f (%5.2f-%6.2f) %9.2f (%6.2f-%7.2f) %8d (%+6d) %7.2fx\n",
            v, med[v] / a, lo[v] / a, hi[v] / a, med[v] / q / 1000, lo[v] / q / 1000,
            hi[v] / q / 1000, peak[v], extra[v], med[v] / med["lexrt"]
    }
    if ("floor" in med)
        printf "lexrt vs best peer, time above the floor: %.2fx\n",
            (med["lexrt"] - med["floor"]) / (med[best] - med["floor"])
    printf "best peer: %s\n", best
    printf "lexrt vs best peer: %.2fx\n", med["lexrt"] / med[best]
}
