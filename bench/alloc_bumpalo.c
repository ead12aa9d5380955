/*
 * Rust's bumpalo 3.12 (Debian's librust-bumpalo-dev), through the static
 * library in bumpalo/: one Bump for the program, Bump::reset after each
 * request (it keeps its newest, largest chunk).
 *   "bumpalo"      the request loop is Rust's own, with alloc_layout
 *                  inlined, as a Rust program would have it; the blocks
 *                  are written as lxb_touch writes them (bumpalo/src/lib.rs);
 *   "bumpalo-ffi"  this file's loop calls the allocation across the
 *                  language boundary: the same bump plus a call.
 */
#include "harness.h"

typedef struct lxb_bump lxb_bump; /* bumpalo::Bump, opaque */

lxb_bump *lxb_bump_new(void);
void lxb_bump_free(lxb_bump *b);
void lxb_bump_reset(lxb_bump *b);
void *lxb_bump_alloc(lxb_bump *b, size_t n); /* aligned to LXB_ALIGN */
void lxb_bump_request_ends(lxb_bump *b, const uint32_t *sizes, size_t n);
void lxb_bump_request_lines(lxb_bump *b, const uint32_t *sizes, size_t n, int full);

static lxb_bump *bump;

static void setup(void)
{
    bump = lxb_bump_new();
}

static void request(const uint32_t *sizes, size_t n)
{
#if LXB_LIGHT
    lxb_bump_request_ends(bump, sizes, n);
#else
    lxb_bump_request_lines(bump, sizes, n, lxb_touch_full);
#endif
}

static void request_ffi(const uint32_t *sizes, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        void *p = lxb_bump_alloc(bump, sizes[i]);
        lxb_touch(p, sizes[i]);
    }
    lxb_bump_reset(bump);
}

static void teardown(void)
{
    lxb_bump_free(bump);
}

const lxb_variant lxb_variants[] = {
    {"bumpalo", setup, request, teardown},
    {"bumpalo-ffi", setup, request_ffi, teardown},
    {NULL, NULL, NULL, NULL},
};
