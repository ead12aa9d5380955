/* glibc malloc: every block freed at the end of its request. */
#include "harness.h"

#include <stdlib.h>

static void *blocks[LXB_MAX_PER_REQ];

static void setup(void)
{
}

static void request(const uint32_t *sizes, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        void *p = malloc(sizes[i]);
        if (p == NULL)
            lxb_die("malloc");
        lxb_touch(p, sizes[i]);
        blocks[i] = p;
    }
    for (i = 0; i < n; i++)
        free(blocks[i]);
}

static void teardown(void)
{
}

const lxb_variant lxb_variants[] = {
    {"glibc-malloc", setup, request, teardown},
    {NULL, NULL, NULL, NULL},
};
