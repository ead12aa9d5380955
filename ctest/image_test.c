/*
 * C unit tests of what the arena core gives a foreign allocator and an
 * isolate (csrc/image.c, and lx_arena_realloc / mark / rewind /
 * set_budget in csrc/arena.c), no Lua involved.
 *
 * The runner is check.h's: one line per failed check, and the last line
 * "ctest: N passed, M failed".
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "arena_support.h"
#include "check.h"
#include "image.h"
#include "pool.h"
#include "sysmem.h"

/* ------------------------------------------------------------------ realloc */

static void test_realloc_follows_lua_alloc(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    unsigned char *p, *q;
    p = lx_arena_realloc(a, NULL, 7, 40, 8); /* osize is only a type tag here */
    CHECK(p != NULL && ((uintptr_t)p & 7u) == 0);
    CHECK(st(a).bytes_allocated == 40 && st(a).allocs == 1);
    fill(p, 40, 1);
    /* a free is a no-op: the block stays, nothing is counted back */
    CHECK(lx_arena_realloc(a, p, 40, 0, 8) == NULL);
    CHECK(st(a).bytes_allocated == 40 && filled(p, 40, 1));
    /* shrinking keeps the block */
    CHECK(lx_arena_realloc(a, p, 40, 10, 8) == p);
    CHECK(lx_arena_realloc(a, p, 40, 40, 8) == p);
    CHECK(st(a).bytes_allocated == 40);
    /* the topmost block grows in place */
    q = lx_arena_realloc(a, p, 40, 100, 8);
    CHECK(q == p);
    CHECK(st(a).bytes_allocated == 100 && st(a).allocs == 1);
    CHECK(filled(q, 40, 1));
    fill(q, 100, 2);
    lx_arena_free(a);
}

static void test_realloc_moves_a_block_that_is_not_topmost(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    unsigned char *p = lx_arena_alloc(a, 24, 8), *r, *q;
    fill(p, 24, 3);
    r = lx_arena_alloc(a, 16, 8);
    fill(r, 16, 4);
    q = lx_arena_realloc(a, p, 24, 48, 8);
    CHECK(q != NULL && q != p);
    CHECK(q == r + 16); /* a new block at the bump position */
    CHECK(filled(q, 24, 3));
    CHECK(filled(p, 24, 3) && filled(r, 16, 4)); /* nothing else touched */
    CHECK(st(a).bytes_allocated == 24 + 16 + 48);
    lx_arena_free(a);
}

static void test_realloc_moves_when_the_page_or_budget_is_full(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    unsigned char *p = lx_arena_alloc(a, 4000, 8), *q;
    fill(p, 4000, 5);
    CHECK(lx_arena_alloc(a, 50, 8) != NULL);
    /* past the page: a new page (or a chunk past the page size) */
    q = lx_arena_realloc(a, p, 4000, 4090, 8);
    CHECK(q != NULL && q != p && ((uintptr_t)q & 4095u) == 0);
    CHECK(filled(q, 4000, 5) && st(a).pages == 2);
    p = lx_arena_realloc(a, q, 4090, 9000, 8);
    CHECK(p != NULL && st(a).chunks == 1 && filled(p, 4000, 5));
    /* a chunk never grows in place */
    q = lx_arena_realloc(a, p, 9000, 9001, 8);
    CHECK(q != NULL && q != p && st(a).chunks == 2 && filled(q, 4000, 5));
    lx_arena_free(a);

    /* the budget stops growth in place, and the new block too */
    a = mk(NULL, 4096, 100);
    p = lx_arena_alloc(a, 60, 8);
    CHECK(lx_arena_realloc(a, p, 60, 100, 8) == p);
    CHECK(lx_arena_realloc(a, p, 100, 101, 8) == NULL && a->err == LX_EBUDGET);
    CHECK(st(a).bytes_allocated == 100);
    lx_arena_free(a);
}

static void test_realloc_of_a_block_from_another_arena_copies(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET), *b = mk(NULL, 4096, LX_NO_BUDGET);
    unsigned char *p = lx_arena_alloc(a, 32, 8), *q;
    fill(p, 32, 6);
    CHECK(lx_arena_alloc(b, 8, 8) != NULL);
    q = lx_arena_realloc(b, p, 32, 64, 8);
    CHECK(q != NULL && q != p && filled(q, 32, 6));
    CHECK(st(a).bytes_allocated == 32 && st(b).bytes_allocated == 8 + 64);
    lx_arena_free(a);
    lx_arena_free(b);
}

/* ------------------------------------------------------------------ budget */

static void test_set_budget(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    CHECK(lx_arena_alloc(a, 100, 8) != NULL);
    CHECK(lx_arena_set_budget(a, 99) == -1);
    CHECK(a->max_bytes == LX_NO_BUDGET);
    CHECK(lx_arena_set_budget(a, 150) == 0);
    CHECK(lx_arena_alloc(a, 51, 1) == NULL && a->err == LX_EBUDGET);
    CHECK(lx_arena_alloc(a, 50, 1) != NULL);
    CHECK(st(a).bytes_allocated == 150);
    CHECK(lx_arena_set_budget(a, 10000) == 0);
    CHECK(lx_arena_alloc(a, 3000, 1) != NULL);
    CHECK(lx_arena_alloc(a, 6000, 1) != NULL); /* a chunk */
    CHECK(lx_arena_alloc(a, 851, 1) == NULL && a->err == LX_EBUDGET);
    lx_arena_free(a);

    /* on an arena without pages yet */
    a = mk(NULL, 4096, LX_NO_BUDGET);
    CHECK(lx_arena_set_budget(a, 10) == 0);
    CHECK(lx_arena_alloc(a, 11, 1) == NULL && a->err == LX_EBUDGET);
    CHECK(lx_arena_alloc(a, 10, 1) != NULL);
    lx_arena_free(a);
}

/* ------------------------------------------------------------------ mark and rewind */

static void test_rewind_forgets_what_came_after_the_mark(void)
{
    lx_pool pool;
    lx_arena *a;
    lx_mark m;
    lx_stats s0, s1;
    unsigned char *p, *first_after;
    int64_t h = 0;
    size_t i;
    CHECK(lx_pool_init(&pool, 4096, 8, 1 << 20) == 0);
    a = mk(&pool, 4096, LX_NO_BUDGET);
    p = lx_arena_alloc(a, 1000, 8);
    fill(p, 1000, 7);
    CHECK(lx_arena_alloc_h(a, 10, 8, &h) != NULL);
    lx_arena_mark(a, &m);
    s0 = st(a);
    first_after = lx_arena_alloc(a, 64, 8);
    for (i = 0; i < 10; i++)
        CHECK(lx_arena_alloc(a, 1500, 8) != NULL);
    CHECK(lx_arena_alloc(a, 20000, 8) != NULL);
    CHECK(pool.chunks_live == 1 && st(a).pages > 1);
    CHECK(lx_arena_rewind(a, &m) == 0);
    s1 = st(a);
    CHECK(s1.bytes_allocated == s0.bytes_allocated && s1.allocs == s0.allocs);
    CHECK(s1.wasted == s0.wasted && s1.large_allocs == s0.large_allocs);
    CHECK(s1.chunks == 0 && pool.chunks_live == 0);
    CHECK(s1.pages > 1); /* later pages are kept for reuse */
    CHECK(s1.peak_bytes > s0.bytes_allocated);
    CHECK(lx_arena_lookup(a, h) == NULL); /* every handle is stale */
    CHECK(filled(p, 1000, 7));
    CHECK(lx_arena_alloc(a, 64, 8) == first_after);
    lx_arena_free(a);
    CHECK(pool.pages_live == 0);
    lx_pool_destroy(&pool);
}

static void test_rewind_to_an_empty_arena(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    lx_mark m;
    unsigned char *p;
    lx_arena_mark(a, &m);
    p = lx_arena_alloc(a, 10, 8);
    CHECK(lx_arena_rewind(a, &m) == 0);
    CHECK(st(a).bytes_allocated == 0 && st(a).pages == 1);
    CHECK(lx_arena_alloc(a, 10, 8) == p);
    lx_arena_free(a);
}

static void test_rewind_refuses_what_the_arena_no_longer_holds(void)
{
    lx_arena *a;
    lx_mark m;
    lx_stats s0, s1;
    lx_set_recycling(0);
    a = mk(NULL, 4096, LX_NO_BUDGET);
    CHECK(lx_arena_alloc(a, 100, 8) != NULL);
    lx_arena_mark(a, &m);
    lx_arena_reset(a); /* recycling off: the page is gone */
    s0 = st(a);
    CHECK(lx_arena_rewind(a, &m) == -1);
    s1 = st(a);
    CHECK(s0.bytes_allocated == s1.bytes_allocated && s0.pages == s1.pages && s0.resets == s1.resets);
    lx_arena_free(a);
    lx_set_recycling(1);

    /* a mark over the budget the arena has now */
    a = mk(NULL, 4096, LX_NO_BUDGET);
    CHECK(lx_arena_alloc(a, 100, 8) != NULL);
    lx_arena_mark(a, &m);
    lx_arena_reset(a);
    CHECK(lx_arena_set_budget(a, 50) == 0);
    CHECK(lx_arena_rewind(a, &m) == -1);
    lx_arena_free(a);
}

/* ------------------------------------------------------------------ images */

/* A singly linked list in the arena: the shape of a Lua state, pointers
 * from block to block, which an image must bring back exactly. */
struct node {
    struct node *next;
    unsigned value;
};

static struct node *push_node(lx_arena *a, struct node *head, unsigned value)
{
    struct node *n = lx_arena_alloc(a, sizeof *n, 8);
    if (n != NULL) {
        n->next = head;
        n->value = value;
    }
    return n;
}

static unsigned list_sum(const struct node *n, unsigned *count)
{
    unsigned sum = 0;
    *count = 0;
    for (; n != NULL; n = n->next) {
        sum += n->value;
        (*count)++;
    }
    return sum;
}

static void test_image_brings_back_a_pointer_structure(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    lx_image im;
    struct node **root, *head = NULL;
    unsigned i, count, sum;
    lx_image_init(&im);
    root = lx_arena_alloc(a, sizeof *root, 8);
    for (i = 1; i <= 1000; i++) /* many pages */
        head = push_node(a, head, i);
    *root = head;
    sum = list_sum(*root, &count);
    CHECK(count == 1000 && sum == 500500);
    CHECK(lx_image_take(&im, a) == 0);
    CHECK(im.mark.npages == st(a).pages && im.mark.npages > 1);
    for (i = 0; i < 50; i++) {
        unsigned round;
        /* a "call": relink the list through new nodes, break old ones */
        for (round = 0; round < 200; round++)
            *root = push_node(a, *root, 7);
        (*root)->next->next->value = 99999;
        head->value = 0;
        head->next = NULL;
        CHECK(lx_image_restore(&im, a) == 0);
        sum = list_sum(*root, &count);
        CHECK(count == 1000 && sum == 500500);
    }
    lx_image_free(&im);
    lx_image_free(&im); /* idempotent */
    lx_arena_free(a);
}

static void test_image_covers_chunks_and_rewinds_the_bump(void)
{
    lx_pool pool;
    lx_arena *a;
    lx_image im;
    unsigned char *small, *big, *next;
    lx_stats s0, s1;
    CHECK(lx_pool_init(&pool, 4096, 4, 1 << 20) == 0);
    a = mk(&pool, 4096, LX_NO_BUDGET);
    lx_image_init(&im);
    small = lx_arena_alloc(a, 300, 8);
    big = lx_arena_alloc(a, 10000, 8);
    fill(small, 300, 11);
    fill(big, 10000, 12);
    CHECK(lx_image_take(&im, a) == 0);
    CHECK(im.nbytes == 300 + 12288); /* the page up to the bump, the whole chunk */
    s0 = st(a);
    next = lx_arena_alloc(a, 8, 8);
    memset(small, 0, 300);
    memset(big, 0, 10000);
    CHECK(lx_arena_alloc(a, 50000, 8) != NULL);
    CHECK(pool.chunks_live == 2);
    CHECK(lx_image_restore(&im, a) == 0);
    s1 = st(a);
    CHECK(filled(small, 300, 11) && filled(big, 10000, 12));
    CHECK(s1.bytes_allocated == s0.bytes_allocated && s1.chunks == 1 && pool.chunks_live == 1);
    CHECK(lx_arena_alloc(a, 8, 8) == next);
    lx_image_free(&im);
    lx_arena_free(a);
    CHECK(pool.pages_live == 0 && pool.chunks_live == 0);
    lx_pool_destroy(&pool);
}

static void test_image_of_an_empty_arena(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    lx_image im;
    lx_image_init(&im);
    CHECK(lx_image_restore(&im, a) == 0); /* an empty image: nothing to do */
    CHECK(lx_image_take(&im, a) == 0);
    CHECK(im.nbytes == 0 && im.mark.npages == 0);
    CHECK(lx_arena_alloc(a, 5000, 8) != NULL);
    CHECK(lx_arena_alloc(a, 50, 8) != NULL);
    CHECK(lx_image_restore(&im, a) == 0);
    CHECK(st(a).bytes_allocated == 0 && a->nchunks == 0); /* kept chunks count in stats */
    lx_image_free(&im);
    lx_arena_free(a);
}

static void test_image_restore_refuses_pages_it_does_not_know(void)
{
    lx_arena *a;
    lx_image im;
    unsigned char *p;
    lx_stats s0, s1;
    lx_image_init(&im);

    /* recycling off: a reset gives the pages back to the system */
    lx_set_recycling(0);
    a = mk(NULL, 4096, LX_NO_BUDGET);
    p = lx_arena_alloc(a, 100, 8);
    fill(p, 100, 13);
    CHECK(lx_image_take(&im, a) == 0);
    lx_arena_reset(a);
    p = lx_arena_alloc(a, 200, 8);
    fill(p, 200, 14);
    s0 = st(a);
    CHECK(lx_image_restore(&im, a) == -1);
    s1 = st(a);
    CHECK(s0.bytes_allocated == s1.bytes_allocated && filled(p, 200, 14));
    lx_arena_free(a);
    lx_set_recycling(1);

    /* a chunk released by a reset */
    a = mk(NULL, 4096, LX_NO_BUDGET);
    CHECK(lx_arena_alloc(a, 9000, 8) != NULL);
    CHECK(lx_image_take(&im, a) == 0);
    lx_arena_reset(a);
    CHECK(lx_arena_alloc(a, 100, 8) != NULL);
    CHECK(lx_image_restore(&im, a) == -1);
    lx_arena_free(a);

    /* pages kept across a reset are the same pages: restore is sound */
    a = mk(NULL, 4096, LX_NO_BUDGET);
    p = lx_arena_alloc(a, 100, 8);
    fill(p, 100, 15);
    CHECK(lx_image_take(&im, a) == 0);
    lx_arena_reset(a);
    CHECK(lx_arena_alloc(a, 100, 8) == p);
    memset(p, 0, 100);
    CHECK(lx_image_restore(&im, a) == 0);
    CHECK(filled(p, 100, 15));
    lx_image_free(&im);
    lx_arena_free(a);
}

static void test_image_take_survives_failed_allocations(void)
{
    lx_arena *a = mk(NULL, 4096, LX_NO_BUDGET);
    lx_image im;
    long k;
    int ok = 0;
    lx_image_init(&im);
    CHECK(lx_arena_alloc(a, 100, 8) != NULL);
    CHECK(lx_arena_alloc(a, 9000, 8) != NULL);
    for (k = 0; k < 5 && !ok; k++) {
        lx_sys_fail_after(k);
        ok = lx_image_take(&im, a) == 0;
        lx_sys_fail_after(-1);
        if (!ok)
            CHECK(im.bytes == NULL && im.pages == NULL && im.chunks == NULL && im.nbytes == 0);
    }
    CHECK(ok && k > 1);
    CHECK(lx_image_restore(&im, a) == 0);
    lx_image_free(&im);
    lx_arena_free(a);
}

/* ------------------------------------------------------------------ */

static const struct test tests[] = {
    T(test_realloc_follows_lua_alloc),
    T(test_realloc_moves_a_block_that_is_not_topmost),
    T(test_realloc_moves_when_the_page_or_budget_is_full),
    T(test_realloc_of_a_block_from_another_arena_copies),
    T(test_set_budget),
    T(test_rewind_forgets_what_came_after_the_mark),
    T(test_rewind_to_an_empty_arena),
    T(test_rewind_refuses_what_the_arena_no_longer_holds),
    T(test_image_brings_back_a_pointer_structure),
    T(test_image_covers_chunks_and_rewinds_the_bump),
    T(test_image_of_an_empty_arena),
    T(test_image_restore_refuses_pages_it_does_not_know),
    T(test_image_take_survives_failed_allocations),
};

CTEST_MAIN(tests)
