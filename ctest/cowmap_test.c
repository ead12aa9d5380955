/*
 * C unit tests of the image's mapped form (csrc/cowmap.c via image.h's
 * lx_image_map / watch / restore / free), no Lua. On a system where the
 * mapped form is not available the tests check that it is refused cleanly.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "arena_support.h"
#include "check.h"
#include "cowmap.h"
#include "image.h"
#include "pool.h"
#include "sysmem.h"

#define PAGE 16384u

/* A home arena over a mapped pool: pages and chunks it takes are filled,
 * the image taken and (when it can be) mapped; saved holds the image. */
typedef struct home {
    lx_pool pool;
    lx_arena *a;
    lx_image im;
    unsigned char **blocks;
    size_t *sizes;
    size_t n;
    unsigned char *saved; /* contents of every block at the take */
} home;

static size_t home_total(const home *h)
{
    size_t i, t = 0;
    for (i = 0; i < h->n; i++)
        t += h->sizes[i];
    return t;
}

static int home_make(home *h, size_t n, int map)
{
    size_t i, at = 0;
    memset(h, 0, sizeof *h);
    lx_pool_init_mapped(&h->pool, PAGE, 64, 1u << 24);
    h->a = mk(&h->pool, PAGE, LX_NO_BUDGET);
    h->blocks = calloc(n, sizeof *h->blocks);
    h->sizes = calloc(n, sizeof *h->sizes);
    h->n = n;
    for (i = 0; i < n; i++) {
        /* every fifth a large block (a chunk), the rest fill pages */
        h->sizes[i] = i % 5 == 4 ? 3 * PAGE + 100 : 3000;
        h->blocks[i] = lx_arena_alloc(h->a, h->sizes[i], 8);
        fill(h->blocks[i], h->sizes[i], (unsigned)i);
    }
    h->saved = malloc(home_total(h));
    for (i = 0; i < n; i++) {
        memcpy(h->saved + at, h->blocks[i], h->sizes[i]);
        at += h->sizes[i];
    }
    lx_image_init(&h->im);
    if (lx_image_take(&h->im, h->a) != 0)
        return -1;
    return map ? lx_image_map(&h->im, h->a) : 0;
}

static int home_same(const home *h)
{
    size_t i, at = 0;
    for (i = 0; i < h->n; i++) {
        if (memcmp(h->saved + at, h->blocks[i], h->sizes[i]) != 0)
            return 0;
        at += h->sizes[i];
    }
    return 1;
}

static void home_drop(home *h)
{
    lx_image_free(&h->im);
    lx_arena_free(h->a);
    lx_pool_destroy(&h->pool);
    free(h->blocks);
    free(h->sizes);
    free(h->saved);
}

static unsigned rng = 12345;
static unsigned next(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

/* Random writes over random blocks, then a restore: byte for byte back. */
static void scribble(home *h, int writes)
{
    int k;
    for (k = 0; k < writes; k++) {
        size_t b = next() % h->n;
        h->blocks[b][next() % h->sizes[b]] ^= (unsigned char)(1 + next() % 255);
    }
}

static void test_mapped_restore_is_exact_for_every_scan(void)
{
    int how;
    for (how = LX_SCAN_AUTO; how <= LX_SCAN_DROP; how++) {
        home h;
        int call;
        int mapped = home_make(&h, 60, 1) == 0;
#ifndef __linux__
        CHECK(!mapped && !lx_image_mapped(&h.im));
#else
        CHECK(mapped && lx_image_mapped(&h.im) && h.im.bytes == NULL);
#endif
        lx_cow_force_scan((enum lx_scan)how);
        for (call = 0; call < 30; call++) {
            lx_image_watch(&h.im);
            scribble(&h, 1 + call % 7);
            (void)lx_arena_alloc(h.a, 5000, 8); /* past the image: rewound */
            CHECK(lx_image_restore(&h.im, h.a) == 0);
            CHECK_OR_BREAK(home_same(&h));
        }
        if (mapped) {
            CHECK(h.im.scans > 0);
            CHECK(how == LX_SCAN_DROP || h.im.last_scan == how || how == LX_SCAN_AUTO ||
                  (how == LX_SCAN_IOCTL && h.im.last_scan == LX_SCAN_PREAD)); /* older kernel */
        }
        lx_cow_force_scan(LX_SCAN_AUTO);
        home_drop(&h);
    }
}

/* A page written on every call is found once, then copied back, and a
 * restore whose fault count did not move scans nothing. */
static void test_hot_page_is_learned_then_copied(void)
{
    home h;
    unsigned long long scans;
    int call;
    if (home_make(&h, 40, 1) != 0) {
        home_drop(&h);
        return;
    }
    lx_image_watch(&h.im);
    h.blocks[0][10] ^= 1;
    CHECK(lx_image_restore(&h.im, h.a) == 0 && home_same(&h));
    CHECK(h.im.scans == 1 && h.im.hot_pages == 1 && h.im.last_pages == 1);
    scans = h.im.scans;
    for (call = 0; call < 20; call++) {
        lx_image_watch(&h.im);
        h.blocks[0][10 + call] ^= 1; /* already private: no fault */
        CHECK(lx_image_restore(&h.im, h.a) == 0);
        CHECK_OR_BREAK(home_same(&h));
    }
    /* faults can come from elsewhere (the test's own stack, the libc),
     * but not on every call: most restores did not scan */
    CHECK(h.im.scans - scans < 10);
    CHECK(h.im.hot_pages == 1 && h.im.last_bytes >= 4096);
    /* forcing "the count changed" makes every restore scan */
    lx_cow_force_faults(1);
    scans = h.im.scans;
    lx_image_watch(&h.im);
    CHECK(lx_image_restore(&h.im, h.a) == 0 && h.im.scans == scans + 1);
    lx_cow_force_faults(0);
    /* no watch: the restore scans */
    scans = h.im.scans;
    CHECK(lx_image_restore(&h.im, h.a) == 0 && h.im.scans == scans + 1);
    home_drop(&h);
}

static void test_map_refuses_an_arena_not_from_a_mapped_pool(void)
{
    lx_pool pool;
    lx_arena *a;
    lx_image im;
    void *p;
    lx_pool_init(&pool, PAGE, 8, 1u << 20);
    a = mk(&pool, PAGE, LX_NO_BUDGET);
    p = lx_arena_alloc(a, 100, 8);
    fill(p, 100, 3);
    lx_image_init(&im);
    CHECK(lx_image_take(&im, a) == 0);
    CHECK(lx_image_map(&im, a) == -1 && !lx_image_mapped(&im) && im.bytes != NULL);
    fill(p, 100, 4);
    CHECK(lx_image_restore(&im, a) == 0 && filled(p, 100, 3));
    lx_image_free(&im);
    lx_arena_free(a);
    lx_pool_destroy(&pool);
    /* no pool: the arena's own is not mapped either */
    a = mk(NULL, PAGE, LX_NO_BUDGET);
    CHECK(lx_arena_alloc(a, 100, 8) != NULL);
    CHECK(lx_image_take(&im, a) == 0 && lx_image_map(&im, a) == -1);
    lx_image_free(&im);
    lx_arena_free(a);
}

/* Every failure on the way (tables, memfd, a span's mapping) leaves the
 * image in copy form, working. */
static void test_failed_map_leaves_copy_form(void)
{
    long n;
    int done = 0;
    for (n = 0; n < 200 && !done; n++) {
        home h;
        int rc;
        CHECK(home_make(&h, 30, 0) == 0);
        lx_sys_fail_after(n);
        rc = lx_image_map(&h.im, h.a);
        lx_sys_fail_after(-1);
        if (rc == 0) {
            done = 1;
        } else {
            CHECK(!lx_image_mapped(&h.im) && h.im.bytes != NULL);
        }
        lx_image_watch(&h.im);
        scribble(&h, 20);
        CHECK(lx_image_restore(&h.im, h.a) == 0 && home_same(&h));
        home_drop(&h);
    }
#ifdef __linux__
    CHECK(done);
#endif
}

/* After free the memory is the arena's plain memory, with its contents;
 * a retake maps again; the pool reuses and unmaps the pages. */
static void test_free_keeps_contents_and_pool_reuses(void)
{
    home h;
    lx_arena *b;
    unsigned char *p;
    if (home_make(&h, 40, 1) != 0) {
        home_drop(&h);
        return;
    }
    scribble(&h, 50);
    memcpy(h.saved, h.blocks[0], h.sizes[0]); /* the arena's state now */
    lx_image_free(&h.im);
    CHECK(!lx_image_mapped(&h.im));
    CHECK(memcmp(h.saved, h.blocks[0], h.sizes[0]) == 0);
    /* a second image of the written state, mapped, restores it */
    {
        size_t i, at = 0;
        for (i = 0; i < h.n; i++) {
            memcpy(h.saved + at, h.blocks[i], h.sizes[i]);
            at += h.sizes[i];
        }
    }
    CHECK(lx_image_take(&h.im, h.a) == 0 && lx_image_map(&h.im, h.a) == 0);
    lx_image_watch(&h.im);
    scribble(&h, 50);
    CHECK(lx_image_restore(&h.im, h.a) == 0 && home_same(&h));
    lx_image_free(&h.im);
    lx_arena_free(h.a);
    h.a = NULL;
    /* the pages went back to the pool as plain memory: a new arena uses them */
    b = mk(&h.pool, PAGE, LX_NO_BUDGET);
    p = lx_arena_alloc(b, 3000, 8);
    CHECK(p != NULL && h.pool.pages_reused > 0);
    fill(p, 3000, 9);
    CHECK(filled(p, 3000, 9));
    lx_arena_free(b);
    lx_pool_destroy(&h.pool);
    free(h.blocks);
    free(h.sizes);
    free(h.saved);
}

static const struct test tests[] = {
    T(test_mapped_restore_is_exact_for_every_scan),
    T(test_hot_page_is_learned_then_copied),
    T(test_map_refuses_an_arena_not_from_a_mapped_pool),
    T(test_failed_map_leaves_copy_form),
    T(test_free_keeps_contents_and_pool_reuses),
};

CTEST_MAIN(tests)
