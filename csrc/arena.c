/* The arena (arena.h): bump allocation over pages and chunks from a pool. */
#include "arena.h"

#include <string.h>

#include "sysmem.h"

/* Large chunks a standalone arena keeps across reset, in bytes. */
#define LX_OWN_CHUNK_BYTES ((size_t)8 * 1024 * 1024)

uint64_t lx_next_key(uint64_t *state)
{
    /* splitmix64: cheap, and consecutive seeds give unrelated keys. */
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

int lx_valid_page_size(size_t page_size)
{
    return page_size >= LX_MIN_PAGE && page_size <= LX_MAX_PAGE &&
           (page_size & (page_size - 1)) == 0;
}

/* The generation after g, skipping the two whose handles would have a
 * high word of 0 or all-ones (see arena.h). */
static uint32_t next_gen(uint64_t key, uint32_t g)
{
    uint32_t hk = (uint32_t)(key >> 32);
    do
        g++;
    while ((g ^ hk) == 0 || (g ^ hk) == 0xffffffffu);
    return g;
}

static void empty_window(lx_arena *a)
{
    a->off = a->woff = 1;
    a->lim = a->plim = 0;
}

/* The window from address `off` to the page end `plim`, or to where the
 * budget ends. */
static void set_window(lx_arena *a, uintptr_t off, uintptr_t plim)
{
    size_t left = a->max_bytes - a->used;
    a->off = a->woff = off;
    a->plim = plim;
    a->lim = plim - off <= left ? plim : off + left;
}

static void set_gen(lx_arena *a, uint32_t gen)
{
    a->gen = gen;
    a->hbase = ((uint64_t)gen << 32) ^ a->key;
}

/* Reset's generation step: crossing 2^32 starts a new lap (arena.h). */
static void next_generation(lx_arena *a)
{
    uint32_t gen = next_gen(a->key, a->gen);
    if (gen < a->gen)
        a->key ^= LX_LAP_BIT;
    set_gen(a, gen);
}

/* The pool's destructor for the arena shells it keeps: an arena struct
 * with its tables, nothing in them live. */
static void free_shell(void *shell)
{
    lx_arena *a = shell;
    lx_sys_free(a->blocks);
    lx_sys_free(a->pages);
    lx_sys_free(a->chunks);
    lx_sys_free(a);
}

lx_arena *lx_arena_new(lx_pool *pool, size_t page_size, size_t max_bytes, uint64_t key)
{
    lx_arena *a = pool != NULL ? lx_pool_get_shell(pool) : NULL;
    if (a == NULL) {
        a = lx_sys_realloc(NULL, sizeof *a);
        if (a == NULL)
            return NULL;
        a->blocks = NULL;
        a->cap_blocks = 0;
        a->pages = NULL;
        a->cap_pages = 0;
        a->chunks = NULL;
        a->cap_chunks = 0;
    }
    if (pool == NULL) {
        if (lx_pool_init(&a->own, page_size, 0, LX_OWN_CHUNK_BYTES) != 0) {
            free_shell(a);
            return NULL;
        }
        pool = &a->own;
    }
    a->pool = pool;
    a->page_size = pool->page_size;
    a->max_bytes = max_bytes;
    a->used = 0;
    a->key = key;
    set_gen(a, next_gen(key, (uint32_t)key));
    a->err = LX_OK;
    a->allocs = a->nblocks = 0;
    a->npages = a->ipage = a->nchunks = 0;
    a->large_allocs = a->wasted = a->peak_bytes = 0;
    a->resets = 0;
    empty_window(a);
    return a;
}

static void release_chunks(lx_arena *a)
{
    size_t i;
    for (i = 0; i < a->nchunks; i++)
        lx_pool_put_chunk(a->pool, a->chunks[i].ptr, a->chunks[i].size);
    a->nchunks = 0;
}

static void release_pages(lx_arena *a)
{
    size_t i;
    for (i = 0; i < a->npages; i++)
        lx_pool_put_page(a->pool, a->pages[i]);
    a->npages = a->ipage = 0;
}

void lx_arena_free(lx_arena *a)
{
    lx_pool *pool = a->pool;
    release_chunks(a);
    release_pages(a);
    if (pool == &a->own) {
        lx_pool_destroy(pool);
        free_shell(a);
    } else {
        lx_pool_put_shell(pool, a, free_shell);
    }
}

void lx_arena_reset(lx_arena *a)
{
    size_t used = lx_arena_bytes(a);
    if (used > a->peak_bytes)
        a->peak_bytes = used;
    release_chunks(a);
    if (a->pool->recycle) {
        size_t i;
        /* Keep the pages, but make the old contents unreachable for the
         * checkers until the bump pointer hands them out again. */
        for (i = 0; i < a->npages; i++)
            LX_POISON(a->pages[i], a->page_size);
    } else {
        release_pages(a);
    }
    a->nblocks = 0;
    next_generation(a);
    a->allocs = a->large_allocs = a->wasted = 0;
    a->used = 0;
    a->ipage = 0;
    a->resets++;
    a->err = LX_OK;
    if (a->npages > 0)
        set_window(a, (uintptr_t)a->pages[0], (uintptr_t)a->pages[0] + a->page_size);
    else
        empty_window(a);
}

static int grow(void **arr, size_t *cap, size_t elem, size_t at_least)
{
    size_t ncap;
    void *p;
    if (*cap > SIZE_MAX / 2)
        return -1;
    ncap = *cap ? *cap * 2 : 16;
    if (ncap < at_least)
        ncap = at_least;
    if (ncap > SIZE_MAX / elem)
        return -1;
    p = lx_sys_realloc(*arr, ncap * elem);
    if (p == NULL)
        return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

int lx_arena_grow_blocks(lx_arena *a)
{
    if (a->nblocks >= LX_MAX_BLOCKS) {
        a->err = LX_ETOOMANY;
        return -1;
    }
    if (grow((void **)&a->blocks, &a->cap_blocks, sizeof *a->blocks, 64) != 0) {
        a->err = LX_ENOMEM;
        return -1;
    }
    if (a->cap_blocks > LX_MAX_BLOCKS)
        a->cap_blocks = LX_MAX_BLOCKS;
    return 0;
}

static void *fail(lx_arena *a, int err)
{
    a->err = err;
    return NULL;
}

static void *alloc_large(lx_arena *a, size_t n)
{
    unsigned char *c;
    size_t got;
    if (n > a->max_bytes - lx_arena_bytes(a))
        return fail(a, LX_EBUDGET);
    if (a->nchunks == a->cap_chunks &&
        grow((void **)&a->chunks, &a->cap_chunks, sizeof *a->chunks, 4) != 0)
        return fail(a, LX_ENOMEM);
    if (n > SIZE_MAX - 4096 || (c = lx_pool_get_chunk(a->pool, n, &got)) == NULL)
        return fail(a, LX_ENOMEM);
    a->chunks[a->nchunks].ptr = c;
    a->chunks[a->nchunks].size = got;
    a->nchunks++;
    /* Close the window's books, then cut it to the budget that is left. */
    a->used += n + (size_t)(a->off - a->woff);
    a->woff = a->off;
    if (a->off <= a->plim)
        set_window(a, a->off, a->plim);
    a->large_allocs++;
    LX_UNPOISON(c, n);
    return c;
}

/* Moves the bump window to the next page: a kept one, or a new one. */
static int next_page(lx_arena *a)
{
    size_t next = a->npages == 0 ? 0 : a->ipage + 1;
    if (next == a->npages) {
        void *page;
        if (a->npages == a->cap_pages &&
            grow((void **)&a->pages, &a->cap_pages, sizeof *a->pages, 4) != 0)
            return -1;
        page = lx_pool_get_page(a->pool);
        if (page == NULL)
            return -1;
        a->pages[a->npages++] = page;
    }
    if (a->off <= a->plim)
        a->wasted += (size_t)(a->plim - a->off);
    a->used += (size_t)(a->off - a->woff);
    a->ipage = next;
    set_window(a, (uintptr_t)a->pages[next], (uintptr_t)a->pages[next] + a->page_size);
    return 0;
}

/* The bump when the fast path's window test failed, counting nothing. */
static void *bump_slow(lx_arena *a, size_t n, size_t align)
{
    uintptr_t start = lx_arena_start(a, align);
    unsigned char *p;
    if (start <= a->lim && n <= a->lim - start) { /* the fast path's test */
        p = (unsigned char *)start; /* NOLINT(performance-no-int-to-ptr) */
        a->off = start + n;
        LX_UNPOISON(p, n);
        return p;
    }
    if (n > a->page_size)
        return alloc_large(a, n);
    if (start <= a->plim && n <= a->plim - start)
        return fail(a, LX_EBUDGET); /* it fitted the page: only the budget said no */
    /* A fresh page starts at offset 0: no padding to charge. */
    if (n > a->max_bytes - lx_arena_bytes(a))
        return fail(a, LX_EBUDGET);
    if (next_page(a) != 0)
        return fail(a, LX_ENOMEM);
    p = (unsigned char *)a->off; /* NOLINT(performance-no-int-to-ptr) */
    a->off += n; /* the new window holds n: n <= page_size and n <= budget left */
    LX_UNPOISON(p, n);
    return p;
}

void *lx_arena_alloc_slow(lx_arena *a, size_t n, size_t align)
{
    void *p = bump_slow(a, n, align);
    if (p != NULL)
        a->allocs++;
    return p;
}

lx_newblock lx_arena_alloc_h_slow(lx_arena *a, size_t n, size_t align)
{
    lx_newblock b = {NULL, 0};
    if (a->nblocks == a->cap_blocks && lx_arena_grow_blocks(a) != 0)
        return b;
    b.p = bump_slow(a, n, align);
    if (b.p != NULL) {
        size_t i = a->nblocks;
        a->blocks[i].ptr = b.p;
        a->blocks[i].len = n;
        a->nblocks = i + 1;
        b.h = (int64_t)(a->hbase ^ i);
    }
    return b;
}

void lx_arena_stats(const lx_arena *a, lx_stats *s)
{
    size_t i;
    s->bytes_allocated = lx_arena_bytes(a);
    s->wasted = a->wasted;
    s->pages = a->npages;
    s->chunks = a->nchunks;
    s->capacity = a->npages * a->page_size;
    for (i = 0; i < a->nchunks; i++)
        s->capacity += a->chunks[i].size;
    if (a->pool == &a->own) {
        /* A standalone arena's kept chunks are still its own memory. */
        s->chunks += a->own.nchunks;
        s->capacity += a->own.chunk_bytes;
    }
    s->page_count = s->pages + s->chunks;
    s->allocs = a->allocs + a->nblocks;
    s->large_allocs = a->large_allocs;
    s->peak_bytes = a->peak_bytes > s->bytes_allocated ? a->peak_bytes : s->bytes_allocated;
    s->resets = a->resets;
}

/* ------------------------------------------------------------------ marks */

void lx_arena_mark(const lx_arena *a, lx_mark *m)
{
    m->npages = a->npages == 0 ? 0 : a->ipage + 1;
    m->ipage = a->ipage;
    /* With a page there is always a window in it (empty_window only runs
     * when the arena holds none), so off is an address in pages[ipage]. */
    m->off = a->npages == 0 ? 0 : (size_t)(a->off - (uintptr_t)a->pages[a->ipage]);
    m->bytes = lx_arena_bytes(a);
    m->wasted = a->wasted;
    m->allocs = a->allocs + a->nblocks; /* handle blocks become plain ones */
    m->large_allocs = a->large_allocs;
    m->nchunks = a->nchunks;
}

int lx_arena_rewind(lx_arena *a, const lx_mark *m)
{
    size_t i, now = lx_arena_bytes(a), keep = m->npages;
    if (m->npages > a->npages || m->nchunks > a->nchunks || m->bytes > a->max_bytes)
        return -1;
    if (now > a->peak_bytes)
        a->peak_bytes = now;
    for (i = m->nchunks; i < a->nchunks; i++)
        lx_pool_put_chunk(a->pool, a->chunks[i].ptr, a->chunks[i].size);
    a->nchunks = m->nchunks;
    if (a->pool->recycle) {
        keep = a->npages;
        /* Later pages stay for reuse, unreachable until bumped again. */
        for (i = m->npages; i < a->npages; i++)
            LX_POISON(a->pages[i], a->page_size);
    } else {
        for (i = m->npages; i < a->npages; i++)
            lx_pool_put_page(a->pool, a->pages[i]);
        a->npages = m->npages;
    }
    a->nblocks = 0;
    next_generation(a);
    a->allocs = m->allocs;
    a->large_allocs = m->large_allocs;
    a->wasted = m->wasted;
    a->used = m->bytes;
    a->err = LX_OK;
    if (m->npages > 0) {
        unsigned char *page = a->pages[m->ipage];
        a->ipage = m->ipage;
        /* The page's tail after the mark is free again. */
        LX_POISON(page + m->off, a->page_size - m->off);
        set_window(a, (uintptr_t)page + m->off, (uintptr_t)page + a->page_size);
    } else {
        a->ipage = 0;
        if (keep > 0)
            set_window(a, (uintptr_t)a->pages[0], (uintptr_t)a->pages[0] + a->page_size);
        else
            empty_window(a);
    }
    return 0;
}

/* ------------------------------------------------------------------ foreign allocators */

void *lx_arena_realloc(lx_arena *a, void *p, size_t osize, size_t nsize, size_t align)
{
    void *q;
    if (p == NULL)
        return lx_arena_alloc(a, nsize, align);
    if (nsize == 0)
        return NULL;
    if (nsize <= osize)
        return p;
    /* Addresses as integers: p may lie in another page or arena, where a
     * relational pointer comparison would be undefined. p inside the
     * window's page and ending at the bump address: it is the topmost
     * block, and the bytes after it up to lim are this arena's to give. */
    if (a->off <= a->lim) {
        uintptr_t base = a->plim - a->page_size, at = (uintptr_t)p;
        if (at - base < a->off - base && at + osize == a->off && nsize - osize <= a->lim - a->off) {
            LX_UNPOISON((unsigned char *)p + osize, nsize - osize);
            a->off += nsize - osize;
            return p;
        }
    }
    q = lx_arena_alloc(a, nsize, align);
    if (q != NULL)
        memcpy(q, p, osize);
    return q;
}

int lx_arena_set_budget(lx_arena *a, size_t max_bytes)
{
    size_t now = lx_arena_bytes(a);
    if (max_bytes < now)
        return -1;
    a->max_bytes = max_bytes;
    if (a->off <= a->plim) {
        /* Close the window's books and reopen it under the new budget. */
        a->used = now;
        set_window(a, a->off, a->plim);
    }
    return 0;
}
