/* The pool (pool.h): pages, chunks and shells kept for reuse, within bounds. */
#include "pool.h"

#include <stdlib.h>
#include <string.h>

#include "poison.h"
#include "sysmem.h"

static int recycling = -1;

int lx_recycling(void)
{
    if (recycling < 0) {
#ifdef LX_NO_RECYCLE
        recycling = 0;
#else
        const char *env = getenv("LEXRT_NO_RECYCLE");
        recycling = !(env != NULL && env[0] != '\0' && strcmp(env, "0") != 0);
#endif
    }
    return recycling;
}

void lx_set_recycling(int on)
{
    recycling = on != 0;
}

int lx_pool_init(lx_pool *p, size_t page_size, size_t max_pages, size_t max_chunk_bytes)
{
    memset(p, 0, sizeof *p);
    p->page_size = page_size;
    if (max_pages > LX_POOL_MAX_PAGES)
        return -1;
    p->recycle = lx_recycling();
    if (!p->recycle) {
        max_pages = 0;
        max_chunk_bytes = 0;
    }
    p->max_pages = max_pages;
    p->max_chunk_bytes = max_chunk_bytes;
    return 0;
}

int lx_pool_init_mapped(lx_pool *p, size_t page_size, size_t max_pages, size_t max_chunk_bytes)
{
    int rc = lx_pool_init(p, page_size, max_pages, max_chunk_bytes);
    p->mapped = 1;
    return rc;
}

/* The system's side of a page or chunk, by where the pool takes them. */
static void *sys_get(const lx_pool *p, size_t size)
{
    return p->mapped ? lx_sys_map(size) : lx_sys_alloc(size);
}

static void sys_put(const lx_pool *p, void *block, size_t size)
{
    if (p->mapped)
        lx_sys_unmap(block, size);
    else
        lx_sys_free(block);
}

void lx_pool_destroy(lx_pool *p)
{
    size_t i;
    for (i = 0; i < p->npages; i++)
        sys_put(p, p->pages[i], p->page_size);
    for (i = 0; i < p->nchunks; i++)
        sys_put(p, p->chunks[i].ptr, p->chunks[i].size);
    for (i = 0; i < p->nshells; i++)
        p->free_shell(p->shells[i]);
    lx_sys_free(p->pages);
    p->pages = NULL;
    p->npages = p->cap_pages = p->nchunks = p->nshells = 0;
    p->chunk_bytes = 0;
    p->max_pages = p->max_chunk_bytes = 0;
    p->dead = 1;
}

void *lx_pool_get_page(lx_pool *p)
{
    void *page;
    if (p->npages > 0) {
        page = p->pages[--p->npages];
        p->pages_reused++;
    } else {
        page = sys_get(p, p->page_size);
        if (page == NULL)
            return NULL;
        p->pages_from_system++;
    }
    p->pages_live++;
    return page;
}

/* Room for one more pooled page, up to max_pages (<= LX_POOL_MAX_PAGES,
 * so the size cannot overflow). A bound that is never reached costs
 * nothing; a table that cannot grow only means the page is freed. */
static int room_for_page(lx_pool *p)
{
    size_t ncap;
    void **pages;
    if (p->npages >= p->max_pages)
        return 0;
    if (p->npages < p->cap_pages)
        return 1;
    ncap = p->cap_pages ? p->cap_pages * 2 : 16;
    if (ncap > p->max_pages)
        ncap = p->max_pages;
    pages = lx_sys_realloc(p->pages, ncap * sizeof *pages);
    if (pages == NULL)
        return 0;
    p->pages = pages;
    p->cap_pages = ncap;
    return 1;
}

void lx_pool_put_page(lx_pool *p, void *page)
{
    p->pages_live--;
    if (room_for_page(p)) {
        LX_POISON(page, p->page_size);
        p->pages[p->npages++] = page;
    } else {
        sys_put(p, page, p->page_size);
    }
}

unsigned char *lx_pool_get_chunk(lx_pool *p, size_t size, size_t *got)
{
    size_t i, best = p->nchunks;
    unsigned char *c;
    /* Best fit, so a small request does not pin the biggest chunk. */
    for (i = 0; i < p->nchunks; i++)
        if (p->chunks[i].size >= size && (best == p->nchunks || p->chunks[i].size < p->chunks[best].size))
            best = i;
    if (best < p->nchunks && p->chunks[best].size / 2 <= size) { /* 2 * size could wrap */
        c = p->chunks[best].ptr;
        *got = p->chunks[best].size;
        p->chunk_bytes -= *got;
        p->chunks[best] = p->chunks[--p->nchunks];
        p->chunks_reused++;
    } else {
        c = sys_get(p, size);
        if (c == NULL)
            return NULL;
        *got = lx_sys_round(size);
        p->chunks_from_system++;
    }
    p->chunks_live++;
    return c;
}

void lx_pool_put_chunk(lx_pool *p, unsigned char *chunk, size_t size)
{
    p->chunks_live--;
    if (p->nchunks < LX_POOL_CHUNKS && p->chunk_bytes <= p->max_chunk_bytes &&
        size <= p->max_chunk_bytes - p->chunk_bytes) {
        LX_POISON(chunk, size);
        p->chunks[p->nchunks].ptr = chunk;
        p->chunks[p->nchunks].size = size;
        p->nchunks++;
        p->chunk_bytes += size;
    } else {
        sys_put(p, chunk, size);
    }
}
