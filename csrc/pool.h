/*
 * A bounded cache of pages, large chunks and shells (opaque blocks: the
 * arena layer keeps its arena structs here), shared by the arenas of one
 * effect handler (and its workers).
 *
 * A request-shaped program creates an arena per request and drops it at
 * the end. Without a pool every request would take its pages from the
 * system and give them back; with one, a steady stream of requests takes
 * nothing from the system after warm-up. The pool never grows past its
 * bounds: surplus memory is returned to the system at once.
 *
 * The core's second layer: it builds on sysmem.h alone and knows nothing
 * of arenas (ctest/pool_test.c tests it without them).
 */
#ifndef LEXRT_POOL_H
#define LEXRT_POOL_H

#include <stddef.h>

/* Internal to the module: calls between its files stay direct (no PLT)
 * even in builds that do not pass -fvisibility=hidden, such as luarocks'. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define LX_POOL_CHUNKS 16 /* large chunks kept at most */
#define LX_POOL_SHELLS 32 /* shells kept at most */
#define LX_POOL_MAX_PAGES ((size_t)1 << 20) /* the largest bound on pooled pages */

/* How the pool frees a shell it does not keep, or keeps no longer. */
typedef void lx_free_shell_fn(void *shell);

typedef struct lx_chunk {
    unsigned char *ptr;
    size_t size;
} lx_chunk;

typedef struct lx_pool {
    size_t page_size;
    size_t max_pages;       /* bound on pooled pages */
    size_t max_chunk_bytes; /* bound on bytes held in pooled chunks */
    void **pages;           /* pooled pages; grows as pages come back */
    size_t npages, cap_pages;
    lx_chunk chunks[LX_POOL_CHUNKS];
    size_t nchunks;
    size_t chunk_bytes;
    void *shells[LX_POOL_SHELLS];
    size_t nshells;
    lx_free_shell_fn *free_shell; /* the shells' destructor, from the first put */
    size_t pages_live;  /* pages handed out and not yet given back */
    size_t chunks_live; /* chunks handed out and not yet given back */
    unsigned long long pages_from_system, pages_reused;
    unsigned long long chunks_from_system, chunks_reused;
    /* lx_recycling() when the pool was made: 0 keeps nothing, and tells
     * the pool's arenas to give their pages back on reset. */
    int recycle;
    /* Pages and chunks are mmap'd (lx_sys_map): an image may map a file
     * over them (image.h's mapped form). Set by lx_pool_init_mapped. */
    int mapped;
    int dead; /* destroyed: everything given back now goes to the system */
} lx_pool;

/* Returns 0, or -1 when max_pages is over LX_POOL_MAX_PAGES. Allocates
 * nothing: the table of pooled pages grows as pages are given back. */
int lx_pool_init(lx_pool *p, size_t page_size, size_t max_pages, size_t max_chunk_bytes);
/* The same, for a pool whose pages and chunks are lx_sys_map'd memory
 * (an isolate's home arena, so that its image can be mapped). */
int lx_pool_init_mapped(lx_pool *p, size_t page_size, size_t max_pages, size_t max_chunk_bytes);
/* Frees everything pooled (shells through their destructor); later
 * give-backs go straight to the system. */
void lx_pool_destroy(lx_pool *p);

void *lx_pool_get_page(lx_pool *p);
void lx_pool_put_page(lx_pool *p, void *page);
/* A chunk of at least `size` bytes; its real size goes to *got. */
unsigned char *lx_pool_get_chunk(lx_pool *p, size_t size, size_t *got);
void lx_pool_put_chunk(lx_pool *p, unsigned char *chunk, size_t size);

/*
 * Shells: blocks of one kind, opaque to the pool, kept for the next taker
 * (an arena struct with its tables: the arena layer's). get: a kept shell,
 * or NULL. put: keeps the shell, or frees it with free_shell when the pool
 * is full, destroyed or not recycling. Inline: a request scope takes and
 * gives one each time.
 */
static inline void *lx_pool_get_shell(lx_pool *p)
{
    return p->nshells > 0 ? p->shells[--p->nshells] : NULL;
}

static inline void lx_pool_put_shell(lx_pool *p, void *shell, lx_free_shell_fn *free_shell)
{
    if (p->nshells < LX_POOL_SHELLS && p->recycle && !p->dead) {
        p->free_shell = free_shell;
        p->shells[p->nshells++] = shell;
    } else {
        free_shell(shell);
    }
}

/*
 * The process's recycling default, which each pool reads once, when it
 * is made: LEXRT_NO_RECYCLE=1 (or -DLX_NO_RECYCLE) turns it off, so that
 * the checkers see every free. lx_set_recycling changes it for the pools
 * made from then on (tests and the fuzzer switch it this way).
 */
int lx_recycling(void);
void lx_set_recycling(int on);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
