/*
 * The page pool's Lua type (l_pool.c): a userdata around an lx_pool
 * (pool.h) that handlers share, so that a worker's handler draws from its
 * parent's pages. Only l_handler.c makes and holds pools.
 */
#ifndef LEXRT_L_POOL_H
#define LEXRT_L_POOL_H

#include "lbind.h"
#include "pool.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* The most bytes of free large chunks a handler's pool keeps; pool_pages
 * defaults to this many bytes of pages. core.POOL_BYTES tells Lua. */
#define LXB_POOL_BYTES ((size_t)16 * 1024 * 1024)

typedef struct LPool {
    lx_pool pool;
    int users; /* open handlers drawing from it */
    int live;  /* lx_pool_init succeeded and destroy has not run */
} LPool;

/* Pushes a new pool of pages of `page_size` for the handler whose options
 * table is at `opts` (argument 1: pool_pages). Raises on a bad option. */
LPool *lxb_new_pool(lua_State *L, int opts, size_t page_size);

/* The pool to draw from, or NULL once destroyed (arenas then use their
 * own pages). */
static inline lx_pool *lxb_pool_of(LPool *lp)
{
    return lp->live ? &lp->pool : NULL;
}

/* A handler starts / stops drawing from lp. The last one to stop gives the
 * cached pages back now, rather than whenever the collector gets to it. */
void lxb_pool_attach(LPool *lp);
void lxb_pool_detach(LPool *lp);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
