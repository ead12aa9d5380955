/*
 * The two workloads every allocator in this directory is given.
 *
 * A round replays the same pre-generated list of requests; a request is a
 * few hundred allocation sizes. Sizes come from a fixed seed, so every
 * binary (and every run) sees exactly the same sequence, and the PRNG is
 * not part of the timed loop.
 *
 * Each allocator file is compiled twice (see Makefile): with LXB_LIGHT=1
 * it is the headline "light" workload, whose writes stay small so that
 * the allocator's own cost is what the table ranks; with LXB_LIGHT=0 it
 * is the "heavy" one, which writes every cache line of every block. The
 * write rule is a compile-time constant, so neither binary carries a test
 * for the other's rule in its loop.
 */
#ifndef LXB_WORKLOAD_H
#define LXB_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef LXB_LIGHT
#define LXB_LIGHT 1
#endif

#if LXB_LIGHT
#define LXB_WORKLOAD_NAME "light"
#define LXB_DEFAULT_REQUESTS 20000
#define LXB_MIN_PER_REQ 300
#define LXB_MAX_PER_REQ 300
#else
#define LXB_WORKLOAD_NAME "heavy"
#define LXB_DEFAULT_REQUESTS 2000
#define LXB_MIN_PER_REQ 200
#define LXB_MAX_PER_REQ 400
#endif
#define LXB_ALIGN 16 /* what malloc guarantees on x86-64; asked of lexrt too */

typedef struct lxb_workload {
    uint32_t *sizes; /* every allocation of one round, in order */
    size_t *start;   /* request r is sizes[start[r] .. start[r + 1]) */
    size_t nreq, nallocs;
    unsigned long long bytes; /* sum of sizes: the cross-check between binaries */
} lxb_workload;

/* Fills w with nreq requests; returns -1 when out of memory. */
int lxb_workload_init(lxb_workload *w, size_t nreq);
void lxb_workload_free(lxb_workload *w);

/* Heavy workload only: 1 when LXB_TOUCH=full (memset every block). */
extern int lxb_touch_full;

/*
 * Writes the block, the same way for every allocator, so that memory an
 * allocator never touches cannot make it look cheaper.
 *   light: the first and the last byte, what a program filling in a small
 *          object does at the least;
 *   heavy: one byte in every 64-byte line the block spans (offsets 0, 64,
 *          ... and the last byte), so every page fault and cache miss is
 *          paid; LXB_TOUCH=full memsets the whole block instead.
 */
static inline void lxb_touch(void *p, size_t n)
{
    unsigned char *c = p;
#if LXB_LIGHT
    c[0] = 0;
    c[n - 1] = 1;
#else
    size_t i;
    if (lxb_touch_full) {
        memset(c, 0xa5, n);
    } else {
        for (i = 0; i < n; i += 64)
            c[i] = (unsigned char)i;
        c[n - 1] = 1;
    }
#endif
    /* The stores must happen even though nobody reads them back (gcc may
     * otherwise drop stores into memory that is freed right after). */
    __asm__ __volatile__("" : : "r"(c) : "memory");
}

#endif
