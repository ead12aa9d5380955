/* APR pools: one pool for the program, apr_pool_clear after each request
 * (the pool keeps its blocks; its allocator caches freed ones). */
#include "harness.h"

#include <apr_general.h>
#include <apr_pools.h>

static apr_pool_t *pool;

static void setup(void)
{
    if (apr_initialize() != APR_SUCCESS || apr_pool_create(&pool, NULL) != APR_SUCCESS)
        lxb_die("apr_pool_create");
}

static void request(const uint32_t *sizes, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        void *p = apr_palloc(pool, sizes[i]);
        if (p == NULL)
            lxb_die("apr_palloc");
        lxb_touch(p, sizes[i]);
    }
    apr_pool_clear(pool);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
    apr_terminate();
}

const lxb_variant lxb_variants[] = {
    {"apr-pool", setup, request, teardown},
    {NULL, NULL, NULL, NULL},
};
