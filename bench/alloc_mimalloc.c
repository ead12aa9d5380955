/* mimalloc first-class heaps: mi_heap_new per request, mi_heap_destroy
 * frees every block of it at once. */
#include "harness.h"

#include <mimalloc.h>

static void setup(void)
{
}

static void request(const uint32_t *sizes, size_t n)
{
    mi_heap_t *heap = mi_heap_new();
    size_t i;
    if (heap == NULL)
        lxb_die("mi_heap_new");
    for (i = 0; i < n; i++) {
        void *p = mi_heap_malloc(heap, sizes[i]);
        if (p == NULL)
            lxb_die("mi_heap_malloc");
        lxb_touch(p, sizes[i]);
    }
    mi_heap_destroy(heap);
}

static void teardown(void)
{
}

const lxb_variant lxb_variants[] = {
    {"mimalloc-heap", setup, request, teardown},
    {NULL, NULL, NULL, NULL},
};
