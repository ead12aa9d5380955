/*
 * glibc obstack: the request's objects are stacked, and obstack_free back
 * to a mark taken at setup frees all of them (the glibc manual's way to
 * free "everything allocated since"). Chunks come from malloc: the default
 * chunk size (about 4 KiB), or 64 KiB set with obstack_chunk_size.
 */
#include "harness.h"

#include <obstack.h>
#include <stdlib.h>

#define obstack_chunk_alloc malloc
#define obstack_chunk_free free

static struct obstack ob;
static void *mark;

static void setup_with(long chunk)
{
    if (!obstack_init(&ob))
        lxb_die("obstack_init");
    if (chunk > 0)
        obstack_chunk_size(&ob) = chunk;
    mark = obstack_alloc(&ob, 0);
}

static void setup(void)
{
    setup_with(0);
}

static void setup64(void)
{
    setup_with(64 * 1024);
}

static void request(const uint32_t *sizes, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        /* obstack_alloc calls obstack_alloc_failed_handler (which exits)
         * rather than return NULL. */
        void *p = obstack_alloc(&ob, sizes[i]);
        lxb_touch(p, sizes[i]);
    }
    obstack_free(&ob, mark);
}

static void teardown(void)
{
    obstack_free(&ob, NULL);
}

const lxb_variant lxb_variants[] = {
    {"obstack", setup, request, teardown},
    {"obstack-64k", setup64, request, teardown},
    {NULL, NULL, NULL, NULL},
};
