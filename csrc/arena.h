/*
 * lexrt's request arena: a bump allocator over a chain of pages.
 *
 * Lifetime model (kept from lex-runtime's arena.rs):
 *   - one arena per request; everything allocated in it dies together when
 *     the arena is reset or freed, no per-block free;
 *   - nothing allocated here may be used after that point.
 *
 * What C callers get: lx_arena_alloc() returns raw, uninitialised memory
 * (like malloc). What Lua gets: lx_arena_alloc_h() also records the block
 * in a table and returns a *handle*, a 64-bit integer that lx_arena_lookup()
 * can check in O(1). A handle is the block's index in that table and the
 * arena's generation, both masked with a per-arena random key:
 *   handle = ((gen << 32) | index) ^ key
 * reset bumps the generation (stale handles no longer match), another
 * arena has another key (foreign handles decode to a generation that does
 * not match, with probability about 2^-32 * nblocks/2^32 of a false match,
 * and even then to one of *this* arena's live blocks), and an index past
 * the table is refused. Generations that would make the high word 0 or
 * all-ones are skipped, so no integer in [-2^32, 2^32) is ever a valid
 * handle. Whatever the integer, lookup only ever yields a live block, so
 * no handle can reach memory outside the arena's live pages.
 *
 * Laps: skipping two values leaves 2^32 - 2 generations, fewer than the
 * 2^32 resets across which a stale handle must be refused. So each time
 * the generation crosses 2^32, reset flips bit 31 of the key (LX_LAP_BIT;
 * the high word of the key, and so the skipped generations, stay put).
 * Indexes stay below 2^31 (LX_MAX_BLOCKS), so a handle of the previous
 * lap decodes, even at its own generation, to an index >= 2^31: refused
 * whatever the block count. A state comes back only after two laps,
 * 2^33 - 4 resets: every stale handle is refused for 2^33 - 5 resets.
 *
 * Not thread-safe: an arena belongs to one request at a time.
 *
 * The core's third layer: it takes pages and chunks from a pool (pool.h)
 * and keeps its spent arena structs there as shells; image.h builds on it.
 */
#ifndef LEXRT_ARENA_H
#define LEXRT_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "poison.h"
#include "pool.h"

/* Internal to the module: calls between its files stay direct (no PLT)
 * even in builds that do not pass -fvisibility=hidden, such as luarocks'. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define LX_PAGE_BYTES ((size_t)64 * 1024)
#define LX_MIN_PAGE ((size_t)4096)
#define LX_MAX_PAGE ((size_t)16 * 1024 * 1024)
#define LX_MAX_ALIGN ((size_t)4096)
#define LX_DEFAULT_ALIGN ((size_t)8)
#define LX_MAX_BLOCKS ((size_t)INT32_MAX) /* indexes < 2^31: see "Laps" */
#define LX_LAP_BIT ((uint64_t)1 << 31)
#define LX_NO_BUDGET SIZE_MAX

enum lx_err {
    LX_OK = 0,
    LX_ENOMEM,   /* the system (or the failure injector) said no */
    LX_EBUDGET,  /* the allocation would pass max_bytes */
    LX_ETOOMANY, /* LX_MAX_BLOCKS blocks since the last reset */
};

typedef struct lx_block {
    unsigned char *ptr;
    size_t len;
} lx_block;

typedef struct lx_arena {
    /* Hot: the bump window and what the fast path checks. Addresses held
     * as integers: the fast path adds no page base, and a pointer is only
     * formed once it is known to lie inside the window (never past the
     * page). That int-to-pointer cast is what clang-tidy's
     * performance-no-int-to-ptr warns about; here it saves the load and
     * the add of a page base on every allocation (bench/README.md). The window [off, lim) ends at the page end or where the
     * budget runs out, whichever comes first, so the fast path needs no
     * budget check. off > lim means "no window": the fast path then
     * always falls through. */
    uintptr_t off, lim;
    lx_block *blocks;
    size_t nblocks, cap_blocks;
    uint64_t hbase; /* ((uint64_t)gen << 32) ^ key: handle = hbase ^ index */
    size_t allocs;  /* lx_arena_alloc calls since reset; handle ones are nblocks */
    uint64_t key; /* bit 31 flips with each lap of gen */
    uint32_t gen;
    int err; /* enum lx_err of the last failed allocation */

    /* Warm: the budget's books, touched once per window. */
    uintptr_t woff; /* where the window started */
    uintptr_t plim; /* where the page ends (lim <= plim); 0: no window */
    size_t used; /* bytes handed out before the window */

    /* Cold: the page chain and the counters. */
    size_t page_size;
    size_t max_bytes; /* LX_NO_BUDGET: none */
    unsigned char **pages;
    size_t npages, cap_pages, ipage; /* pages[ipage] is being bumped */
    lx_chunk *chunks;                /* large blocks, one chunk each */
    size_t nchunks, cap_chunks;
    size_t large_allocs, wasted, peak_bytes;
    unsigned long long resets;
    lx_pool *pool;  /* where pages and chunks come from and go back to */
    lx_pool own;    /* used when the caller gave no pool */
} lx_arena;

typedef struct lx_stats {
    size_t bytes_allocated; /* handed out since reset, padding included */
    size_t wasted;          /* page tails skipped since reset */
    size_t page_count;      /* pages + large chunks held now */
    size_t pages, chunks;
    size_t allocs, large_allocs; /* since reset */
    size_t capacity;             /* bytes of every page and chunk held */
    size_t peak_bytes;           /* highest bytes_allocated ever */
    unsigned long long resets;
} lx_stats;

/*
 * A bump position (lx_arena_mark) to go back to (lx_arena_rewind): the
 * page being bumped and the offset in it, and the books at that moment.
 * npages is the number of pages in use then (ipage + 1), 0 for none.
 */
typedef struct lx_mark {
    size_t npages, ipage, off;
    size_t bytes, wasted, allocs, large_allocs, nchunks;
} lx_mark;

/* A fresh key for each arena; `state` is any caller-held 64-bit seed. */
uint64_t lx_next_key(uint64_t *state);

int lx_valid_page_size(size_t page_size);

/*
 * A new, empty arena (no pages until the first allocation). With a pool,
 * pages, chunks and the arena itself are recycled through it; the pool's
 * page size wins. max_bytes is a budget, or LX_NO_BUDGET. NULL when out
 * of memory.
 */
lx_arena *lx_arena_new(lx_pool *pool, size_t page_size, size_t max_bytes, uint64_t key);
/* Gives every page and chunk back (to the pool, or the system). */
void lx_arena_free(lx_arena *a);
/* Forgets every block; keeps the pages; invalidates every handle. */
void lx_arena_reset(lx_arena *a);
void lx_arena_stats(const lx_arena *a, lx_stats *s);

/*
 * The bump position now. Rewinding to it later forgets every block made
 * after it (chunks go back to the pool, pages are kept), invalidates
 * every handle (like reset) and leaves the bytes before it untouched.
 * Rewind returns -1 and changes nothing when the arena no longer holds
 * what the mark covers (a reset in between dropped it) or when the mark's
 * bytes would pass the budget.
 */
void lx_arena_mark(const lx_arena *a, lx_mark *m);
int lx_arena_rewind(lx_arena *a, const lx_mark *m);

/*
 * The allocation step of a foreign allocator with lua_Alloc's contract:
 * p == NULL: a new block of nsize; nsize == 0: NULL, and the block stays
 * until reset (a bump arena frees nothing one by one); nsize <= osize: p
 * itself; growing: the block grows in place when it is the last one of
 * the window and the window (page and budget) has room, else a new block
 * gets the osize bytes. NULL on failure, with the reason in a->err.
 */
void *lx_arena_realloc(lx_arena *a, void *p, size_t osize, size_t nsize, size_t align);

/* A new budget. -1 (and no change) when the arena already holds more. */
int lx_arena_set_budget(lx_arena *a, size_t max_bytes);

/* Branch hints and out-of-line slow paths: the fast paths below are
 * inlined into every caller, and the compiler should lay them out as one
 * straight run with the slow calls moved aside. */
#if defined(__GNUC__)
#define LX_LIKELY(x) __builtin_expect(!!(x), 1)
#define LX_COLD __attribute__((cold, noinline))
/* What the compiler cannot see: a pointer into an open window is never
 * NULL, so callers' NULL tests vanish from the fast path. */
#define LX_NONNULL(p) ((p) != NULL ? (void)0 : __builtin_unreachable())
#else
#define LX_LIKELY(x) (x)
#define LX_COLD
#define LX_NONNULL(p) ((void)0)
#endif

/* A new block and its handle, returned in registers rather than through
 * a pointer, so that the caller's handle need not live in memory. */
typedef struct lx_newblock {
    void *p; /* NULL on failure */
    int64_t h;
} lx_newblock;

/* Everything the fast paths do not do; both count what they hand out. */
LX_COLD void *lx_arena_alloc_slow(lx_arena *a, size_t n, size_t align);
LX_COLD lx_newblock lx_arena_alloc_h_slow(lx_arena *a, size_t n, size_t align);
int lx_arena_grow_blocks(lx_arena *a);

static inline size_t lx_arena_bytes(const lx_arena *a)
{
    return a->used + (size_t)(a->off - a->woff); /* no window: off == woff */
}

/* The window's next address aligned to `align`. off is inside a page (or
 * 1: no window), so the sum cannot wrap. */
static inline uintptr_t lx_arena_start(const lx_arena *a, size_t align)
{
    return (a->off + (align - 1)) & ~(uintptr_t)(align - 1);
}

/*
 * n bytes aligned to `align` (a power of two <= LX_MAX_ALIGN), not
 * initialised. NULL on failure, with the reason in a->err.
 */
static inline void *lx_arena_alloc(lx_arena *a, size_t n, size_t align)
{
    uintptr_t start = lx_arena_start(a, align);
    /* start <= lim first, so lim - start cannot wrap. */
    if (LX_LIKELY(start <= a->lim && n <= a->lim - start)) {
        unsigned char *p = (unsigned char *)start; /* NOLINT(performance-no-int-to-ptr) */
        LX_NONNULL(p);
        a->off = start + n;
        a->allocs++;
        LX_UNPOISON(p, n);
        return p;
    }
    return lx_arena_alloc_slow(a, n, align);
}

/* As lx_arena_alloc, and records the block so that its handle (b.h, or
 * *h) can find it. One test covers both the window and the block table;
 * everything else (a new page, a large block, a bigger table) is
 * lx_arena_alloc_h_slow. */
static inline lx_newblock lx_arena_new_block(lx_arena *a, size_t n, size_t align)
{
    size_t i = a->nblocks;
    uintptr_t start = lx_arena_start(a, align);
    if (LX_LIKELY(i != a->cap_blocks && start <= a->lim && n <= a->lim - start)) {
        lx_newblock b;
        unsigned char *p = (unsigned char *)start; /* NOLINT(performance-no-int-to-ptr) */
        LX_NONNULL(p);
        a->off = start + n;
        LX_UNPOISON(p, n);
        a->blocks[i].ptr = p;
        a->blocks[i].len = n;
        a->nblocks = i + 1;
        b.p = p;
        b.h = (int64_t)(a->hbase ^ i);
        return b;
    }
    return lx_arena_alloc_h_slow(a, n, align);
}

static inline void *lx_arena_alloc_h(lx_arena *a, size_t n, size_t align, int64_t *h)
{
    lx_newblock b = lx_arena_new_block(a, n, align);
    if (b.p != NULL) /* on failure *h is left alone */
        *h = b.h;
    return b.p;
}

/*
 * memset(p, 0, n), with the small sizes done as two overlapping stores of
 * constant size that the compiler inlines: zeroing a 24-byte block then
 * costs two instructions instead of a call into libc.
 */
static inline void lx_zero(void *dst, size_t n)
{
    unsigned char *p = dst;
    if (n > 32)
        memset(p, 0, n);
    else if (n >= 16) {
        memset(p, 0, 16);
        memset(p + n - 16, 0, 16);
    } else if (n >= 8) {
        memset(p, 0, 8);
        memset(p + n - 8, 0, 8);
    } else if (n >= 4) {
        memset(p, 0, 4);
        memset(p + n - 4, 0, 4);
    } else if (n >= 2) {
        memset(p, 0, 2);
        memset(p + n - 2, 0, 2);
    } else if (n == 1) {
        p[0] = 0;
    }
}

/* The live block behind handle h, or NULL for stale/foreign/forged. */
static inline lx_block *lx_arena_lookup(const lx_arena *a, int64_t h)
{
    /* Another generation leaves a non-zero high word: idx >= 2^32. */
    uint64_t idx = (uint64_t)h ^ a->hbase;
    if (idx >= a->nblocks)
        return NULL;
    return &a->blocks[idx];
}

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
