/* Taking and putting back an arena's bytes at the same addresses (image.h). */
#include "image.h"

#include <string.h>

#include "cowmap.h"
#include "poison.h"
#include "sysmem.h"

void lx_image_init(lx_image *im)
{
    memset(im, 0, sizeof *im);
}

void lx_image_free(lx_image *im)
{
    lx_cow_free(im->cow);
    lx_sys_free(im->pages);
    lx_sys_free(im->chunks);
    lx_sys_free(im->bytes);
    lx_image_init(im);
}

/* Bytes of page i that the image covers: whole pages up to the bump. */
static size_t page_len(const lx_image *im, size_t page_size, size_t i)
{
    return i + 1 < im->mark.npages ? page_size : im->mark.off;
}

int lx_image_take(lx_image *im, lx_arena *a)
{
    size_t i, n = 0, at = 0;
    lx_image_free(im);
    lx_arena_mark(a, &im->mark);
    for (i = 0; i < im->mark.npages; i++)
        n += page_len(im, a->page_size, i);
    for (i = 0; i < im->mark.nchunks; i++)
        n += a->chunks[i].size;
    if (im->mark.npages > 0 &&
        (im->pages = lx_sys_realloc(NULL, im->mark.npages * sizeof *im->pages)) == NULL)
        goto nomem;
    if (im->mark.nchunks > 0 &&
        (im->chunks = lx_sys_realloc(NULL, im->mark.nchunks * sizeof *im->chunks)) == NULL)
        goto nomem;
    if (n > 0 && (im->bytes = lx_sys_alloc(n)) == NULL)
        goto nomem;
    im->nbytes = n;
    /* Offsets, not a pointer: with nothing to save, bytes is NULL. */
    for (i = 0; i < im->mark.npages; i++) {
        size_t len = page_len(im, a->page_size, i);
        im->pages[i] = a->pages[i];
        LX_EXPOSE(a->pages[i], len);
        if (len > 0)
            memcpy(im->bytes + at, a->pages[i], len);
        at += len;
    }
    for (i = 0; i < im->mark.nchunks; i++) {
        im->chunks[i] = a->chunks[i];
        LX_EXPOSE(a->chunks[i].ptr, a->chunks[i].size);
        memcpy(im->bytes + at, a->chunks[i].ptr, a->chunks[i].size);
        at += a->chunks[i].size;
    }
    return 0;
nomem:
    lx_image_free(im);
    return -1;
}

int lx_image_restore(lx_image *im, lx_arena *a)
{
    size_t i, at = 0;
    if (im->mark.npages > a->npages || im->mark.nchunks > a->nchunks || im->mark.bytes > a->max_bytes)
        return -1;
    /* Same addresses, same sizes: writing there writes the arena's own
     * memory, and every pointer saved inside the bytes is valid again. */
    for (i = 0; i < im->mark.npages; i++)
        if (a->pages[i] != im->pages[i])
            return -1;
    for (i = 0; i < im->mark.nchunks; i++)
        if (a->chunks[i].ptr != im->chunks[i].ptr || a->chunks[i].size != im->chunks[i].size)
            return -1;
    if (im->cow != NULL) {
        lx_cow_figures f;
        lx_cow_restore(im->cow, &f);
        im->last_bytes = f.bytes;
        im->last_pages = f.pages;
        im->hot_pages = f.hot;
        if (f.scanned != 0) {
            im->scans++;
            im->last_scan = f.scanned;
        }
        return lx_arena_rewind(a, &im->mark);
    }
    im->last_bytes = im->nbytes;
    im->last_pages = im->mark.npages + im->mark.nchunks;
    for (i = 0; i < im->mark.npages; i++) {
        size_t len = page_len(im, a->page_size, i);
        LX_EXPOSE(im->pages[i], len);
        if (len > 0)
            memcpy(im->pages[i], im->bytes + at, len);
        at += len;
    }
    for (i = 0; i < im->mark.nchunks; i++) {
        LX_EXPOSE(im->chunks[i].ptr, im->chunks[i].size);
        memcpy(im->chunks[i].ptr, im->bytes + at, im->chunks[i].size);
        at += im->chunks[i].size;
    }
    return lx_arena_rewind(a, &im->mark);
}

int lx_image_map(lx_image *im, lx_arena *a)
{
    lx_span *spans;
    size_t i, n = im->mark.npages + im->mark.nchunks;
    /* Only memory the pool mmap'd may have a file mapped over it: a
     * MAP_FIXED over malloc's memory would break malloc and the checkers. */
    if (im->cow != NULL || n == 0 || a->pool == NULL || !a->pool->mapped || a->pool == &a->own)
        return -1;
    if ((spans = lx_sys_realloc(NULL, n * sizeof *spans)) == NULL)
        return -1;
    /* Whole pages and chunks: lx_sys_map gave each its own 4096-rounded
     * mapping, so the tails past the bump or the size are ours too. */
    for (i = 0; i < im->mark.npages; i++) {
        spans[i].addr = im->pages[i];
        spans[i].len = lx_sys_round(a->page_size);
    }
    for (i = 0; i < im->mark.nchunks; i++) {
        spans[im->mark.npages + i].addr = im->chunks[i].ptr;
        spans[im->mark.npages + i].len = lx_sys_round(im->chunks[i].size);
    }
    im->cow = lx_cow_new(spans, n);
    lx_sys_free(spans);
    if (im->cow == NULL)
        return -1;
    lx_sys_free(im->bytes);
    im->bytes = NULL;
    return 0;
}

void lx_image_watch(lx_image *im)
{
    if (im->cow != NULL)
        lx_cow_watch(im->cow);
}

int lx_image_mapped(const lx_image *im)
{
    return im->cow != NULL;
}
