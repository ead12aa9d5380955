/*
 * talloc: a child context per request, talloc_free of that context at the
 * end. "talloc-pool" hangs the request contexts under one long-lived
 * talloc_pool, so small blocks come out of the pool's memory and the pool
 * rewinds when its last child is freed (large blocks still go to malloc).
 */
#include "harness.h"

#include <talloc.h>

#define POOL_BYTES ((size_t)1 << 20) /* several requests' worth of small blocks */

static TALLOC_CTX *root;

static void setup(void)
{
    root = talloc_new(NULL);
    if (root == NULL)
        lxb_die("talloc_new");
}

static void setup_pool(void)
{
    root = talloc_pool(NULL, POOL_BYTES);
    if (root == NULL)
        lxb_die("talloc_pool");
}

static void request(const uint32_t *sizes, size_t n)
{
    TALLOC_CTX *req = talloc_new(root);
    size_t i;
    if (req == NULL)
        lxb_die("talloc_new");
    for (i = 0; i < n; i++) {
        void *p = talloc_size(req, sizes[i]);
        if (p == NULL)
            lxb_die("talloc_size");
        lxb_touch(p, sizes[i]);
    }
    talloc_free(req);
}

static void teardown(void)
{
    talloc_free(root);
}

const lxb_variant lxb_variants[] = {
    {"talloc", setup, request, teardown},
    {"talloc-pool", setup_pool, request, teardown},
    {NULL, NULL, NULL, NULL},
};
