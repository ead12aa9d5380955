/*
 * C unit tests of lexrt's arena core (csrc/arena.c, pool.c, sysmem.c),
 * no Lua involved.
 *
 * The runner is check.h's; it turns recycling on before each test, so
 * that the result does not depend on LEXRT_NO_RECYCLE: test_recycling_off
 * covers the other mode explicitly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "arena_support.h"
#include "check.h"
#include "pool.h"
#include "sysmem.h"

#define TWO32 ((int64_t)1 << 32)

static int stats_equal(const lx_stats *x, const lx_stats *y)
{
    return x->bytes_allocated == y->bytes_allocated && x->wasted == y->wasted &&
           x->page_count == y->page_count && x->pages == y->pages && x->chunks == y->chunks &&
           x->allocs == y->allocs && x->large_allocs == y->large_allocs &&
           x->capacity == y->capacity && x->peak_bytes == y->peak_bytes && x->resets == y->resets;
}

/* Whether lx_arena_lookup(a, h) is NULL or exactly one of a's live blocks. */
static int lookup_is_safe(const lx_arena *a, int64_t h)
{
    const lx_block *b = lx_arena_lookup(a, h);
    return b == NULL || (b >= a->blocks && b < a->blocks + a->nblocks);
}

static uint64_t rng_state = 88172645463325252u;
static uint64_t rnd(void)
{
    /* xorshift64 */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ------------------------------------------------------------------ */

static void test_valid_page_size(void)
{
    CHECK(lx_valid_page_size(4096));
    CHECK(lx_valid_page_size(65536));
    CHECK(lx_valid_page_size(LX_MAX_PAGE));
    CHECK(!lx_valid_page_size(0));
    CHECK(!lx_valid_page_size(2048));
    CHECK(!lx_valid_page_size(4097));
    CHECK(!lx_valid_page_size(12288));
    CHECK(!lx_valid_page_size(LX_MAX_PAGE * 2));
}

static void test_empty(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    lx_stats s = st(a);
    CHECK(s.page_count == 0);
    CHECK(s.pages == 0);
    CHECK(s.chunks == 0);
    CHECK(s.bytes_allocated == 0);
    CHECK(s.wasted == 0);
    CHECK(s.allocs == 0);
    CHECK(s.large_allocs == 0);
    CHECK(s.capacity == 0);
    CHECK(s.peak_bytes == 0);
    CHECK(s.resets == 0);
    CHECK(lx_arena_lookup(a, 0) == NULL);
    /* reset of an empty arena is harmless */
    lx_arena_reset(a);
    s = st(a);
    CHECK(s.page_count == 0 && s.bytes_allocated == 0 && s.resets == 1);
    lx_arena_free(a);
}

static void test_first_alloc_makes_page(void)
{
    size_t sizes[] = {4096, 8192, 65536};
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        lx_arena *a = mk(NULL, sizes[i], LX_NO_BUDGET);
        void *p = lx_arena_alloc(a, 16, 8);
        lx_stats s = st(a);
        CHECK(p != NULL);
        CHECK(((uintptr_t)p & 4095u) == 0); /* first block starts the page */
        CHECK(s.page_count == 1);
        CHECK(s.pages == 1);
        CHECK(s.chunks == 0);
        CHECK(s.capacity == sizes[i]);
        CHECK(s.bytes_allocated == 16);
        CHECK(s.allocs == 1);
        CHECK(s.wasted == 0);
        lx_arena_free(a);
    }
}

static void test_grow_to_new_page(void)
{
    size_t sizes[] = {4096, 16384, 65536};
    size_t i;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t ps = sizes[i];
        lx_arena *a = mk(NULL, ps, LX_NO_BUDGET);
        unsigned char *p1 = lx_arena_alloc(a, ps - 100, 1);
        unsigned char *p2;
        lx_stats s = st(a);
        CHECK(p1 != NULL);
        CHECK(s.page_count == 1);
        p2 = lx_arena_alloc(a, 200, 1);
        s = st(a);
        CHECK(p2 != NULL);
        CHECK(s.page_count == 2);
        CHECK(s.pages == 2);
        CHECK(s.wasted == 100);
        CHECK(s.bytes_allocated == ps - 100 + 200);
        CHECK(s.capacity == 2 * ps);
        CHECK(p2 + 200 <= p1 || p2 >= p1 + ps - 100);
        /* exactly the rest of page 2 still fits without a third page */
        CHECK(lx_arena_alloc(a, ps - 200, 1) == p2 + 200);
        s = st(a);
        CHECK(s.pages == 2);
        CHECK(s.wasted == 100);
        /* a full page: the next byte goes to page 3, nothing wasted */
        CHECK(lx_arena_alloc(a, 1, 1) != NULL);
        s = st(a);
        CHECK(s.pages == 3);
        CHECK(s.wasted == 100);
        lx_arena_free(a);
    }
}

struct region {
    uintptr_t beg, end;
    unsigned seed;
};

static int cmp_region(const void *x, const void *y)
{
    const struct region *a = x, *b = y;
    return a->beg < b->beg ? -1 : a->beg > b->beg;
}

static void test_no_overlap(void)
{
    enum { N = 3000 };
    static struct region r[N];
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    size_t i, n = 0;
    for (i = 0; i < N; i++) {
        size_t len = (size_t)(rnd() % 700) + 1;
        size_t align = (size_t)1 << (rnd() % 13);
        unsigned char *p;
        if (i % 97 == 0)
            len = 4096 + (size_t)(rnd() % 20000); /* a large one now and then */
        p = lx_arena_alloc(a, len, align);
        CHECK_OR_BREAK(p != NULL);
        CHECK_OR_BREAK(((uintptr_t)p & (align - 1)) == 0);
        fill(p, len, (unsigned)i);
        r[n].beg = (uintptr_t)p;
        r[n].end = (uintptr_t)p + len;
        r[n].seed = (unsigned)i;
        n++;
    }
    for (i = 0; i < n; i++)
        CHECK_OR_BREAK(filled((void *)r[i].beg, r[i].end - r[i].beg, r[i].seed));
    qsort(r, n, sizeof r[0], cmp_region);
    for (i = 1; i < n; i++)
        CHECK_OR_BREAK(r[i - 1].end <= r[i].beg);
    lx_arena_free(a);
}

static void test_alignment(void)
{
    size_t sizes[] = {4096, 65536};
    size_t lens[] = {1, 3, 8, 100, 1000};
    size_t si, li, align;
    for (si = 0; si < 2; si++) {
        for (li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            for (align = 1; align <= LX_MAX_ALIGN; align *= 2) {
                lx_arena *a = mk(NULL, sizes[si], LX_NO_BUDGET);
                unsigned char *p0, *p;
                lx_stats s0, s1;
                /* fresh arena */
                p = lx_arena_alloc(a, lens[li], align);
                CHECK_OR_BREAK(p != NULL && ((uintptr_t)p % align) == 0);
                /* knock the bump pointer off any alignment */
                p0 = lx_arena_alloc(a, 1, 1);
                CHECK_OR_BREAK(p0 != NULL);
                s0 = st(a);
                p = lx_arena_alloc(a, lens[li], align);
                s1 = st(a);
                CHECK_OR_BREAK(p != NULL && ((uintptr_t)p % align) == 0);
                if (s1.pages == s0.pages) {
                    /* same page: the padding is counted as allocated */
                    CHECK_OR_BREAK(p > p0);
                    CHECK_OR_BREAK(s1.bytes_allocated - s0.bytes_allocated ==
                                   (size_t)(p - (p0 + 1)) + lens[li]);
                    CHECK_OR_BREAK((size_t)(p - (p0 + 1)) < align);
                } else {
                    CHECK_OR_BREAK(s1.bytes_allocated - s0.bytes_allocated == lens[li]);
                }
                memset(p, 0xab, lens[li]);
                /* with handles */
                {
                    int64_t h = 0;
                    unsigned char *q = lx_arena_alloc_h(a, lens[li], align, &h);
                    lx_block *b;
                    CHECK_OR_BREAK(q != NULL && ((uintptr_t)q % align) == 0);
                    b = lx_arena_lookup(a, h);
                    CHECK_OR_BREAK(b != NULL && b->ptr == q && b->len == lens[li]);
                }
                /* larger than a page */
                p = lx_arena_alloc(a, sizes[si] + lens[li], align);
                CHECK_OR_BREAK(p != NULL && ((uintptr_t)p % align) == 0);
                memset(p, 0xcd, sizes[si] + lens[li]);
                lx_arena_free(a);
            }
        }
    }
}

static void test_padding_counted(void)
{
    lx_arena *a = mk(NULL, 65536, LX_NO_BUDGET);
    unsigned char *p1, *p2, *p3, *p4;
    p1 = lx_arena_alloc(a, 1, 1);
    CHECK(p1 != NULL && st(a).bytes_allocated == 1);
    p2 = lx_arena_alloc(a, 8, 8);
    CHECK(p2 == p1 + 8);
    CHECK(st(a).bytes_allocated == 16);
    p3 = lx_arena_alloc(a, 1, 1);
    CHECK(p3 == p1 + 16);
    CHECK(st(a).bytes_allocated == 17);
    p4 = lx_arena_alloc(a, 4, 4096);
    CHECK(p4 == p1 + 4096);
    CHECK(st(a).bytes_allocated == 4100);
    CHECK(st(a).peak_bytes == 4100);
    CHECK(st(a).allocs == 4);
    lx_arena_free(a);
}

static void test_wasted(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    lx_stats s;
    CHECK(lx_arena_alloc(a, 4000, 1) != NULL);
    CHECK(lx_arena_alloc(a, 200, 1) != NULL);
    s = st(a);
    CHECK(s.wasted == 96);
    CHECK(s.bytes_allocated == 4200); /* wasted tails are not "allocated" */
    CHECK(lx_arena_alloc(a, 3900, 1) != NULL);
    s = st(a);
    CHECK(s.pages == 3);
    CHECK(s.wasted == 96 + (4096 - 200));
    /* a large block does not move the window: nothing wasted */
    CHECK(lx_arena_alloc(a, 5000, 8) != NULL);
    s = st(a);
    CHECK(s.wasted == 96 + (4096 - 200));
    CHECK(lx_arena_alloc(a, 196, 1) != NULL);
    s = st(a);
    CHECK(s.pages == 3 && s.wasted == 96 + (4096 - 200));
    /* reset zeroes it */
    lx_arena_reset(a);
    CHECK(st(a).wasted == 0);
    lx_arena_free(a);
}

static void test_large(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    unsigned char *p, *q;
    lx_stats s;
    p = lx_arena_alloc(a, 5000, 16);
    s = st(a);
    CHECK(p != NULL);
    CHECK(((uintptr_t)p & 4095u) == 0);
    CHECK(s.chunks == 1);
    CHECK(s.pages == 0);
    CHECK(s.page_count == 1);
    CHECK(s.large_allocs == 1);
    CHECK(s.allocs == 1);
    CHECK(s.bytes_allocated == 5000);
    CHECK(s.capacity == 8192); /* chunks are whole 4096-byte units */
    memset(p, 0x5a, 5000);
    q = lx_arena_alloc(a, 10, 8);
    s = st(a);
    CHECK(q != NULL && s.pages == 1 && s.chunks == 1 && s.page_count == 2);
    CHECK(s.large_allocs == 1 && s.allocs == 2);
    /* exactly a page is not large; one more byte is */
    CHECK(lx_arena_alloc(a, 4096, 8) != NULL);
    s = st(a);
    CHECK(s.large_allocs == 1 && s.pages == 2 && s.chunks == 1);
    CHECK(lx_arena_alloc(a, 4097, 8) != NULL);
    s = st(a);
    CHECK(s.large_allocs == 2 && s.pages == 2 && s.chunks == 2 && s.page_count == 4);
    CHECK(s.bytes_allocated == 5000 + 10 + 4096 + 4097);
    CHECK(s.wasted == 4096 - 10);
    {
        int64_t h = 0;
        unsigned char *r = lx_arena_alloc_h(a, 100000, 4096, &h);
        lx_block *b = lx_arena_lookup(a, h);
        CHECK(r != NULL && b != NULL && b->ptr == r && b->len == 100000);
        memset(r, 1, 100000);
        CHECK(st(a).large_allocs == 3);
    }
    lx_arena_free(a);
}

/* Sizes the system cannot give: NULL with LX_ENOMEM, nothing changed
 * (4096-rounding must not wrap to a tiny block). */
static void test_huge(void)
{
    size_t sizes[] = {SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4095, SIZE_MAX - 4096, SIZE_MAX / 2 + 1,
                      SIZE_MAX / 2, (size_t)1 << 50};
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    lx_arena *b = mk(NULL, 4096, 1000000);
    size_t i;
    int64_t h = 3;
    CHECK(lx_arena_alloc(a, 100, 8) != NULL);
    CHECK(lx_arena_alloc(a, 10000, 8) != NULL);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        lx_stats s0 = st(a), s1;
        /* "No budget" is a budget of SIZE_MAX, so a request above
         * SIZE_MAX - bytes_allocated is refused as LX_EBUDGET even without
         * max_bytes (a quirk, reported); anything else is LX_ENOMEM. */
        int want = sizes[i] > SIZE_MAX - s0.bytes_allocated ? LX_EBUDGET : LX_ENOMEM;
        CHECK(lx_arena_alloc(a, sizes[i], 8) == NULL && a->err == want);
        CHECK(lx_arena_alloc_h(a, sizes[i], 4096, &h) == NULL && a->err == want);
        CHECK(h == 3);
        s1 = st(a);
        CHECK(stats_equal(&s0, &s1));
        CHECK(lx_arena_alloc(b, sizes[i], 8) == NULL && b->err == LX_EBUDGET);
    }
    CHECK(lx_arena_alloc(a, 10000, 8) != NULL);
    CHECK(st(a).bytes_allocated == 20100 && st(a).large_allocs == 2);
    lx_arena_free(a);
    lx_arena_free(b);
}

static void test_budget(void)
{
    lx_arena *a = mk(NULL, 4096, 10000);
    lx_stats s0, s1;
    int64_t h = 0x77;
    CHECK(lx_arena_alloc(a, 4000, 1) != NULL);
    CHECK(lx_arena_alloc(a, 4000, 1) != NULL);
    s0 = st(a);
    CHECK(lx_arena_alloc(a, 2001, 1) == NULL);
    CHECK(a->err == LX_EBUDGET);
    s1 = st(a);
    CHECK(stats_equal(&s0, &s1));
    CHECK(lx_arena_alloc_h(a, 2001, 1, &h) == NULL);
    CHECK(h == 0x77); /* untouched */
    CHECK(a->nblocks == 0);
    /* large over budget */
    CHECK(lx_arena_alloc(a, 5000, 8) == NULL);
    CHECK(a->err == LX_EBUDGET);
    s1 = st(a);
    CHECK(stats_equal(&s0, &s1));
    /* the exact ceiling is allowed */
    CHECK(lx_arena_alloc_h(a, 2000, 1, &h) != NULL);
    CHECK(lx_arena_lookup(a, h) != NULL);
    s1 = st(a);
    CHECK(s1.bytes_allocated == 10000);
    CHECK(lx_arena_alloc(a, 1, 1) == NULL && a->err == LX_EBUDGET);
    CHECK(lx_arena_alloc(a, 0, 1) != NULL); /* nothing more: still fits */
    /* usable after reset, the whole budget again */
    lx_arena_reset(a);
    CHECK(a->err == LX_OK);
    CHECK(lx_arena_alloc(a, 5000, 8) != NULL); /* large */
    CHECK(lx_arena_alloc(a, 4000, 8) != NULL);
    CHECK(lx_arena_alloc(a, 1000, 8) != NULL);
    CHECK(st(a).bytes_allocated == 10000);
    CHECK(lx_arena_alloc(a, 1, 1) == NULL && a->err == LX_EBUDGET);
    CHECK(st(a).peak_bytes == 10000);
    lx_arena_free(a);

    /* padding counts against the budget */
    a = mk(NULL, 4096, 16);
    CHECK(lx_arena_alloc(a, 1, 1) != NULL);
    CHECK(lx_arena_alloc(a, 9, 8) == NULL && a->err == LX_EBUDGET);
    CHECK(lx_arena_alloc(a, 8, 8) != NULL);
    CHECK(st(a).bytes_allocated == 16);
    CHECK(lx_arena_alloc(a, 1, 1) == NULL && a->err == LX_EBUDGET);
    CHECK(st(a).pages == 1);
    lx_arena_free(a);

    /* a zero budget takes no page at all */
    a = mk(NULL, 4096, 0);
    CHECK(lx_arena_alloc(a, 1, 1) == NULL && a->err == LX_EBUDGET);
    CHECK(lx_arena_alloc(a, 5000, 1) == NULL && a->err == LX_EBUDGET);
    CHECK(st(a).page_count == 0);
    lx_arena_free(a);

    /* a budget reached across a page boundary */
    a = mk(NULL, 4096, 4096 + 50);
    CHECK(lx_arena_alloc(a, 4000, 1) != NULL);
    CHECK(lx_arena_alloc(a, 147, 1) == NULL && a->err == LX_EBUDGET);
    CHECK(st(a).pages == 1); /* no page taken for a refused block */
    CHECK(lx_arena_alloc(a, 146, 1) != NULL);
    CHECK(st(a).pages == 2 && st(a).bytes_allocated == 4146);
    lx_arena_free(a);
}

static void test_reset(void)
{
    lx_pool pool;
    lx_arena *a, *b;
    int64_t hs[600];
    unsigned char *first = NULL;
    size_t i, n = 0;
    lx_stats s0, s1;
    unsigned long long sysa;

    CHECK(lx_pool_init(&pool, 4096, 16, (size_t)1 << 20) == 0);
    a = mk(&pool, 4096, LX_NO_BUDGET);
    b = mk(NULL, 4096, LX_NO_BUDGET);
    for (i = 0; i < 300; i++) {
        unsigned char *p = lx_arena_alloc_h(a, 40, 8, &hs[n]);
        CHECK_OR_BREAK(p != NULL);
        if (i == 0)
            first = p;
        n++;
        CHECK_OR_BREAK(lx_arena_alloc_h(b, 40, 8, &hs[n]) != NULL);
        n++;
    }
    CHECK(lx_arena_alloc(a, 10000, 8) != NULL);
    CHECK(lx_arena_alloc(b, 10000, 8) != NULL);
    s0 = st(a);
    CHECK(s0.pages == 3 && s0.chunks == 1);
    lx_arena_reset(a);
    lx_arena_reset(b);
    s1 = st(a);
    CHECK(s1.pages == 3);
    CHECK(s1.chunks == 0);         /* pooled: the chunk went back to the pool */
    CHECK(s1.page_count == 3);
    CHECK(s1.capacity == 3 * 4096);
    CHECK(s1.bytes_allocated == 0);
    CHECK(s1.allocs == 0);
    CHECK(s1.large_allocs == 0);
    CHECK(s1.wasted == 0);
    CHECK(s1.resets == 1);
    CHECK(s1.peak_bytes == s0.bytes_allocated);
    CHECK(pool.nchunks == 1);
    s1 = st(b);
    CHECK(s1.pages == 3);
    CHECK(s1.page_count == 3 + s1.chunks); /* standalone keeps its chunk */
    CHECK(s1.chunks == 1);
    CHECK(s1.bytes_allocated == 0 && s1.allocs == 0 && s1.resets == 1);
    for (i = 0; i < n; i++) {
        CHECK_OR_BREAK(lx_arena_lookup(a, hs[i]) == NULL);
        CHECK_OR_BREAK(lx_arena_lookup(b, hs[i]) == NULL);
    }
#ifdef LX_HAVE_ASAN
    CHECK(__asan_address_is_poisoned(first));
    CHECK(__asan_address_is_poisoned(first + 4095));
#endif
    /* the kept pages are reused in order, without asking the system */
    sysa = lx_sys_allocations();
    CHECK(lx_arena_alloc(a, 40, 8) == first);
    for (i = 0; i < 250; i++)
        CHECK_OR_BREAK(lx_arena_alloc(a, 40, 8) != NULL);
    CHECK(lx_arena_alloc(a, 10000, 8) != NULL); /* the pooled chunk */
    CHECK(lx_sys_allocations() == sysa);
    CHECK(st(a).pages == 3);
    CHECK(pool.chunks_reused == 1);
    lx_arena_free(a);
    lx_arena_free(b);
    lx_pool_destroy(&pool);
}

static void test_handles_basic(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    lx_arena *b = mk(NULL, 4096, LX_NO_BUDGET);
    int64_t ha[1000], hb[1000];
    unsigned char *pa[1000];
    size_t i;
    for (i = 0; i < 1000; i++) {
        pa[i] = lx_arena_alloc_h(a, i % 50 + 1, 1, &ha[i]);
        CHECK_OR_BREAK(pa[i] != NULL);
        fill(pa[i], i % 50 + 1, (unsigned)i);
        CHECK_OR_BREAK(lx_arena_alloc_h(b, 8, 8, &hb[i]) != NULL);
        /* never in [-2^32, 2^32) */
        CHECK_OR_BREAK(ha[i] >= TWO32 || ha[i] < -TWO32);
        CHECK_OR_BREAK(hb[i] >= TWO32 || hb[i] < -TWO32);
    }
    for (i = 0; i < 1000; i++) {
        lx_block *blk = lx_arena_lookup(a, ha[i]);
        CHECK_OR_BREAK(blk != NULL && blk->ptr == pa[i] && blk->len == i % 50 + 1);
        CHECK_OR_BREAK(filled(blk->ptr, blk->len, (unsigned)i));
    }
    /* distinct handles */
    for (i = 1; i < 1000; i++)
        CHECK_OR_BREAK(ha[i] != ha[i - 1]);
    /* foreign: the other arena's handles. The documented guarantee is
     * "refused, or at worst one of this arena's own live blocks"; with
     * these fixed keys no false match happens, so require NULL. */
    for (i = 0; i < 1000; i++) {
        CHECK_OR_BREAK(lookup_is_safe(a, hb[i]));
        CHECK_OR_BREAK(lx_arena_lookup(a, hb[i]) == NULL);
        CHECK_OR_BREAK(lx_arena_lookup(b, ha[i]) == NULL);
    }
    /* one past the table, and the right index with a wrong generation */
    {
        uint64_t key = a->key;
        int64_t past = (int64_t)((((uint64_t)a->gen << 32) | a->nblocks) ^ key);
        int64_t oldgen = (int64_t)((((uint64_t)(a->gen - 1) << 32) | 0u) ^ key);
        int64_t newgen = (int64_t)((((uint64_t)(a->gen + 1) << 32) | 0u) ^ key);
        int64_t huge = (int64_t)((((uint64_t)a->gen << 32) | 0xffffffffu) ^ key);
        CHECK(lx_arena_lookup(a, past) == NULL);
        CHECK(lx_arena_lookup(a, huge) == NULL);
        CHECK(lx_arena_lookup(a, oldgen) == NULL);
        CHECK(lx_arena_lookup(a, newgen) == NULL);
    }
    lx_arena_free(a);
    lx_arena_free(b);
}

/* 2^31 - 1 blocks cannot be made in a test; fake the count (the check
 * comes before the table is touched) to see the refusal path. */
static void test_too_many_blocks(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    int64_t h = 5;
    size_t nb, cap;
    lx_stats s0, s1;
    CHECK(lx_arena_alloc_h(a, 8, 8, &h) != NULL);
    s0 = st(a);
    nb = a->nblocks;
    cap = a->cap_blocks;
    a->nblocks = a->cap_blocks = LX_MAX_BLOCKS;
    h = 5;
    CHECK(lx_arena_alloc_h(a, 8, 8, &h) == NULL);
    CHECK(a->err == LX_ETOOMANY && h == 5);
    a->nblocks = nb;
    a->cap_blocks = cap;
    s1 = st(a);
    CHECK(stats_equal(&s0, &s1));
    CHECK(lx_arena_alloc_h(a, 8, 8, &h) != NULL && lx_arena_lookup(a, h) != NULL);
    lx_arena_free(a);
}

static void check_forged(lx_arena *a)
{
    int64_t specials[] = {0, 1, -1, 2, -2, 42, -42, 1000000, INT32_MAX, INT32_MIN,
                          (int64_t)UINT32_MAX, TWO32 - 1, -TWO32, INT64_MIN, INT64_MAX,
                          INT64_MIN + 1, INT64_MAX - 1, TWO32, -TWO32 - 1};
    int64_t h = 0;
    size_t i;
    for (i = 0; i < sizeof specials / sizeof specials[0]; i++) {
        int64_t x = specials[i];
        if (x >= -TWO32 && x < TWO32)
            CHECK(lx_arena_lookup(a, x) == NULL);
        else
            CHECK(lookup_is_safe(a, x));
    }
    /* every integer near 0 and near +-2^32: [-2^32, 2^32) is guaranteed to
     * be refused; outside it, only "never anything but a live block". */
    for (h = -5000; h <= 5000; h++)
        CHECK_OR_BREAK(lx_arena_lookup(a, h) == NULL);
    for (h = TWO32 - 5000; h < TWO32; h++)
        CHECK_OR_BREAK(lx_arena_lookup(a, h) == NULL);
    for (h = -TWO32; h < -TWO32 + 5000; h++)
        CHECK_OR_BREAK(lx_arena_lookup(a, h) == NULL);
    for (h = TWO32; h < TWO32 + 5000; h++)
        CHECK_OR_BREAK(lookup_is_safe(a, h));
    for (h = -TWO32 - 5000; h < -TWO32; h++)
        CHECK_OR_BREAK(lookup_is_safe(a, h));
    for (h = INT64_MIN; h < INT64_MIN + 1000; h++)
        CHECK_OR_BREAK(lookup_is_safe(a, h));
    for (h = INT64_MAX; h > INT64_MAX - 1000; h--)
        CHECK_OR_BREAK(lookup_is_safe(a, h));
    for (i = 0; i < 100000; i++)
        CHECK_OR_BREAK(lookup_is_safe(a, (int64_t)rnd()));
}

/* Puts the arena at generation g of its current lap, as 2^32-odd resets
 * would (the same computation as arena.c's set_gen). */
static void jump_to_gen(lx_arena *a, uint32_t g)
{
    a->gen = g;
    a->hbase = ((uint64_t)g << 32) ^ a->key;
}

/* A generation whose handles have a usable high word under this key. */
static int usable_gen(const lx_arena *a, uint32_t g)
{
    uint32_t hk = (uint32_t)(a->key >> 32);
    return (g ^ hk) != 0 && (g ^ hk) != 0xffffffffu;
}

/*
 * The contract (API.md): a stale handle is refused across at least 2^32
 * resets. One lap of the 32-bit generation holds 2^32 - 2 usable
 * generations, so a lap alone falls short; crossing 2^32 flips bit 31 of
 * the key, and since indexes stay below 2^31 a handle of the last lap
 * decodes to an index >= 2^31 at its own generation. The same state
 * comes back only two laps later: 2^33 - 4 resets.
 */
static void test_generation_laps(void)
{
    uint64_t keys[] = {0x0123456789abcdefu, 0, 0xffffffff00000000u, 0x00000000ffffffffu,
                       0x7fffffff7fffffffu, 0xfffffffe80000001u};
    size_t k;
    for (k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        lx_arena *a = lx_arena_new(NULL, 4096, LX_NO_BUDGET, keys[k]);
        uint64_t key0;
        uint32_t g = 77, last;
        int64_t h0 = 0, hmax = 0, h;
        size_t r, nb, cap;
        CHECK_OR_BREAK(a != NULL);
        while (!usable_gen(a, g))
            g++;
        jump_to_gen(a, g);
        key0 = a->key;
        CHECK(lx_arena_alloc_h(a, 8, 8, &h0) != NULL);
        /* the largest index there can be: fake the count, as in
         * test_too_many_blocks (lookup reads no block it refuses) */
        hmax = (int64_t)((((uint64_t)g << 32) | (LX_MAX_BLOCKS - 1)) ^ a->key);

        /* the rest of the lap: reset up to the end of 2^32 */
        jump_to_gen(a, 0xfffffff0u);
        for (r = 0, last = a->gen; r < 40; r++, last = a->gen) {
            lx_arena_reset(a);
            CHECK_OR_BREAK(usable_gen(a, a->gen));
            CHECK_OR_BREAK(a->gen != last);
            if (a->gen < last)
                break;
        }
        CHECK(a->gen < 8 && a->key == (key0 ^ ((uint64_t)1 << 31)));
        check_forged(a);

        /* the next lap, at the handle's own generation */
        jump_to_gen(a, g);
        CHECK(lx_arena_alloc_h(a, 8, 8, &h) != NULL && h != h0);
        CHECK(lx_arena_lookup(a, h0) == NULL);
        nb = a->nblocks;
        cap = a->cap_blocks;
        a->nblocks = a->cap_blocks = LX_MAX_BLOCKS;
        CHECK(lx_arena_lookup(a, h0) == NULL);
        CHECK(lx_arena_lookup(a, hmax) == NULL);
        a->nblocks = nb;
        a->cap_blocks = cap;

        /* two laps on, the state comes back: h0 names a block again */
        jump_to_gen(a, 0xfffffff0u);
        for (r = 0, last = a->gen; r < 40 && a->gen >= last; r++) {
            last = a->gen;
            lx_arena_reset(a);
        }
        CHECK(a->key == key0);
        jump_to_gen(a, g);
        CHECK(lx_arena_alloc_h(a, 8, 8, &h) != NULL && h == h0);
        lx_arena_free(a);
    }
}

static void test_handles_forged(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    int64_t h = 0;
    size_t i;
    check_forged(a); /* no blocks yet */
    for (i = 0; i < 10; i++)
        CHECK(lx_arena_alloc_h(a, 16, 8, &h) != NULL);
    check_forged(a);
    lx_arena_reset(a);
    for (i = 0; i < 10; i++)
        CHECK(lx_arena_alloc_h(a, 16, 8, &h) != NULL);
    check_forged(a);
    lx_arena_free(a);
}

/* Keys picked so that the natural next generation would give a handle
 * high word of 0 or all-ones: those generations must be skipped. */
static void test_handles_adversarial_keys(void)
{
    uint32_t lows[] = {0, 1, 5, 0x7fffffffu, 0xfffffffeu, 0xffffffffu};
    size_t i, k, r;
    for (i = 0; i < sizeof lows / sizeof lows[0]; i++) {
        uint32_t lo = lows[i];
        uint64_t keys[6];
        keys[0] = ((uint64_t)(uint32_t)(lo + 1) << 32) | lo;          /* gen0 ^ hk == 0 */
        keys[1] = ((uint64_t)(uint32_t)~(uint32_t)(lo + 1) << 32) | lo; /* == ~0 */
        keys[2] = ((uint64_t)(uint32_t)(lo + 2) << 32) | lo;          /* 1st reset */
        keys[3] = ((uint64_t)(uint32_t)~(uint32_t)(lo + 2) << 32) | lo;
        keys[4] = ((uint64_t)(uint32_t)(lo + 3) << 32) | lo;
        keys[5] = (uint64_t)lo; /* high key word 0 */
        for (k = 0; k < 6; k++) {
            lx_arena *a = lx_arena_new(NULL, 4096, LX_NO_BUDGET, keys[k]);
            int64_t old[8];
            CHECK_OR_BREAK(a != NULL);
            for (r = 0; r < 8; r++) {
                int64_t h = 0;
                size_t j;
                CHECK_OR_BREAK(lx_arena_alloc_h(a, 8, 8, &h) != NULL);
                CHECK_OR_BREAK(h >= TWO32 || h < -TWO32);
                CHECK_OR_BREAK(lx_arena_lookup(a, h) != NULL);
                for (j = 0; j < r; j++)
                    CHECK_OR_BREAK(lx_arena_lookup(a, old[j]) == NULL);
                old[r] = h;
                lx_arena_reset(a);
            }
            check_forged(a);
            lx_arena_free(a);
        }
    }
    /* many random keys: the first handle of several generations */
    for (i = 0; i < 2000; i++) {
        lx_arena *a = lx_arena_new(NULL, 4096, LX_NO_BUDGET, rnd());
        CHECK_OR_BREAK(a != NULL);
        for (r = 0; r < 3; r++) {
            int64_t h = 0;
            CHECK_OR_BREAK(lx_arena_alloc_h(a, 1, 1, &h) != NULL);
            CHECK_OR_BREAK(h >= TWO32 || h < -TWO32);
            lx_arena_reset(a);
        }
        lx_arena_free(a);
    }
}

static void test_ten_resets(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    enum { PER = 50 };
    int64_t hs[11][PER];
    size_t r, i, g;
    for (r = 0; r <= 10; r++) {
        for (i = 0; i < PER; i++)
            CHECK_OR_BREAK(lx_arena_alloc_h(a, i + 1, 8, &hs[r][i]) != NULL);
        for (i = 0; i < PER; i++) {
            lx_block *b = lx_arena_lookup(a, hs[r][i]);
            CHECK_OR_BREAK(b != NULL && b->len == i + 1);
        }
        for (g = 0; g < r; g++)
            for (i = 0; i < PER; i++)
                CHECK_OR_BREAK(lx_arena_lookup(a, hs[g][i]) == NULL);
        if (r < 10)
            lx_arena_reset(a);
    }
    lx_arena_reset(a);
    for (g = 0; g <= 10; g++)
        for (i = 0; i < PER; i++)
            CHECK_OR_BREAK(lx_arena_lookup(a, hs[g][i]) == NULL);
    CHECK(st(a).resets == 11);
    lx_arena_free(a);
}

static void test_many_blocks(void)
{
    enum { N = 100000 };
    lx_arena *a = mk(NULL, 65536, LX_NO_BUDGET);
    int64_t *hs = malloc(N * sizeof *hs);
    unsigned char **ps = malloc(N * sizeof *ps);
    size_t i;
    CHECK(hs != NULL && ps != NULL);
    for (i = 0; i < N; i++) {
        ps[i] = lx_arena_alloc_h(a, 1, 1, &hs[i]);
        CHECK_OR_BREAK(ps[i] != NULL);
        *ps[i] = (unsigned char)i;
    }
    CHECK(a->nblocks == N);
    for (i = 0; i < N; i++) {
        lx_block *b = lx_arena_lookup(a, hs[i]);
        CHECK_OR_BREAK(b != NULL && b->ptr == ps[i] && *b->ptr == (unsigned char)i);
    }
    CHECK(st(a).bytes_allocated == N);
    lx_arena_free(a);
    free(hs);
    free(ps);
}

/* Arenas of a pool: steady state takes nothing from the system. */
static void test_pool_reuse(void)
{
    lx_pool pool;
    unsigned long long pfs = 0, cfs = 0, sysa = 0;
    size_t round, i;
    CHECK(lx_pool_init(&pool, 4096, 64, (size_t)4 << 20) == 0);
    for (round = 0; round < 200; round++) {
        lx_arena *a = mk(&pool, 65536 /* ignored: the pool's page size wins */, LX_NO_BUDGET);
        int64_t h = 0;
        CHECK_OR_BREAK(a->page_size == 4096);
        if (round == 3) {
            pfs = pool.pages_from_system;
            cfs = pool.chunks_from_system;
            sysa = lx_sys_allocations();
        }
        if (round == 150)
            lx_sys_fail_after(0); /* steady state: no allocation may be needed */
        for (i = 0; i < 500; i++) {
            unsigned char *p = lx_arena_alloc_h(a, 64, 8, &h);
            CHECK_OR_BREAK(p != NULL);
            memset(p, (int)i, 64);
        }
        CHECK_OR_BREAK(lx_arena_alloc(a, 30000, 8) != NULL);
        CHECK_OR_BREAK(st(a).pages == 8); /* 500 * 64 bytes, 64 blocks a page */
        lx_sys_fail_after(-1);
        CHECK_OR_BREAK(pool.pages_live == 8 && pool.chunks_live == 1);
        lx_arena_free(a);
        CHECK_OR_BREAK(pool.pages_live == 0 && pool.chunks_live == 0);
    }
    lx_sys_fail_after(-1);
    CHECK(pool.pages_from_system == pfs);
    CHECK(pool.chunks_from_system == cfs);
    CHECK(lx_sys_allocations() == sysa);
    CHECK(pool.pages_reused > 0);
    CHECK(pool.chunks_reused > 0);
    CHECK(pool.nshells == 1);
    lx_pool_destroy(&pool);
}

static void test_pool_bounded(void)
{
    lx_pool pool;
    lx_arena *a, *as[40];
    size_t i;

    /* the bound is checked, and its page table grows only as pages come
     * back: the largest bound costs nothing until it is used */
    CHECK(lx_pool_init(&pool, 4096, LX_POOL_MAX_PAGES + 1, 0) == -1);
    lx_pool_destroy(&pool); /* safe after a failed init */
    CHECK(lx_pool_init(&pool, 4096, (size_t)-1 / sizeof(void *) + 2, 0) == -1);
    lx_pool_destroy(&pool);
    CHECK(lx_pool_init(&pool, 4096, LX_POOL_MAX_PAGES, 0) == 0);
    CHECK(pool.pages == NULL && pool.cap_pages == 0);
    a = mk(&pool, 4096, LX_NO_BUDGET);
    for (i = 0; i < 40; i++)
        CHECK(lx_arena_alloc(a, 4096, 8) != NULL);
    lx_arena_free(a);
    CHECK(pool.npages == 40 && pool.cap_pages >= 40 && pool.cap_pages <= 80);
    lx_pool_destroy(&pool);
    CHECK(lx_pool_init(&pool, 4096, 20, 0) == 0);
    a = mk(&pool, 4096, LX_NO_BUDGET);
    for (i = 0; i < 40; i++)
        CHECK(lx_arena_alloc(a, 4096, 8) != NULL);
    lx_arena_free(a);
    CHECK(pool.npages == 20 && pool.cap_pages == 20 && pool.pages_live == 0);
    lx_pool_destroy(&pool);

    /* pages: at most max_pages kept, the rest go back to the system */
    CHECK(lx_pool_init(&pool, 4096, 4, (size_t)100000) == 0);
    a = mk(&pool, 4096, LX_NO_BUDGET);
    for (i = 0; i < 10; i++)
        CHECK(lx_arena_alloc(a, 4096, 8) != NULL);
    CHECK(pool.pages_live == 10);
    CHECK(pool.pages_from_system == 10);
    /* chunks: bounded by bytes */
    for (i = 0; i < 3; i++)
        CHECK(lx_arena_alloc(a, 40960, 8) != NULL);
    CHECK(pool.chunks_live == 3);
    lx_arena_free(a);
    CHECK(pool.pages_live == 0);
    CHECK(pool.npages == 4);
    CHECK(pool.chunks_live == 0);
    CHECK(pool.nchunks == 2);
    CHECK(pool.chunk_bytes == 81920);
    CHECK(pool.chunk_bytes <= pool.max_chunk_bytes);
    lx_pool_destroy(&pool);

    /* chunks: bounded by count */
    CHECK(lx_pool_init(&pool, 4096, 4, (size_t)1 << 30) == 0);
    a = mk(&pool, 4096, LX_NO_BUDGET);
    for (i = 0; i < LX_POOL_CHUNKS + 5; i++)
        CHECK(lx_arena_alloc(a, 8192, 8) != NULL);
    lx_arena_free(a);
    CHECK(pool.nchunks == LX_POOL_CHUNKS);
    /* shells: bounded */
    for (i = 0; i < 40; i++) {
        as[i] = mk(&pool, 4096, LX_NO_BUDGET);
        CHECK(lx_arena_alloc(as[i], 100, 8) != NULL);
    }
    for (i = 0; i < 40; i++)
        lx_arena_free(as[i]);
    CHECK(pool.nshells == LX_POOL_SHELLS);
    CHECK(pool.npages == 4);
    CHECK(pool.pages_live == 0);
    lx_pool_destroy(&pool);
}

static void test_pool_chunks(void)
{
    lx_pool pool;
    lx_arena *a;
    unsigned char *c1, *c2;
    CHECK(lx_pool_init(&pool, 4096, 4, (size_t)1 << 20) == 0);
    a = mk(&pool, 4096, LX_NO_BUDGET);
    c1 = lx_arena_alloc(a, 100000, 8);
    CHECK(c1 != NULL);
    lx_arena_free(a);
    CHECK(pool.nchunks == 1 && pool.chunks_from_system == 1);
#ifdef LX_HAVE_ASAN
    CHECK(__asan_address_is_poisoned(c1));
#endif
    a = mk(&pool, 4096, LX_NO_BUDGET);
    /* small enough for the kept chunk (and no more than half of it unused) */
    c2 = lx_arena_alloc(a, 90000, 8);
    CHECK(c2 == c1);
    CHECK(pool.chunks_reused == 1 && pool.chunks_from_system == 1);
    memset(c2, 7, 90000);
    CHECK(st(a).capacity >= 100000);
    /* reset gives it back, the next one takes it again */
    lx_arena_reset(a);
    CHECK(pool.nchunks == 1);
    CHECK(lx_arena_alloc(a, 60000, 8) == c1);
    CHECK(pool.chunks_reused == 2);
    lx_arena_reset(a);
    /* too small: would pin a chunk more than twice its size */
    CHECK(lx_arena_alloc(a, 30000, 8) != c1);
    CHECK(pool.chunks_from_system == 2);
    /* too big: a new one */
    CHECK(lx_arena_alloc(a, 200000, 8) != c1);
    CHECK(pool.chunks_from_system == 3);
    lx_arena_free(a);
    lx_pool_destroy(&pool);

    /* standalone arenas keep chunks across reset too */
    a = mk(NULL, 4096, LX_NO_BUDGET);
    c1 = lx_arena_alloc(a, 50000, 8);
    CHECK(c1 != NULL);
    lx_arena_reset(a);
    CHECK(st(a).chunks == 1);
    CHECK(lx_arena_alloc(a, 50000, 8) == c1);
    CHECK(a->own.chunks_reused == 1);
    lx_arena_free(a);
}

/* An arena that outlives its pool gives everything to the system. */
static void test_pool_destroyed_first(void)
{
    lx_pool pool;
    lx_arena *a;
    CHECK(lx_pool_init(&pool, 4096, 8, (size_t)1 << 20) == 0);
    a = mk(&pool, 4096, LX_NO_BUDGET);
    CHECK(lx_arena_alloc(a, 3000, 8) != NULL);
    CHECK(lx_arena_alloc(a, 3000, 8) != NULL);
    CHECK(lx_arena_alloc(a, 30000, 8) != NULL);
    lx_pool_destroy(&pool);
    CHECK(pool.dead);
    lx_arena_reset(a); /* the chunk goes straight to the system */
    CHECK(pool.nchunks == 0);
    CHECK(lx_arena_alloc(a, 30000, 8) != NULL);
    lx_arena_free(a); /* pages, chunk and shell freed (LeakSanitizer checks) */
    CHECK(pool.npages == 0 && pool.nshells == 0 && pool.pages_live == 0);
}

/* What one allocation attempt in the failure scenario expects. */
struct fi_state {
    int failures;
    int bad;
};

struct fi_block {
    unsigned char *p;
    size_t n;
    int64_t h;
    int has_h;
    unsigned seed;
};

#define FI_MAX 1200

/*
 * One allocation under failure injection: NULL must come with LX_ENOMEM
 * and leave every counter as it was; success must be aligned and counted.
 */
static void fi_alloc(lx_arena *a, size_t n, size_t align, int with_h, struct fi_block *bl,
                     size_t *nbl, struct fi_state *fs)
{
    lx_stats s0 = st(a), s1;
    size_t nb0 = a->nblocks;
    int64_t h = 0x5151;
    unsigned char *p = with_h ? lx_arena_alloc_h(a, n, align, &h) : lx_arena_alloc(a, n, align);
    s1 = st(a);
    if (p == NULL) {
        fs->failures++;
        if (a->err != LX_ENOMEM || !stats_equal(&s0, &s1) || a->nblocks != nb0 || h != 0x5151) {
            fs->bad++;
            CHECK(a->err == LX_ENOMEM);
            CHECK(stats_equal(&s0, &s1));
            CHECK(a->nblocks == nb0);
        }
        return;
    }
    if (((uintptr_t)p & (align - 1)) != 0 || s1.allocs != s0.allocs + 1 ||
        s1.bytes_allocated < s0.bytes_allocated + n ||
        s1.bytes_allocated >= s0.bytes_allocated + n + align) {
        fs->bad++;
        CHECK(((uintptr_t)p & (align - 1)) == 0);
        CHECK(s1.allocs == s0.allocs + 1);
    }
    if (*nbl < FI_MAX) {
        bl[*nbl].p = p;
        bl[*nbl].n = n;
        bl[*nbl].h = h;
        bl[*nbl].has_h = with_h;
        bl[*nbl].seed = (unsigned)(*nbl * 7 + n);
        fill(p, n, bl[*nbl].seed);
        (*nbl)++;
    }
}

/* Everything the arena handed out is still there and still found. */
static int fi_consistent(lx_arena *a, struct fi_block *bl, size_t nbl)
{
    size_t i, nh = 0, large = 0;
    lx_stats s = st(a);
    for (i = 0; i < nbl; i++) {
        if (!filled(bl[i].p, bl[i].n, bl[i].seed))
            return 0;
        if (bl[i].has_h) {
            lx_block *b = lx_arena_lookup(a, bl[i].h);
            if (b == NULL || b->ptr != bl[i].p || b->len != bl[i].n)
                return 0;
            nh++;
        }
        if (bl[i].n > a->page_size)
            large++;
    }
    return a->nblocks == nh && s.allocs == nbl && s.large_allocs == large &&
           s.page_count == s.pages + s.chunks && s.capacity >= s.pages * a->page_size;
}

/* One request's worth of work on a, returning the number of failures. */
static void fi_work(lx_arena *a, struct fi_state *fs, struct fi_block *bl, size_t *nbl)
{
    size_t i;
    for (i = 0; i < 150; i++)
        fi_alloc(a, (i * 37) % 500 + 1, (size_t)1 << (i % 6), (int)(i % 3 != 0), bl, nbl, fs);
    for (i = 0; i < 4; i++)
        fi_alloc(a, a->page_size + 1 + i * 3000, 64, (int)(i & 1), bl, nbl, fs);
    fi_alloc(a, 0, 1, 1, bl, nbl, fs);
}

static void test_failure_injection_paths(void)
{
    lx_arena *a;
    lx_pool pool;
    int64_t h = 0;
    size_t i;

    /* lx_arena_new, standalone */
    lx_sys_fail_after(0);
    CHECK(lx_arena_new(NULL, 4096, LX_NO_BUDGET, 1) == NULL);
    lx_sys_fail_after(-1);

    /* lx_pool_init takes nothing; a page table that cannot grow when a
     * page comes back means that page goes back to the system */
    lx_sys_fail_after(0);
    CHECK(lx_pool_init(&pool, 4096, 8, 1 << 20) == 0 && pool.pages == NULL);
    lx_sys_fail_after(-1);
    {
        void *page = lx_pool_get_page(&pool);
        CHECK(page != NULL && pool.pages_live == 1);
        lx_sys_fail_after(0);
        lx_pool_put_page(&pool, page);
        lx_sys_fail_after(-1);
        CHECK(pool.pages_live == 0 && pool.npages == 0);
        page = lx_pool_get_page(&pool);
        lx_pool_put_page(&pool, page);
        CHECK(pool.npages == 1);
    }
    lx_pool_destroy(&pool);

    /* first page: the page table, then the page */
    for (i = 0; i < 2; i++) {
        a = mk(NULL, 4096, LX_NO_BUDGET);
        lx_sys_fail_after((long)i);
        CHECK(lx_arena_alloc(a, 10, 8) == NULL && a->err == LX_ENOMEM);
        CHECK(st(a).page_count == 0);
        lx_sys_fail_after(-1);
        CHECK(lx_arena_alloc(a, 10, 8) != NULL);
        CHECK(st(a).bytes_allocated == 10 && st(a).pages == 1);
        lx_arena_free(a);
    }
    /* the block table */
    a = mk(NULL, 4096, LX_NO_BUDGET);
    lx_sys_fail_after(0);
    h = 99;
    CHECK(lx_arena_alloc_h(a, 10, 8, &h) == NULL && a->err == LX_ENOMEM && h == 99);
    lx_sys_fail_after(-1);
    CHECK(lx_arena_alloc_h(a, 10, 8, &h) != NULL && lx_arena_lookup(a, h) != NULL);
    /* block table growth past 64 */
    for (i = 1; i < 64; i++)
        CHECK(lx_arena_alloc_h(a, 1, 1, &h) != NULL);
    lx_sys_fail_after(0);
    CHECK(lx_arena_alloc_h(a, 1, 1, &h) == NULL && a->err == LX_ENOMEM);
    CHECK(lx_arena_alloc(a, 1, 1) != NULL); /* no table needed: still fine */
    lx_sys_fail_after(-1);
    CHECK(lx_arena_alloc_h(a, 1, 1, &h) != NULL && lx_arena_lookup(a, h) != NULL);
    CHECK(a->nblocks == 65);
    /* a new page on a full one */
    lx_sys_fail_after(0);
    while (lx_arena_alloc(a, 1000, 8) != NULL)
        ;
    CHECK(a->err == LX_ENOMEM);
    lx_sys_fail_after(-1);
    /* large: the chunk table, then the chunk */
    for (i = 0; i < 2; i++) {
        lx_stats s0 = st(a), s1;
        lx_sys_fail_after((long)i);
        CHECK(lx_arena_alloc(a, 10000, 8) == NULL && a->err == LX_ENOMEM);
        s1 = st(a);
        CHECK(stats_equal(&s0, &s1));
        lx_sys_fail_after(-1);
    }
    CHECK(lx_arena_alloc(a, 10000, 8) != NULL);
    lx_arena_free(a);
}

static void test_failure_injection_sweep(void)
{
    static struct fi_block bl[FI_MAX];
    int mode;
    for (mode = 0; mode < 2; mode++) {
        long n;
        int done = 0;
        for (n = 0; n < 5000 && !done; n++) {
            struct fi_state fs = {0, 0};
            lx_pool pool;
            int pool_ok = 1;
            int round;
            lx_sys_fail_after(n);
            if (mode == 1)
                pool_ok = lx_pool_init(&pool, 4096, 8, (size_t)1 << 20) == 0;
            if (!pool_ok) {
                fs.failures++;
                lx_sys_fail_after(-1);
                continue;
            }
            for (round = 0; round < 3; round++) {
                size_t nbl = 0;
                lx_arena *a = lx_arena_new(mode ? &pool : NULL, 4096, LX_NO_BUDGET,
                                           lx_next_key(&key_state));
                if (a == NULL) {
                    fs.failures++;
                    continue;
                }
                fi_work(a, &fs, bl, &nbl);
                lx_arena_reset(a);
                nbl = 0;
                fi_work(a, &fs, bl, &nbl);
                /* disarm: everything handed out is intact, and the arena
                 * works again */
                lx_sys_fail_after(-1);
                if (!fi_consistent(a, bl, nbl)) {
                    fs.bad++;
                    CHECK(fi_consistent(a, bl, nbl));
                }
                {
                    int64_t h = 0;
                    unsigned char *p = lx_arena_alloc_h(a, 100, 8, &h);
                    CHECK(p != NULL && lx_arena_lookup(a, h) != NULL);
                    CHECK(lx_arena_alloc(a, 3 * 4096, 8) != NULL);
                    CHECK(lx_arena_alloc(a, 4000, 8) != NULL);
                }
                lx_arena_reset(a);
                CHECK(lx_arena_alloc(a, 10, 8) != NULL);
                lx_arena_free(a);
                lx_sys_fail_after(n); /* re-arm for the next round */
            }
            lx_sys_fail_after(-1);
            if (mode == 1) {
                CHECK(pool.pages_live == 0 && pool.chunks_live == 0);
                lx_pool_destroy(&pool);
            }
            if (fs.bad) {
                printf("FAIL %s: inconsistent after failure at n=%ld (mode %d)\n", cur_test, n,
                       mode);
                cur_failed++;
                break;
            }
            if (fs.failures == 0)
                done = 1;
        }
        CHECK(done);
    }
}

static void test_recycling_off(void)
{
    lx_arena *a;
    lx_pool pool;
    lx_stats s;
    unsigned char *p1;
    lx_set_recycling(0);
    CHECK(!lx_recycling());
    a = mk(NULL, 4096, LX_NO_BUDGET);
    p1 = lx_arena_alloc(a, 4000, 8);
    CHECK(p1 != NULL);
    CHECK(lx_arena_alloc(a, 4000, 8) != NULL);
    CHECK(lx_arena_alloc(a, 4000, 8) != NULL);
    CHECK(lx_arena_alloc(a, 10000, 8) != NULL);
    s = st(a);
    CHECK(s.pages == 3 && s.chunks == 1);
    lx_arena_reset(a);
    s = st(a);
    CHECK(s.pages == 0);
    CHECK(s.chunks == 0);
    CHECK(s.page_count == 0);
    CHECK(s.capacity == 0);
    CHECK(s.resets == 1);
    CHECK(lx_arena_alloc(a, 10, 8) != NULL);
    CHECK(st(a).pages == 1);
    lx_arena_free(a);

    /* a pool made now keeps nothing */
    CHECK(lx_pool_init(&pool, 4096, 8, (size_t)1 << 20) == 0);
    CHECK(pool.max_pages == 0 && pool.max_chunk_bytes == 0);
    a = mk(&pool, 4096, LX_NO_BUDGET);
    CHECK(lx_arena_alloc(a, 4000, 8) != NULL);
    CHECK(lx_arena_alloc(a, 10000, 8) != NULL);
    lx_arena_reset(a);
    CHECK(pool.npages == 0 && pool.nchunks == 0 && pool.pages_live == 0);
    CHECK(lx_arena_alloc(a, 4000, 8) != NULL);
    lx_arena_free(a);
    CHECK(pool.npages == 0 && pool.nchunks == 0 && pool.nshells == 0);
    lx_pool_destroy(&pool);
    lx_set_recycling(1);
    CHECK(lx_recycling());
}

static void test_peak(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    CHECK(lx_arena_alloc(a, 3000, 1) != NULL);
    CHECK(st(a).peak_bytes == 3000);
    lx_arena_reset(a);
    CHECK(st(a).peak_bytes == 3000);
    CHECK(lx_arena_alloc(a, 1000, 1) != NULL);
    CHECK(st(a).peak_bytes == 3000);
    CHECK(lx_arena_alloc(a, 3000, 1) != NULL);
    CHECK(st(a).peak_bytes == 4000);
    lx_arena_reset(a);
    CHECK(st(a).peak_bytes == 4000);
    lx_arena_free(a);
}

/* A shell recycled through the pool starts as a clean new arena. */
static void test_shell_reuse(void)
{
    lx_pool pool;
    lx_arena *a, *b;
    int64_t old[100];
    size_t i;
    CHECK(lx_pool_init(&pool, 8192, 8, (size_t)1 << 20) == 0);
    a = mk(&pool, 4096, 100000);
    for (i = 0; i < 100; i++)
        CHECK_OR_BREAK(lx_arena_alloc_h(a, 100, 8, &old[i]) != NULL);
    lx_arena_reset(a);
    lx_arena_free(a);
    CHECK(pool.nshells == 1);
    b = mk(&pool, 4096, LX_NO_BUDGET);
    CHECK(b == a); /* the same shell */
    {
        lx_stats s = st(b);
        CHECK(s.page_count == 0 && s.bytes_allocated == 0 && s.resets == 0 && s.allocs == 0);
        CHECK(s.peak_bytes == 0 && s.wasted == 0 && b->err == LX_OK);
        CHECK(b->max_bytes == LX_NO_BUDGET && b->page_size == 8192);
    }
    for (i = 0; i < 100; i++)
        CHECK_OR_BREAK(lx_arena_lookup(b, old[i]) == NULL);
    CHECK(lx_arena_alloc(b, 200000, 8) != NULL); /* budget really gone */
    CHECK(lx_arena_alloc(b, 5000, 8) != NULL && st(b).large_allocs == 1); /* 5000 < 8192 */
    lx_arena_free(b);
    lx_pool_destroy(&pool);
}

/* ------------------------------------------------------------------ */

static const struct test tests[] = {
    T(test_valid_page_size),
    T(test_empty),
    T(test_first_alloc_makes_page),
    T(test_grow_to_new_page),
    T(test_no_overlap),
    T(test_alignment),
    T(test_padding_counted),
    T(test_wasted),
    T(test_large),
    T(test_huge),
    T(test_budget),
    T(test_reset),
    T(test_handles_basic),
    T(test_handles_forged),
    T(test_handles_adversarial_keys),
    T(test_ten_resets),
    T(test_many_blocks),
    T(test_too_many_blocks),
    T(test_generation_laps),
    T(test_pool_reuse),
    T(test_pool_bounded),
    T(test_pool_chunks),
    T(test_pool_destroyed_first),
    T(test_failure_injection_paths),
    T(test_failure_injection_sweep),
    T(test_recycling_off),
    T(test_peak),
    T(test_shell_reuse),
};

CTEST_MAIN(tests)
