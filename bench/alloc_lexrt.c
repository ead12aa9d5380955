/*
 * lexrt: one pooled arena, reset once per request.
 *
 * "lexrt" allocates through lx_arena_alloc_h, the path the Lua binding
 * uses, so the handle table is part of the measurement; "lexrt-raw" uses
 * the plain bump path lx_arena_alloc for comparison.
 */
#include "harness.h"

#include "arena.h" /* -I../csrc */

static lx_pool pool;
static lx_arena *arena;

static void setup(void)
{
    uint64_t seed = 1;
    if (lx_pool_init(&pool, 65536, 64, (size_t)16 << 20) != 0)
        lxb_die("lx_pool_init");
    arena = lx_arena_new(&pool, 65536, LX_NO_BUDGET, lx_next_key(&seed));
    if (arena == NULL)
        lxb_die("lx_arena_new");
}

static void request_h(const uint32_t *sizes, size_t n)
{
    uint64_t acc = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        int64_t h;
        void *p = lx_arena_alloc_h(arena, sizes[i], LXB_ALIGN, &h);
        if (p == NULL)
            lxb_die("lx_arena_alloc_h");
        lxb_touch(p, sizes[i]);
        acc += (uint64_t)h; /* Lua keeps the handle; so must we */
    }
    lx_arena_reset(arena);
    lxb_sink += acc;
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

static void teardown(void)
{
    lx_arena_free(arena);
    lx_pool_destroy(&pool);
}

const lxb_variant lxb_variants[] = {
    {"lexrt", setup, request_h, teardown},
    {"lexrt-raw", setup, request_raw, teardown},
    {NULL, NULL, NULL, NULL},
};
