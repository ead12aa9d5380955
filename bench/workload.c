/* The seeded size lists of the two workloads (workload.h). */
#include "workload.h"

#include <stdlib.h>

int lxb_touch_full;

/* Fixed, so every binary replays the same sequence. */
#define LXB_SEED 0x6c65787274ull /* "lexrt" */

/* splitmix64: tiny, good enough, and ours (no libc rand state). */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/*
 * The size mix of a request-shaped program: mostly small objects
 * (16..512 bytes, uniform), some 4 KiB buffers, and now and then a
 * 100 KiB block (past lexrt's 64 KiB page, so its large path is measured,
 * and under glibc's 128 KiB mmap threshold, so malloc keeps it in the heap).
 *   light: 3% 4 KiB, 1 in 1000 100 KiB;
 *   heavy: 4% 4 KiB, 1 in 500 100 KiB (the sequence of the first tables).
 */
#if LXB_LIGHT
#define ONE_IN 1000
#define N_4K 30
#else
#define ONE_IN 500
#define N_4K 20
#endif

static uint32_t pick_size(uint64_t *s)
{
    uint64_t r = next(s);
    uint32_t k = (uint32_t)(r % ONE_IN);
    if (k == 0)
        return 100 * 1024;
    if (k <= N_4K)
        return 4096;
    return 16 + (uint32_t)((r >> 32) % 497);
}

int lxb_workload_init(lxb_workload *w, size_t nreq)
{
    uint64_t s = LXB_SEED;
    size_t r, i, n, cap = nreq * LXB_MAX_PER_REQ;
    const char *t = getenv("LXB_TOUCH");

    lxb_touch_full = t != NULL && strcmp(t, "full") == 0;
    w->sizes = malloc(cap * sizeof *w->sizes);
    w->start = malloc((nreq + 1) * sizeof *w->start);
    if (w->sizes == NULL || w->start == NULL)
        return -1;
    w->nreq = nreq;
    w->nallocs = 0;
    w->bytes = 0;
    for (r = 0; r < nreq; r++) {
        w->start[r] = w->nallocs;
        n = LXB_MIN_PER_REQ;
        if (LXB_MAX_PER_REQ > LXB_MIN_PER_REQ)
            n += (size_t)(next(&s) % (LXB_MAX_PER_REQ - LXB_MIN_PER_REQ + 1));
        for (i = 0; i < n; i++) {
            w->sizes[w->nallocs] = pick_size(&s);
            w->bytes += w->sizes[w->nallocs];
            w->nallocs++;
        }
    }
    w->start[nreq] = w->nallocs;
    return 0;
}

void lxb_workload_free(lxb_workload *w)
{
    free(w->sizes);
    free(w->start);
}
