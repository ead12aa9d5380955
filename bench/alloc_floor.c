/*
 * Not an allocator: the floor. A bare bump pointer into one static buffer,
 * no checks, no bookkeeping, so its time is the workload's own cost (the
 * loop and the touching). Time above this row is what an allocator adds.
 */
#include "harness.h"

#include <stdint.h>

#define FLOOR_BYTES ((size_t)8 << 20) /* > the largest request, 400 x 100 KiB */

static _Alignas(4096) unsigned char buf[FLOOR_BYTES];

static void setup(void)
{
}

static void request(const uint32_t *sizes, size_t n)
{
    size_t i, off = 0;
    for (i = 0; i < n; i++) {
        void *p = buf + off;
        if (sizes[i] > FLOOR_BYTES - off)
            lxb_die("floor buffer too small");
        off = (off + sizes[i] + (LXB_ALIGN - 1)) & ~(size_t)(LXB_ALIGN - 1);
        lxb_touch(p, sizes[i]);
    }
}

static void teardown(void)
{
}

const lxb_variant lxb_variants[] = {
    {"floor", setup, request, teardown},
    {NULL, NULL, NULL, NULL},
};
