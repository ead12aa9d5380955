/* Taking and putting back an arena's bytes at the same addresses (image.h). */
#include "image.h"

#include <string.h>

#include "poison.h"
#include "sysmem.h"

/*
 * The bytes an image covers must be readable and writable as a whole,
 * alignment padding included: the checkers track the blocks handed out,
 * not the gaps between them, and a page kept across a reset is poisoned
 * until bumped again. Under valgrind the covered bytes become "defined":
 * copying a gap's indeterminate bytes is what the image is for.
 */
#if defined(LX_WITH_VALGRIND)
#define LX_EXPOSE(p, n) do { LX_ASAN_UNPOISON(p, n); (void)VALGRIND_MAKE_MEM_DEFINED((p), (n)); } while (0)
#else
#define LX_EXPOSE(p, n) LX_ASAN_UNPOISON(p, n)
#endif

void lx_image_init(lx_image *im)
{
    memset(im, 0, sizeof *im);
}

void lx_image_free(lx_image *im)
{
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

int lx_image_restore(const lx_image *im, lx_arena *a)
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
