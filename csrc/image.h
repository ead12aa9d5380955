/*
 * An arena's contents at one moment, to be put back exactly, at the same
 * addresses: what lets an isolate's Lua state start every call from the
 * state it had when it was built.
 *
 * A bump arena never moves a block, so a structure of pointers built in
 * it (a whole Lua state) stays valid wherever its bytes are copied back
 * over the same pages. lx_image_take saves the bytes in use (every page
 * up to the bump position, and every large chunk) with the bump position;
 * lx_image_restore copies them back over the same pages and chunks and
 * rewinds the arena to that position (lx_arena_rewind): whatever was
 * allocated or written after the take is gone, and every handle is stale.
 *
 * Pure C, no Lua: tested in ctest/ and by the fuzzer's reference model.
 */
#ifndef LEXRT_IMAGE_H
#define LEXRT_IMAGE_H

#include <stddef.h>

#include "arena.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

struct lx_cow;

typedef struct lx_image {
    lx_mark mark;
    unsigned char **pages; /* the mark.npages pages the image covers */
    lx_chunk *chunks;      /* the mark.nchunks chunks, with their sizes */
    unsigned char *bytes;  /* copy form: pages in order, then chunks; NULL when mapped */
    size_t nbytes;         /* bytes the image covers */
    struct lx_cow *cow;    /* the mapped form (cowmap.h), or NULL: copy form */
    /* The last restore's figures, for iso:stats(). */
    size_t last_bytes, last_pages; /* put back */
    size_t hot_pages;              /* mapped form: copied on every restore */
    unsigned long long scans;      /* mapped form: restores that scanned */
    int last_scan; /* cowmap.h's enum lx_scan of the last scan, 0: none */
} lx_image;

/* An empty image: restoring it fails, freeing it is a no-op. */
void lx_image_init(lx_image *im);
/* Saves a's contents; replaces what im held. 0, or -1 out of memory (im
 * is then empty). */
int lx_image_take(lx_image *im, lx_arena *a);
/* Puts them back. 0, or -1 (nothing changed) when a no longer holds
 * the image's pages and chunks at the same addresses. */
int lx_image_restore(lx_image *im, lx_arena *a);
/* Frees what im holds. In mapped form the image's spans become private
 * anonymous memory again holding what they hold now, so call it while a
 * still holds them (before lx_arena_free or a rewind past the image). */
void lx_image_free(lx_image *im);

/*
 * The mapped form (Linux): after lx_image_take, lx_image_map puts the
 * image in a sealed memfd mapped copy-on-write over its own pages and
 * chunks, so that a restore copies back only the pages written since
 * lx_image_watch. 0, or -1 with the image still in copy form (not Linux,
 * a's pool not lx_pool_init_mapped, out of memory, a refused system call).
 * Call order per call: lx_image_watch at its start, before anything
 * writes a's memory, from the thread that then runs the call and calls
 * lx_image_restore at its end. A restore with no watch scans (exact, slower).
 */
int lx_image_map(lx_image *im, lx_arena *a);
void lx_image_watch(lx_image *im);
int lx_image_mapped(const lx_image *im);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
