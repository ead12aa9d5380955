/*
 * The timing harness shared by every allocator binary.
 *
 *   bench_X --list                      names of the variants in this binary
 *   bench_X VARIANT [rounds [requests]] one warm-up round, then timed rounds
 *
 * Output (read by run.sh):
 *   W variant allocs bytes requests workload
 *                                       the workload, to cross-check binaries
 *   R variant round cpu_ns wall_ns      one round: this thread's CPU time
 *                                       and the wall-clock time
 *   M variant base_kb peak_kb           ru_maxrss before setup, and at the end
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

volatile uint64_t lxb_sink;

_Noreturn void lxb_die(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

static long maxrss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static uint64_t now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Not inlined, so that callgrind can count just this (callgrind.sh). */
__attribute__((noinline)) void lxb_round(const lxb_variant *v, const lxb_workload *w);
__attribute__((noinline)) void lxb_round(const lxb_variant *v, const lxb_workload *w)
{
    size_t r;
    for (r = 0; r < w->nreq; r++)
        v->request(w->sizes + w->start[r], w->start[r + 1] - w->start[r]);
}

int main(int argc, char **argv)
{
    const lxb_variant *v;
    lxb_workload w;
    long rounds = argc > 2 ? atol(argv[2]) : 7;
    long nreq = argc > 3 ? atol(argv[3]) : LXB_DEFAULT_REQUESTS;
    long i, base;

    if (argc < 2 || strcmp(argv[1], "--list") == 0) {
        for (v = lxb_variants; v->name != NULL; v++)
            printf("%s\n", v->name);
        return argc < 2;
    }
    for (v = lxb_variants; v->name != NULL && strcmp(v->name, argv[1]) != 0; v++)
        ;
    if (v->name == NULL)
        lxb_die("unknown variant (try --list)");
    if (rounds < 1 || nreq < 1)
        lxb_die("rounds and requests must be positive");
    if (lxb_workload_init(&w, (size_t)nreq) != 0)
        lxb_die("out of memory for the workload");
    /* The workload's own arrays are in this baseline, the allocator's
     * memory is not: peak - base is what the allocator cost. */
    base = maxrss_kb();
    printf("W %s %zu %llu %zu %s\n", v->name, w.nallocs, w.bytes, w.nreq, LXB_WORKLOAD_NAME);

    v->setup();
    lxb_round(v, &w); /* warm-up: a server's allocator is never cold */
    for (i = 0; i < rounds; i++) {
        /* CPU time counts the kernel's work for us (brk, page faults) but
         * not the time another process held our CPU; wall time does. */
        uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now_ns(CLOCK_MONOTONIC);
        lxb_round(v, &w);
        uint64_t c1 = now_ns(CLOCK_THREAD_CPUTIME_ID), w1 = now_ns(CLOCK_MONOTONIC);
        printf("R %s %ld %llu %llu\n", v->name, i, (unsigned long long)(c1 - c0),
               (unsigned long long)(w1 - w0));
    }
    printf("M %s %ld %ld\n", v->name, base, maxrss_kb());
    v->teardown();
    lxb_workload_free(&w);
    return 0;
}
