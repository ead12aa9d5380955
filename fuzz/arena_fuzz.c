/*
 * libFuzzer harness for lexrt's arena core (csrc/arena.c, pool.c,
 * sysmem.c), checked against a reference model.
 *
 * The input is a small header followed by a stream of operations on 1-3
 * arenas, some drawing from one shared lx_pool and some standalone. Every
 * result is compared with what the model predicts:
 *   - every allocation: success or the exact error (LX_EBUDGET; LX_ENOMEM
 *     only while failure injection is armed), the exact address for a
 *     block that fits the current page, a 4096-aligned fresh or kept page
 *     otherwise, the alignment, and the counters after it (a failed call
 *     must leave them all unchanged);
 *   - every byte of every live block (each block is filled with its own
 *     pattern when it is handed out, so overlapping blocks show up);
 *   - every counter of lx_arena_stats (bytes_allocated incl. padding,
 *     recomputed from the blocks, allocs, large_allocs, wasted, pages,
 *     chunks, page_count, capacity bounds, peak_bytes, resets) and the
 *     pool's bookkeeping (pages_live, chunks_live, bounds);
 *   - every handle verdict: live -> the right block; stale (same arena,
 *     earlier generation) -> NULL; any integer in [-2^32, 2^32) -> NULL;
 *     foreign / forged / older incarnation -> exactly what the handle
 *     decodes to under this arena's key and generation (the model knows
 *     both), which is NULL or one of this arena's own live blocks;
 *   - under ASan, that live blocks are addressable and kept pages are
 *     poisoned after a reset;
 *   - what an isolate's Lua state relies on: lx_arena_realloc (a no-op
 *     free, shrinking in place, growing the topmost block in place when
 *     page and budget allow, else a new block holding the old bytes),
 *     lx_arena_set_budget, and images (csrc/image.c, in copy form and in
 *     mapped form, op_mapped): a take followed by
 *     anything, then a restore, must give back every block's bytes and
 *     the exact bump position and books of the take, with every handle
 *     stale, or refuse (changing nothing) exactly when the arena no
 *     longer holds the image's pages and chunks.
 * Any mismatch prints the line and aborts.
 *
 * Input format (missing bytes read as 0):
 *   byte 0   bits 0-1: arenas = 1 + (b & 3) % 3; bit 2: recycling off;
 *            bit 3: create the shared pool
 *   byte 1   pool page size 4096 << ((b & 7) % 5); pool max_pages (b >> 3) % 9
 *   byte 2   pool max_chunk_bytes: {0, 64K, 1M, 8M}[b & 3]
 *   byte 3   key seed
 *   bytes 4-9  per arena slot (3 slots, 2 bytes each) a config c0 c1:
 *            c0 bit 0: pooled (when there is a pool); bits 1-3: page size
 *            4096 << (x % 5); bits 4-7: budget selector (see budget()).
 *   then ops, each one byte: low nibble = op, high nibble % arenas = slot,
 *   followed by that op's operand bytes (see run_op()).
 *
 * Build: make (see Makefile). With -DLX_FUZZ_STANDALONE a main() is
 * compiled in that runs files / directories given on the command line, or
 * `-r N [SEED]` random inputs, without libFuzzer (for gcc and valgrind).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "cowmap.h"
#include "image.h"
#include "pool.h"
#include "sysmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TWO32 ((int64_t)1 << 32)
#define NSLOTS 3
#define RING 256
#define MEM_LIMIT ((size_t)48 << 20) /* live bytes requested, all arenas */
#define MAX_BLOCKS ((size_t)1 << 18) /* per arena */

static void die(int line, const char *what)
{
    fprintf(stderr, "arena_fuzz: mismatch at arena_fuzz.c:%d: %s\n", line, what);
    fflush(stderr);
    abort();
}

#define FAILIF(c)                                                                    \
    do {                                                                             \
        if (c)                                                                       \
            die(__LINE__, #c);                                                       \
    } while (0)

/* ------------------------------------------------------------------ input */

struct input {
    const uint8_t *p;
    size_t n, i;
};

static unsigned u8(struct input *in)
{
    return in->i < in->n ? in->p[in->i++] : 0;
}

static unsigned u16(struct input *in)
{
    unsigned x = u8(in);
    return x | (u8(in) << 8);
}

static uint64_t u64(struct input *in)
{
    uint64_t x = 0;
    int i;
    for (i = 0; i < 8; i++)
        x |= (uint64_t)u8(in) << (8 * i);
    return x;
}

/* ------------------------------------------------------------------ model */

struct mblk {
    unsigned char *ptr;
    size_t len, pad; /* pad: bytes skipped before it for alignment */
    int64_t h;
    int has_h, large;
    uint32_t seed;
};

struct ring {
    int64_t v[RING];
    size_t n, pos;
};

/* The model's books on an arena, saved whole by a take and put back whole
 * by a restore, so the two cannot disagree on what an image holds. */
struct mbooks {
    size_t bytes, allocs, large, wasted, live_len;
    size_t nchunks, chunk_lo, chunk_hi; /* live chunks; bounds on their sizes */
};

struct marena {
    lx_arena *a; /* NULL: the slot is empty (creation failed) */
    int pooled;
    size_t ps, max_bytes;
    uint64_t key;
    uint32_t gen, prev_gen;
    int gen_known, prev_known;

    struct mblk *b;
    size_t nb, capb;
    size_t *hmap; /* handle index -> index in b */
    size_t nh, caph;

    struct mbooks k;
    size_t peak;
    unsigned long long resets;
    uintptr_t cur, end; /* the bump window, as the model sees it */
    uintptr_t *pages;
    size_t npages, cappages, ipage;

    lx_chunk *chunks; /* the live chunks, as the arena reported them */
    size_t capchunks;

    struct ring stale; /* this incarnation, earlier generations */
    struct ring old;   /* earlier incarnations of this slot */

    /* The slot's image and the model's state when it was taken. */
    lx_image im;
    int im_valid;
    struct mblk *im_b;
    struct mbooks im_k;
    size_t im_nb;
    uintptr_t im_cur, im_end;
    size_t im_ipage, im_inuse; /* pages in use at the take: ipage + 1, or 0 */
    uintptr_t *im_pages;
    lx_chunk *im_chunks;
};

static struct {
    int nar, recycling, have_pool, armed;
    lx_pool pool;
    uint64_t keystate;
    struct marena m[NSLOTS];
} S;

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "arena_fuzz: out of memory in the harness\n");
        abort();
    }
    return q;
}

static void ring_push(struct ring *r, int64_t v)
{
    r->v[r->pos] = v;
    r->pos = (r->pos + 1) % RING;
    if (r->n < RING)
        r->n++;
}

static size_t total_live(void)
{
    size_t i, t = 0;
    for (i = 0; i < NSLOTS; i++)
        t += S.m[i].k.live_len;
    return t;
}

static unsigned char pat(uint32_t seed, size_t i)
{
    return (unsigned char)(seed ^ (seed >> 11) ^ (i * 131u) ^ (i >> 7) ^ (i >> 15));
}

static void fill(struct mblk *b)
{
    size_t i;
    for (i = 0; i < b->len; i++)
        b->ptr[i] = pat(b->seed, i);
}

static void check_fill(const struct mblk *b)
{
    size_t i;
    for (i = 0; i < b->len; i++)
        if (b->ptr[i] != pat(b->seed, i))
            die(__LINE__, "block content changed");
}

static size_t budget(unsigned c0, unsigned c1, size_t ps)
{
    switch (c0 >> 4) {
    case 10:
        return 0;
    case 11:
        return (size_t)c1 * 16;
    case 12:
        return (size_t)c1 * 256;
    case 13:
        return (size_t)c1 * 4096;
    case 14:
        return ps * (c1 % 8 + 1);
    case 15:
        return (size_t)c1 * 97 + 1;
    default:
        return LX_NO_BUDGET;
    }
}

/* ------------------------------------------------------------------ checks */

static void check_pool(void)
{
    size_t i, live_pages = 0, live_chunks = 0, cb = 0;
    if (!S.have_pool)
        return;
    for (i = 0; i < (size_t)S.nar; i++)
        if (S.m[i].a != NULL && S.m[i].pooled) {
            live_pages += S.m[i].npages;
            live_chunks += S.m[i].k.nchunks;
        }
    FAILIF(S.pool.pages_live != live_pages);
    FAILIF(S.pool.chunks_live != live_chunks);
    FAILIF(S.pool.npages > S.pool.max_pages);
    FAILIF(S.pool.nchunks > LX_POOL_CHUNKS);
    FAILIF(S.pool.nshells > LX_POOL_SHELLS);
    for (i = 0; i < S.pool.nchunks; i++)
        cb += S.pool.chunks[i].size;
    FAILIF(cb != S.pool.chunk_bytes);
    FAILIF(S.pool.chunk_bytes > S.pool.max_chunk_bytes);
    if (!S.recycling)
        FAILIF(S.pool.npages != 0 || S.pool.nchunks != 0 || S.pool.nshells != 0);
}

static void check_stats(struct marena *m, int deep)
{
    lx_arena *a = m->a;
    lx_stats s;
    size_t kept_chunks = 0, kept_bytes = 0;
    if (a == NULL)
        return;
    lx_arena_stats(a, &s);
    FAILIF(a->page_size != m->ps);
    FAILIF(a->nblocks != m->nh);
    FAILIF(s.bytes_allocated != m->k.bytes);
    FAILIF(s.allocs != m->k.allocs);
    FAILIF(s.large_allocs != m->k.large);
    FAILIF(s.wasted != m->k.wasted);
    FAILIF(s.resets != m->resets);
    FAILIF(s.pages != m->npages);
    FAILIF(s.peak_bytes != (m->peak > m->k.bytes ? m->peak : m->k.bytes));
    if (!m->pooled) {
        kept_chunks = a->own.nchunks;
        kept_bytes = a->own.chunk_bytes;
        FAILIF(a->own.pages_live != m->npages);
        FAILIF(a->own.chunks_live != m->k.nchunks);
        FAILIF(a->own.nchunks > LX_POOL_CHUNKS);
        FAILIF(a->own.npages != 0);
        if (!S.recycling)
            FAILIF(kept_chunks != 0);
    }
    FAILIF(s.chunks != m->k.nchunks + kept_chunks);
    FAILIF(s.page_count != s.pages + s.chunks);
    FAILIF(s.capacity < m->npages * m->ps + m->k.chunk_lo + kept_bytes);
    FAILIF(s.capacity > m->npages * m->ps + m->k.chunk_hi + kept_bytes);
    if (deep) {
        size_t i, sum = 0, nh = 0, large = 0;
        for (i = 0; i < m->nb; i++) {
            sum += m->b[i].len + m->b[i].pad;
            nh += (size_t)m->b[i].has_h;
            large += (size_t)m->b[i].large;
            check_fill(&m->b[i]);
        }
        FAILIF(sum != m->k.bytes);
        FAILIF(nh != m->nh);
        FAILIF(large != m->k.large);
        FAILIF(m->nb != m->k.allocs);
    }
}

/* What lookup(h) must give: decoded with the key the model handed to
 * lx_arena_new and the generation it learnt from this generation's first
 * handle. Before any handle of this generation, nothing can match. */
static const struct mblk *predict(const struct marena *m, int64_t h)
{
    uint64_t x;
    if (m->nh == 0)
        return NULL;
    x = (uint64_t)h ^ m->key;
    if ((uint32_t)(x >> 32) != m->gen || (x & 0xffffffffu) >= m->nh)
        return NULL;
    return &m->b[m->hmap[x & 0xffffffffu]];
}

static void check_lookup(struct marena *m, int64_t h)
{
    const lx_block *got;
    const struct mblk *want;
    if (m->a == NULL)
        return;
    got = lx_arena_lookup(m->a, h);
    want = predict(m, h);
    if (h >= -TWO32 && h < TWO32)
        FAILIF(got != NULL); /* documented: never a valid handle */
    if (got != NULL)
        FAILIF(got < m->a->blocks || got >= m->a->blocks + m->a->nblocks);
    if (want == NULL) {
        FAILIF(got != NULL);
    } else {
        FAILIF(got == NULL);
        FAILIF(got->ptr != want->ptr || got->len != want->len);
        check_fill(want);
    }
}

/* ------------------------------------------------------------------ ops */

static void image_drop(struct marena *m)
{
    lx_image_free(&m->im);
    free(m->im_b);
    free(m->im_pages);
    free(m->im_chunks);
    m->im_b = NULL;
    m->im_pages = NULL;
    m->im_chunks = NULL;
    m->im_valid = 0;
}

static void model_clear(struct marena *m)
{
    m->nb = m->nh = 0;
    m->k.bytes = m->k.allocs = m->k.large = m->k.wasted = m->k.live_len = 0;
    m->k.nchunks = m->k.chunk_lo = m->k.chunk_hi = 0;
    m->gen_known = 0;
}

static void slot_create(struct marena *m, unsigned c0, unsigned c1, uint64_t key)
{
    size_t i;
    m->pooled = S.have_pool && (c0 & 1);
    m->ps = m->pooled ? S.pool.page_size : (size_t)4096 << (((c0 >> 1) & 7) % 5);
    m->max_bytes = budget(c0, c1, m->ps);
    m->key = key;
    lx_image_init(&m->im);
    m->im_valid = 0;
    m->a = lx_arena_new(m->pooled ? &S.pool : NULL, (size_t)4096 << (((c0 >> 1) & 7) % 5),
                        m->max_bytes, key);
    FAILIF(m->a == NULL && !S.armed);
    model_clear(m);
    m->peak = 0;
    m->resets = 0;
    m->npages = m->ipage = 0;
    m->cur = 1;
    m->end = 0;
    m->prev_known = 0;
    /* this slot's stale handles are foreign to the new arena now */
    for (i = 0; i < m->stale.n; i++)
        ring_push(&m->old, m->stale.v[i]);
    m->stale.n = m->stale.pos = 0;
    if (m->a != NULL) {
        FAILIF(m->a->err != LX_OK);
        FAILIF(m->a->max_bytes != m->max_bytes);
    }
}

static void slot_free(struct marena *m)
{
    size_t i;
    if (m->a == NULL)
        return;
    check_stats(m, 1);
    for (i = 0; i < m->nb; i++)
        if (m->b[i].has_h)
            ring_push(&m->old, m->b[i].h);
    image_drop(m);
    lx_arena_free(m->a);
    m->a = NULL;
    model_clear(m);
    m->npages = 0;
}

static void push_block(struct marena *m, const struct mblk *b)
{
    if (m->nb == m->capb) {
        m->capb = m->capb ? m->capb * 2 : 64;
        m->b = xrealloc(m->b, m->capb * sizeof *m->b);
    }
    m->b[m->nb++] = *b;
}

/* An allocation, or (from != NULL) lx_arena_realloc of block `from` to n
 * bytes when it cannot grow in place: the same prediction, and the new
 * block must start with from's bytes. */
static void op_alloc_from(struct marena *m, size_t n, size_t align, int with_h, uint32_t seed,
                          const struct mblk *from)
{
    lx_arena *a = m->a;
    lx_stats s0, s1;
    size_t nb0, budget_left, pad = 0;
    int64_t h = 0x5a5a5a5a;
    int large, want_ok, new_page = 0;
    uintptr_t want_ptr = 0, p;
    unsigned char *q;
    struct mblk blk;

    if (a == NULL || n > MEM_LIMIT - total_live() || m->nb >= MAX_BLOCKS)
        return;
    lx_arena_stats(a, &s0);
    nb0 = a->nblocks;
    budget_left = m->max_bytes - m->k.bytes;
    large = n > m->ps;
    if (large) {
        want_ok = n <= budget_left;
    } else {
        p = (m->cur + (align - 1)) & ~(uintptr_t)(align - 1);
        if (p <= m->end && n <= m->end - p) {
            want_ok = (p - m->cur) + n <= budget_left;
            want_ptr = p;
            pad = p - m->cur;
        } else {
            want_ok = n <= budget_left;
            new_page = 1;
            if (m->npages > 0 && m->ipage + 1 < m->npages)
                want_ptr = m->pages[m->ipage + 1]; /* a page kept across reset */
        }
    }

    if (from != NULL)
        q = lx_arena_realloc(a, from->ptr, from->len, n, align);
    else
        q = with_h ? lx_arena_alloc_h(a, n, align, &h) : lx_arena_alloc(a, n, align);
    lx_arena_stats(a, &s1);

    if (q == NULL) {
        if (want_ok)
            FAILIF(!(S.armed && a->err == LX_ENOMEM));
        else
            FAILIF(!(a->err == LX_EBUDGET || (S.armed && a->err == LX_ENOMEM)));
        FAILIF(h != 0x5a5a5a5a);
        FAILIF(a->nblocks != nb0);
        FAILIF(memcmp(&s0, &s1, sizeof s0) != 0);
        return;
    }
    FAILIF(!want_ok);
    FAILIF(((uintptr_t)q & (align - 1)) != 0);
    if (large) {
        FAILIF(((uintptr_t)q & 4095u) != 0);
        m->k.nchunks++;
        m->k.large++;
        m->k.chunk_lo += (n + 4095u) & ~(size_t)4095u;
        m->k.chunk_hi += 2 * n > ((n + 4095u) & ~(size_t)4095u) ? 2 * n : (n + 4095u) & ~(size_t)4095u;
    } else if (!new_page) {
        FAILIF((uintptr_t)q != want_ptr);
        m->cur = (uintptr_t)q + n;
    } else {
        size_t i;
        FAILIF(((uintptr_t)q & 4095u) != 0);
        if (want_ptr != 0) {
            FAILIF((uintptr_t)q != want_ptr);
            m->ipage++;
        } else {
            for (i = 0; i < m->npages; i++)
                FAILIF(m->pages[i] == (uintptr_t)q);
            if (m->npages == m->cappages) {
                m->cappages = m->cappages ? m->cappages * 2 : 16;
                m->pages = xrealloc(m->pages, m->cappages * sizeof *m->pages);
            }
            m->pages[m->npages++] = (uintptr_t)q;
            m->ipage = m->npages - 1;
        }
        if (m->cur <= m->end)
            m->k.wasted += m->end - m->cur;
        m->cur = (uintptr_t)q + n;
        m->end = (uintptr_t)q + m->ps;
    }
    m->k.bytes += pad + n;
    m->k.allocs++;
    m->k.live_len += n;
#ifdef LX_HAVE_ASAN
    if (n > 0)
        FAILIF(__asan_region_is_poisoned(q, n) != NULL);
#endif

    if (from != NULL) {
        size_t i;
        for (i = 0; i < from->len; i++)
            if (q[i] != pat(from->seed, i))
                die(__LINE__, "realloc lost the block's bytes");
        check_fill(from); /* the old block is left as it was */
    }
    blk.ptr = q;
    blk.len = n;
    blk.pad = pad;
    blk.h = h;
    blk.has_h = with_h;
    blk.large = large;
    blk.seed = seed;
    if (with_h) {
        uint64_t x = (uint64_t)h ^ m->key;
        FAILIF(h >= -TWO32 && h < TWO32);
        FAILIF((x & 0xffffffffu) != m->nh);
        if (!m->gen_known) {
            m->gen = (uint32_t)(x >> 32);
            m->gen_known = 1;
            FAILIF(m->prev_known && m->gen == m->prev_gen);
        }
        FAILIF((uint32_t)(x >> 32) != m->gen);
        if (m->nh == m->caph) {
            m->caph = m->caph ? m->caph * 2 : 64;
            m->hmap = xrealloc(m->hmap, m->caph * sizeof *m->hmap);
        }
        m->hmap[m->nh++] = m->nb;
    }
    if (large) {
        if (m->k.nchunks > m->capchunks) {
            m->capchunks = m->capchunks ? m->capchunks * 2 : 16;
            m->chunks = xrealloc(m->chunks, m->capchunks * sizeof *m->chunks);
        }
        /* The pool picks the chunk; its size is whatever the pool had. */
        FAILIF(a->chunks[a->nchunks - 1].ptr != q);
        m->chunks[m->k.nchunks - 1] = a->chunks[a->nchunks - 1];
    }
    push_block(m, &blk);
    fill(&m->b[m->nb - 1]);
    if (with_h) {
        lx_block *lb = lx_arena_lookup(a, h);
        FAILIF(lb == NULL || lb->ptr != q || lb->len != n);
    }
}

static void op_alloc(struct marena *m, size_t n, size_t align, int with_h, uint32_t seed)
{
    op_alloc_from(m, n, align, with_h, seed, NULL);
}

/* After a new generation (reset, restore): a generation that wraps past
 * 2^32 starts a new lap, which flips LX_LAP_BIT of the key and nothing
 * else (arena.h); the model follows. */
static void follow_lap(struct marena *m)
{
    FAILIF(((m->a->key ^ m->key) & ~LX_LAP_BIT) != 0);
    m->key = m->a->key;
}

/* lx_arena_realloc of a block made without a handle (as a Lua state's). */
static void op_realloc(struct marena *m, size_t pick, size_t n, uint32_t seed)
{
    lx_arena *a = m->a;
    struct mblk *b = NULL, copy;
    lx_stats s0, s1;
    size_t i, delta;
    unsigned char *q;
    if (a == NULL || m->nb == 0)
        return;
    for (i = 0; i < m->nb; i++)
        if (!m->b[(pick + i) % m->nb].has_h) {
            b = &m->b[(pick + i) % m->nb];
            break;
        }
    if (b == NULL)
        return;
    lx_arena_stats(a, &s0);
    if (n == 0 || n <= b->len) {
        /* A free or a shrink: nothing moves, nothing is counted. */
        q = lx_arena_realloc(a, b->ptr, b->len, n, 8);
        lx_arena_stats(a, &s1);
        FAILIF(q != (n == 0 ? NULL : b->ptr));
        FAILIF(memcmp(&s0, &s1, sizeof s0) != 0);
        check_fill(b);
        return;
    }
    delta = n - b->len;
    if (!b->large && b->len > 0 && m->cur <= m->end && (uintptr_t)b->ptr + b->len == m->cur &&
        delta <= m->end - m->cur && delta <= m->max_bytes - m->k.bytes &&
        n - b->len <= MEM_LIMIT - total_live()) {
        q = lx_arena_realloc(a, b->ptr, b->len, n, 8);
        FAILIF(q != b->ptr);
        for (i = 0; i < b->len; i++)
            if (q[i] != pat(b->seed, i))
                die(__LINE__, "growing in place changed the block's bytes");
        m->cur += delta;
        m->k.bytes += delta;
        m->k.live_len += delta;
        b->len = n;
        b->seed = seed;
        fill(b);
        return;
    }
    copy = *b; /* b may move when op_alloc_from grows the block list */
    op_alloc_from(m, n, 8, 0, seed, &copy);
}

static void op_set_budget(struct marena *m, size_t max_bytes)
{
    int rc;
    if (m->a == NULL)
        return;
    rc = lx_arena_set_budget(m->a, max_bytes);
    if (max_bytes < m->k.bytes) {
        FAILIF(rc != -1);
    } else {
        FAILIF(rc != 0);
        m->max_bytes = max_bytes;
    }
    FAILIF(m->a->max_bytes != m->max_bytes);
}

static void op_take(struct marena *m)
{
    size_t i;
    if (m->a == NULL)
        return;
    image_drop(m);
    if (lx_image_take(&m->im, m->a) != 0) {
        FAILIF(!S.armed);
        FAILIF(m->im.bytes != NULL || m->im.nbytes != 0);
        return;
    }
    m->im_valid = 1;
    m->im_b = xrealloc(NULL, (m->nb + 1) * sizeof *m->im_b);
    if (m->nb > 0)
        memcpy(m->im_b, m->b, m->nb * sizeof *m->b);
    m->im_nb = m->nb;
    m->im_k = m->k;
    m->im_cur = m->cur;
    m->im_end = m->end;
    m->im_ipage = m->ipage;
    m->im_inuse = m->npages == 0 ? 0 : m->ipage + 1;
    m->im_pages = xrealloc(NULL, (m->im_inuse + 1) * sizeof *m->im_pages);
    for (i = 0; i < m->im_inuse; i++)
        m->im_pages[i] = m->pages[i];
    m->im_chunks = xrealloc(NULL, (m->k.nchunks + 1) * sizeof *m->im_chunks);
    if (m->k.nchunks > 0)
        memcpy(m->im_chunks, m->chunks, m->k.nchunks * sizeof *m->chunks);
    FAILIF(m->im.mark.npages != m->im_inuse || m->im.mark.nchunks != m->k.nchunks);
    FAILIF(m->im.mark.bytes != m->k.bytes);
}

static void op_restore(struct marena *m)
{
    size_t i;
    int want = 1, rc;
    lx_stats s0, s1;
    if (m->a == NULL || !m->im_valid)
        return;
    /* Sound only over the very pages and chunks the image was taken from. */
    if (m->im_inuse > m->npages || m->im_k.nchunks > m->k.nchunks || m->im_k.bytes > m->max_bytes)
        want = 0;
    for (i = 0; want && i < m->im_inuse; i++)
        if (m->pages[i] != m->im_pages[i])
            want = 0;
    for (i = 0; want && i < m->im_k.nchunks; i++)
        if (m->chunks[i].ptr != m->im_chunks[i].ptr || m->chunks[i].size != m->im_chunks[i].size)
            want = 0;
    lx_arena_stats(m->a, &s0);
    rc = lx_image_restore(&m->im, m->a);
    if (!want) {
        FAILIF(rc != -1);
        lx_arena_stats(m->a, &s1);
        FAILIF(memcmp(&s0, &s1, sizeof s0) != 0);
        return;
    }
    FAILIF(rc != 0);
    follow_lap(m);
    for (i = 0; i < m->nb; i++)
        if (m->b[i].has_h)
            ring_push(&m->stale, m->b[i].h);
    if (m->k.bytes > m->peak)
        m->peak = m->k.bytes;
    if (m->gen_known) {
        m->prev_gen = m->gen;
        m->prev_known = 1;
    }
    m->gen_known = 0;
    m->nh = 0;
    if (m->im_nb > m->capb) {
        m->capb = m->im_nb;
        m->b = xrealloc(m->b, m->capb * sizeof *m->b);
    }
    if (m->im_nb > 0)
        memcpy(m->b, m->im_b, m->im_nb * sizeof *m->b);
    m->nb = m->im_nb;
    for (i = 0; i < m->nb; i++)
        m->b[i].has_h = 0; /* the blocks are back, their handles are not */
    m->k = m->im_k;
    if (m->im_k.nchunks > 0)
        memcpy(m->chunks, m->im_chunks, m->im_k.nchunks * sizeof *m->chunks);
    if (!S.recycling)
        m->npages = m->im_inuse;
    if (m->im_inuse > 0) {
        m->ipage = m->im_ipage;
        m->cur = m->im_cur;
        m->end = m->im_end;
    } else if (m->npages > 0) {
        m->ipage = 0;
        m->cur = m->pages[0];
        m->end = m->cur + m->ps;
    } else {
        m->ipage = 0;
        m->cur = 1;
        m->end = 0;
    }
    FAILIF(m->a->err != LX_OK);
    for (i = 0; i < m->stale.n; i++)
        FAILIF(lx_arena_lookup(m->a, m->stale.v[i]) != NULL);
    check_stats(m, 1); /* every block's bytes are the take's again */
}

static void op_reset(struct marena *m)
{
    size_t i;
    if (m->a == NULL)
        return;
    check_stats(m, 1);
    for (i = 0; i < m->nb; i++)
        if (m->b[i].has_h)
            ring_push(&m->stale, m->b[i].h);
    lx_arena_reset(m->a);
    follow_lap(m);
    if (m->k.bytes > m->peak)
        m->peak = m->k.bytes;
    if (m->gen_known) {
        m->prev_gen = m->gen;
        m->prev_known = 1;
    }
    model_clear(m);
    m->resets++;
    if (!S.recycling)
        m->npages = 0;
    m->ipage = 0;
    if (m->npages > 0) {
        m->cur = m->pages[0];
        m->end = m->cur + m->ps;
    } else {
        m->cur = 1;
        m->end = 0;
    }
    FAILIF(m->a->err != LX_OK);
#ifdef LX_HAVE_ASAN
    for (i = 0; i < m->npages; i++)
        FAILIF(__asan_region_is_poisoned((void *)m->pages[i], m->ps) != (void *)m->pages[i]);
#endif
    /* every old handle is dead now */
    for (i = 0; i < m->stale.n; i++)
        FAILIF(lx_arena_lookup(m->a, m->stale.v[i]) != NULL);
}

static size_t pick_size(struct input *in, size_t ps)
{
    unsigned k = u8(in) % 16;
    if (k <= 8)
        return u8(in) % 64;
    if (k <= 11)
        return u16(in) % (ps + 1);
    if (k == 12)
        return ps - u8(in) % 64;
    if (k == 13)
        return ps + 1 + u16(in) % (3 * ps);
    if (k == 14)
        return 0;
    return u16(in);
}

static int64_t forged(struct input *in, struct marena *m)
{
    unsigned mode = u8(in) % 9;
    int64_t base = 0;
    if ((mode == 6 || mode == 7) && m->nb > 0) {
        size_t i = u16(in) % m->nb, j;
        for (j = 0; j < m->nb; j++)
            if (m->b[(i + j) % m->nb].has_h) {
                base = m->b[(i + j) % m->nb].h;
                break;
            }
    }
    switch (mode) {
    case 0:
        return (int64_t)u64(in);
    case 1:
        return (int16_t)u16(in);
    case 2:
        return TWO32 + (int16_t)u16(in);
    case 3:
        return -TWO32 + (int16_t)u16(in);
    case 4:
        return INT64_MIN + (int64_t)u16(in);
    case 5:
        return INT64_MAX - (int64_t)u16(in);
    case 6:
        return (int64_t)((uint64_t)base ^ ((uint64_t)1 << (u8(in) % 64)));
    case 7:
        return (int64_t)((uint64_t)base + (uint64_t)(int64_t)(int8_t)u8(in));
    default: {
        /* this arena's key, a generation near the current one, an index
         * near the table's end */
        uint32_t g = m->gen + (uint32_t)(int32_t)(int8_t)u8(in);
        uint64_t idx = u16(in) % (m->nh + 8);
        return (int64_t)((((uint64_t)g << 32) | idx) ^ m->key);
    }
    }
}

static uint64_t raw_key(struct input *in)
{
    unsigned mode = u8(in) % 4;
    uint32_t lo = (uint32_t)u64(in);
    switch (mode) {
    case 0: /* the first generation would give a high word of 0 */
        return ((uint64_t)(uint32_t)(lo + 1 + u8(in) % 4) << 32) | lo;
    case 1: /* ... or of all-ones */
        return ((uint64_t)(uint32_t)~(uint32_t)(lo + 1 + u8(in) % 4) << 32) | lo;
    case 2: /* another arena's key */
        return S.m[u8(in) % NSLOTS].key;
    default:
        return ((uint64_t)u64(in) << 32) ^ lo;
    }
}

/*
 * The image's mapped form against a plain copy of its bytes: an arena of
 * mapped pages (a pool of its own), blocks and chunks the input sizes, a
 * take and a map, then rounds of writes the input places, each ended by
 * a restore along a scan path the input picks (or with no watch, or with
 * faults forced) that must give back every byte. Under injection the map
 * may fail: the copy form must then give the same answers.
 */
static void op_mapped(struct input *in)
{
    lx_pool pool;
    lx_arena *a;
    lx_image im;
    unsigned char *blk[16], *snap[16];
    size_t len[16], nb, i, r, rounds;
    if (lx_pool_init_mapped(&pool, (size_t)4096 << (u8(in) % 3), 0, 0) != 0)
        return;
    a = lx_arena_new(&pool, pool.page_size, LX_NO_BUDGET, lx_next_key(&S.keystate));
    if (a == NULL) {
        FAILIF(!S.armed);
        lx_pool_destroy(&pool);
        return;
    }
    nb = u8(in) % 16 + 1;
    for (i = 0; i < nb; i++) {
        unsigned sz = u16(in);
        size_t j;
        len[i] = sz % 3 == 0 ? (size_t)sz * 8 + 1 : sz % 4000 + 1; /* up to 512 KiB: chunks */
        if ((blk[i] = lx_arena_alloc(a, len[i], 16)) == NULL)
            break;
        for (j = 0; j < len[i]; j++)
            blk[i][j] = (unsigned char)(i * 131 + j * 7);
    }
    nb = i;
    lx_image_init(&im);
    if (nb > 0 && lx_image_take(&im, a) == 0) {
        int mapped = lx_image_map(&im, a) == 0;
#if defined(__linux__)
        FAILIF(!mapped && !S.armed);
#endif
        FAILIF(mapped != lx_image_mapped(&im));
        for (i = 0; i < nb; i++) {
            snap[i] = xrealloc(NULL, len[i]);
            memcpy(snap[i], blk[i], len[i]);
        }
        rounds = u8(in) % 8 + 1;
        for (r = 0; r < rounds; r++) {
            unsigned how = u8(in), k, nw = u8(in) % 16;
            lx_cow_force_scan((enum lx_scan)(how % 4));
            lx_cow_force_faults((how >> 2) & 1);
            if (!((how >> 3) & 1))
                lx_image_watch(&im);
            for (k = 0; k < nw; k++) {
                size_t b = u8(in) % nb, off = u16(in) % len[b];
                blk[b][off] ^= (unsigned char)(u8(in) | 1);
            }
            if ((how >> 4) & 1) { /* what a call allocates lands past the image */
                unsigned char *p = lx_arena_alloc(a, u16(in) % 5000 + 1, 8);
                if (p != NULL)
                    p[0] = 1;
            }
            FAILIF(lx_image_restore(&im, a) != 0);
            for (i = 0; i < nb; i++)
                FAILIF(memcmp(blk[i], snap[i], len[i]) != 0);
        }
        lx_cow_force_scan(LX_SCAN_AUTO);
        lx_cow_force_faults(0);
        for (i = 0; i < nb; i++)
            free(snap[i]);
    }
    lx_image_free(&im);
    lx_arena_free(a);
    lx_pool_destroy(&pool);
}

static void run_op(struct input *in)
{
    unsigned op = u8(in);
    struct marena *m = &S.m[(op >> 4) % (unsigned)S.nar];
    size_t i;

    switch (op & 15) {
    case 3: { /* what an isolate needs: realloc, a budget, images */
        unsigned sub = u8(in) % 9;
        if (sub <= 2) {
            size_t pick = u16(in), n = pick_size(in, m->ps);
            op_realloc(m, pick, n, (uint32_t)u16(in));
        } else if (sub == 3) {
            unsigned c0 = u8(in), c1 = u8(in);
            op_set_budget(m, budget(c0, c1, m->ps));
        } else if (sub <= 5) {
            op_take(m);
        } else if (sub <= 7) {
            op_restore(m);
        } else {
            op_mapped(in);
        }
        break;
    }
    case 0:
    case 1:
    case 2: { /* alloc: size class, alignment + handle flag, seed */
        size_t n = pick_size(in, m->ps);
        unsigned ab = u8(in);
        op_alloc(m, n, (size_t)1 << (ab % 13), (ab & 0xe0) != 0xe0, (uint32_t)u16(in));
        break;
    }
    case 4: /* rewrite a block with a new pattern */
        if (m->a != NULL && m->nb > 0) {
            struct mblk *b = &m->b[u16(in) % m->nb];
            b->seed = (uint32_t)u16(in) * 65537u;
            fill(b);
        }
        break;
    case 5: /* look a live block up by its handle, read it back */
        if (m->a != NULL && m->nh > 0) {
            size_t k = u16(in) % m->nh;
            const struct mblk *b = &m->b[m->hmap[k]];
            lx_block *lb = lx_arena_lookup(m->a, b->h);
            FAILIF(lb == NULL || lb->ptr != b->ptr || lb->len != b->len);
            check_fill(b);
        }
        break;
    case 6: /* verify everything */
        check_stats(m, 1);
        break;
    case 7:
        op_reset(m);
        break;
    case 8: { /* free and recreate, maybe with another config */
        unsigned c0 = u8(in), c1 = u8(in);
        slot_free(m);
        slot_create(m, c0, c1, lx_next_key(&S.keystate));
        break;
    }
    case 9: /* stale handles: always refused */
        if (m->a != NULL && m->stale.n > 0) {
            unsigned k = u8(in);
            if (k >= 0xf0) {
                for (i = 0; i < m->stale.n; i++)
                    FAILIF(lx_arena_lookup(m->a, m->stale.v[i]) != NULL);
            } else {
                FAILIF(lx_arena_lookup(m->a, m->stale.v[k % m->stale.n]) != NULL);
            }
        }
        break;
    case 10: { /* foreign handles: another arena's, or an older incarnation's */
        struct marena *o = &S.m[u8(in) % NSLOTS];
        unsigned k = u16(in);
        switch (u8(in) % 3) {
        case 0:
            if (o->nb > 0 && o->b[k % o->nb].has_h)
                check_lookup(m, o->b[k % o->nb].h);
            break;
        case 1:
            if (o->stale.n > 0)
                check_lookup(m, o->stale.v[k % o->stale.n]);
            break;
        default:
            if (o->old.n > 0)
                check_lookup(m, o->old.v[k % o->old.n]);
            break;
        }
        break;
    }
    case 11: /* forged integers */
        check_lookup(m, forged(in, m));
        break;
    case 12: { /* failure injection */
        unsigned k = u8(in);
        if (k >= 0xc0) {
            lx_sys_fail_after(-1);
            S.armed = 0;
        } else {
            lx_sys_fail_after((long)(k % 24));
            S.armed = 1;
        }
        break;
    }
    case 13: { /* free and recreate with a chosen key */
        unsigned c0 = u8(in), c1 = u8(in);
        uint64_t key = raw_key(in);
        slot_free(m);
        slot_create(m, c0, c1, key);
        break;
    }
    case 14: { /* a burst of small blocks: block table growth, page turns */
        unsigned cnt = u8(in) % 128 + 1, sb = u8(in);
        for (i = 0; i < cnt; i++)
            op_alloc(m, (sb + i * 7) % 17, (size_t)1 << ((sb >> 4) % 4), (sb & 1) || (i & 3),
                     (uint32_t)(sb * 1000 + i));
        break;
    }
    default: /* every live and stale handle */
        if (m->a != NULL) {
            for (i = 0; i < m->nh; i++)
                check_lookup(m, m->b[m->hmap[i]].h);
            for (i = 0; i < m->stale.n; i++)
                FAILIF(lx_arena_lookup(m->a, m->stale.v[i]) != NULL);
            for (i = 0; i < m->old.n; i++)
                check_lookup(m, m->old.v[i]);
        }
        break;
    }
    if (m->a == NULL && (op & 15) != 8 && (op & 15) != 13 && !S.armed) {
        /* a slot whose creation failed under injection: try again */
        slot_create(m, (unsigned)m->pooled, 0, lx_next_key(&S.keystate));
    }
    check_stats(m, 0);
    check_pool();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in;
    unsigned h0, h1, h2, h3, cfg[NSLOTS][2];
    size_t i;
    static const size_t chunk_bytes[4] = {0, (size_t)64 << 10, (size_t)1 << 20, (size_t)8 << 20};

    in.p = data;
    in.n = size;
    in.i = 0;
    memset(&S, 0, sizeof S);
    lx_sys_fail_after(-1);

    h0 = u8(&in);
    h1 = u8(&in);
    h2 = u8(&in);
    h3 = u8(&in);
    for (i = 0; i < NSLOTS; i++) {
        cfg[i][0] = u8(&in);
        cfg[i][1] = u8(&in);
    }
    S.nar = 1 + (int)((h0 & 3) % 3);
    S.recycling = !(h0 & 4);
    S.have_pool = (h0 & 8) != 0;
    S.keystate = 0x6c657872742d667aull ^ ((uint64_t)h3 << 56) ^ size;
    lx_set_recycling(S.recycling);
    if (S.have_pool)
        FAILIF(lx_pool_init(&S.pool, (size_t)4096 << ((h1 & 7) % 5), (h1 >> 3) % 9,
                            chunk_bytes[h2 & 3]) != 0);
    for (i = 0; i < (size_t)S.nar; i++)
        slot_create(&S.m[i], cfg[i][0], cfg[i][1], lx_next_key(&S.keystate));
    check_pool();

    while (in.i < in.n)
        run_op(&in);

    /* Disarm: every arena must be consistent and usable again. */
    lx_sys_fail_after(-1);
    S.armed = 0;
    for (i = 0; i < (size_t)S.nar; i++) {
        struct marena *m = &S.m[i];
        if (m->a == NULL)
            slot_create(m, 0, 0, lx_next_key(&S.keystate));
        check_stats(m, 1);
        op_alloc(m, 24, 8, 1, 7);
        op_alloc(m, m->ps + 1, 16, 1, 8);
        check_stats(m, 1);
        op_reset(m);
        op_alloc(m, 1, 1, 1, 9);
        check_stats(m, 1);
        check_pool();
        slot_free(m);
        check_pool();
    }
    if (S.have_pool) {
        FAILIF(S.pool.pages_live != 0 || S.pool.chunks_live != 0);
        lx_pool_destroy(&S.pool);
    }
    for (i = 0; i < NSLOTS; i++) {
        image_drop(&S.m[i]);
        free(S.m[i].b);
        free(S.m[i].hmap);
        free(S.m[i].pages);
        free(S.m[i].chunks);
    }
    memset(&S, 0, sizeof S);
    lx_set_recycling(1);
    return 0;
}

/* ------------------------------------------------------------------ standalone */

#ifdef LX_FUZZ_STANDALONE
#include <dirent.h>
#include <sys/stat.h>

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0, r;
    if (f == NULL) {
        perror(path);
        return 1;
    }
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            buf = xrealloc(buf, cap);
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    return 0;
}

static int run_path(const char *path, int *count)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        perror(path);
        return 1;
    }
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        int rc = 0;
        if (d == NULL) {
            perror(path);
            return 1;
        }
        while ((e = readdir(d)) != NULL) {
            char sub[4096];
            if (e->d_name[0] == '.')
                continue;
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rc |= run_path(sub, count);
        }
        closedir(d);
        return rc;
    }
    (*count)++;
    return run_file(path);
}

int main(int argc, char **argv)
{
    int i, rc = 0, count = 0;
    if (argc >= 3 && strcmp(argv[1], "-r") == 0) {
        long k, iters = strtol(argv[2], NULL, 10);
        uint64_t s = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
        static unsigned char buf[4096];
        for (k = 0; k < iters; k++) {
            size_t n, j;
            n = (size_t)(lx_next_key(&s) % sizeof buf) + 1;
            for (j = 0; j < n; j++)
                buf[j] = (unsigned char)lx_next_key(&s);
            LLVMFuzzerTestOneInput(buf, n);
            count++;
        }
    } else {
        for (i = 1; i < argc; i++)
            rc |= run_path(argv[i], &count);
    }
    printf("arena_fuzz: %d inputs ran without a mismatch\n", count);
    return rc;
}
#endif
