/*
 * What the arena and image tests share: making an arena or dying, its
 * stats as a value, and a byte pattern to write and check.
 */
#ifndef LEXRT_CTEST_ARENA_SUPPORT_H
#define LEXRT_CTEST_ARENA_SUPPORT_H

#include <stdint.h>
#include <stdlib.h>

#include "arena.h"
#include "check.h"

static uint64_t key_state = 0x1234567887654321u;

static inline lx_arena *mk(lx_pool *pool, size_t page_size, size_t max_bytes)
{
    lx_arena *a = lx_arena_new(pool, page_size, max_bytes, lx_next_key(&key_state));
    if (a == NULL) {
        printf("FAIL %s: lx_arena_new returned NULL\n", cur_test);
        exit(2);
    }
    return a;
}

static inline lx_stats st(const lx_arena *a)
{
    lx_stats s;
    lx_arena_stats(a, &s);
    return s;
}

static inline void fill(void *p, size_t n, unsigned seed)
{
    unsigned char *c = p;
    size_t i;
    for (i = 0; i < n; i++)
        c[i] = (unsigned char)(seed + i * 131u + (i >> 8));
}

/* Whether p holds fill(p, n, seed)'s pattern. */
static inline int filled(const void *p, size_t n, unsigned seed)
{
    const unsigned char *c = p;
    size_t i;
    for (i = 0; i < n; i++)
        if (c[i] != (unsigned char)(seed + i * 131u + (i >> 8)))
            return 0;
    return 1;
}

#endif
