/*
 * lexrt's core, three ways:
 *   "lexrt"        one pooled arena, reset per request, allocating through
 *                  lx_arena_alloc_h: the handle path the Lua binding uses,
 *                  so the handle table is part of the measurement;
 *   "lexrt-raw"    the same arena through lx_arena_alloc (no handles);
 *   "lexrt-scope"  what a request scope does: lx_arena_new from the pool
 *                  at the start of each request, lx_arena_alloc_h, then
 *                  lx_arena_free (pages and the arena shell go back to the
 *                  pool).
 */
#include "harness.h"

#include "arena.h" /* -I../csrc */

#define PAGE ((size_t)65536)

static lx_pool pool;
static lx_arena *arena;
static uint64_t seed = 1;

static void setup_pool(void)
{
    if (lx_pool_init(&pool, PAGE, 64, (size_t)16 << 20) != 0)
        lxb_die("lx_pool_init");
}

static void setup(void)
{
    setup_pool();
    arena = lx_arena_new(&pool, PAGE, LX_NO_BUDGET, lx_next_key(&seed));
    if (arena == NULL)
        lxb_die("lx_arena_new");
}

/* Allocates a request's blocks in `a` through the handle path. */
static inline void fill_h(lx_arena *a, const uint32_t *sizes, size_t n)
{
    uint64_t acc = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        int64_t h;
        void *p = lx_arena_alloc_h(a, sizes[i], LXB_ALIGN, &h);
        if (p == NULL)
            lxb_die("lx_arena_alloc_h");
        lxb_touch(p, sizes[i]);
        acc += (uint64_t)h; /* Lua keeps the handle; so must we */
    }
    lxb_sink += acc;
}

static void request_h(const uint32_t *sizes, size_t n)
{
    fill_h(arena, sizes, n);
    lx_arena_reset(arena);
}

static void request_raw(const uint32_t *sizes, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        void *p = lx_arena_alloc(arena, sizes[i], LXB_ALIGN);
        if (p == NULL)
            lxb_die("lx_arena_alloc");
        lxb_touch(p, sizes[i]);
    }
    lx_arena_reset(arena);
}

static void request_scope(const uint32_t *sizes, size_t n)
{
    lx_arena *a = lx_arena_new(&pool, PAGE, LX_NO_BUDGET, lx_next_key(&seed));
    if (a == NULL)
        lxb_die("lx_arena_new");
    fill_h(a, sizes, n);
    lx_arena_free(a);
}

static void teardown(void)
{
    lx_arena_free(arena);
    lx_pool_destroy(&pool);
}

static void teardown_pool(void)
{
    lx_pool_destroy(&pool);
}

const lxb_variant lxb_variants[] = {
    {"lexrt", setup, request_h, teardown},
    {"lexrt-raw", setup, request_raw, teardown},
    {"lexrt-scope", setup_pool, request_scope, teardown_pool},
    {NULL, NULL, NULL, NULL},
};
