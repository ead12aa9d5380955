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

typedef struct lx_image {
    lx_mark mark;
    unsigned char **pages; /* the mark.npages pages the image covers */
    lx_chunk *chunks;      /* the mark.nchunks chunks, with their sizes */
    unsigned char *bytes;  /* the saved contents: pages in order, then chunks */
    size_t nbytes;
} lx_image;

/* An empty image: restoring it fails, freeing it is a no-op. */
void lx_image_init(lx_image *im);
/* Saves a's contents; replaces what im held. 0, or -1 out of memory (im
 * is then empty). */
int lx_image_take(lx_image *im, lx_arena *a);
/* Puts them back. 0, or -1 (nothing changed) when a no longer holds
 * the image's pages and chunks at the same addresses. */
int lx_image_restore(const lx_image *im, lx_arena *a);
void lx_image_free(lx_image *im);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
