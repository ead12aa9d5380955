/*
 * C unit tests of the pool alone (csrc/pool.c over sysmem.c): linked
 * without arena.c, which shows that the pool needs nothing above it.
 * Shells here are plain malloc'd blocks with a counting destructor.
 */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "pool.h"
#include "sysmem.h"

#define PAGE ((size_t)4096)

static int shells_freed;

static void free_counted(void *shell)
{
    shells_freed++;
    free(shell);
}

static void test_init_checks_the_page_bound_and_allocates_nothing(void)
{
    lx_pool p;
    unsigned long long before = lx_sys_allocations();
    CHECK(lx_pool_init(&p, PAGE, LX_POOL_MAX_PAGES + 1, 0) == -1);
    lx_pool_destroy(&p); /* safe after a failed init */
    CHECK(lx_pool_init(&p, PAGE, LX_POOL_MAX_PAGES, (size_t)1 << 20) == 0);
    CHECK(p.page_size == PAGE && p.max_pages == LX_POOL_MAX_PAGES);
    CHECK(p.pages == NULL && p.cap_pages == 0 && p.recycle);
    CHECK(lx_sys_allocations() == before);
    lx_pool_destroy(&p);
    CHECK(p.dead);
}

static void test_pages_come_back_in_turn(void)
{
    lx_pool p;
    void *a, *b;
    CHECK(lx_pool_init(&p, PAGE, 4, 0) == 0);
    a = lx_pool_get_page(&p);
    b = lx_pool_get_page(&p);
    CHECK(a != NULL && b != NULL && a != b);
    CHECK(((uintptr_t)a & (PAGE - 1)) == 0);
    CHECK(p.pages_live == 2 && p.pages_from_system == 2 && p.npages == 0);
    lx_pool_put_page(&p, a);
    lx_pool_put_page(&p, b);
    CHECK(p.pages_live == 0 && p.npages == 2);
    CHECK(lx_pool_get_page(&p) == b); /* last in, first out: the warmest */
    CHECK(lx_pool_get_page(&p) == a);
    CHECK(p.pages_reused == 2 && p.pages_from_system == 2);
    lx_pool_put_page(&p, a);
    lx_pool_put_page(&p, b);
    lx_pool_destroy(&p);
}

static void test_pages_past_the_bound_go_to_the_system(void)
{
    lx_pool p;
    void *pages[10];
    size_t i;
    CHECK(lx_pool_init(&p, PAGE, 3, 0) == 0);
    for (i = 0; i < 10; i++)
        CHECK_OR_BREAK((pages[i] = lx_pool_get_page(&p)) != NULL);
    for (i = 0; i < 10; i++)
        lx_pool_put_page(&p, pages[i]);
    CHECK(p.npages == 3 && p.cap_pages == 3 && p.pages_live == 0);
    lx_pool_destroy(&p);
}

static void test_chunks_best_fit_within_half(void)
{
    lx_pool p;
    unsigned char *big, *small, *c;
    size_t got;
    CHECK(lx_pool_init(&p, PAGE, 0, (size_t)1 << 20) == 0);
    big = lx_pool_get_chunk(&p, 100000, &got);
    CHECK(big != NULL && got == 102400); /* rounded up to whole 4096s */
    small = lx_pool_get_chunk(&p, 20000, &got);
    CHECK(small != NULL && got == 20480);
    lx_pool_put_chunk(&p, big, 102400);
    lx_pool_put_chunk(&p, small, 20480);
    CHECK(p.nchunks == 2 && p.chunk_bytes == 122880 && p.chunks_live == 0);
    /* the smallest chunk that holds it */
    c = lx_pool_get_chunk(&p, 15000, &got);
    CHECK(c == small && got == 20480 && p.chunks_reused == 1);
    lx_pool_put_chunk(&p, c, got);
    /* not one more than twice the size: it would pin the big one */
    c = lx_pool_get_chunk(&p, 30000, &got);
    CHECK(c != big && c != small && p.chunks_from_system == 3);
    lx_pool_put_chunk(&p, c, got);
    c = lx_pool_get_chunk(&p, 60000, &got);
    CHECK(c == big && got == 102400);
    lx_pool_put_chunk(&p, c, got);
    lx_pool_destroy(&p);
}

static void test_chunks_are_bounded_by_bytes_and_count(void)
{
    lx_pool p;
    unsigned char *c[LX_POOL_CHUNKS + 4];
    size_t i, got;
    CHECK(lx_pool_init(&p, PAGE, 0, 3 * PAGE) == 0);
    for (i = 0; i < 4; i++)
        CHECK_OR_BREAK((c[i] = lx_pool_get_chunk(&p, PAGE, &got)) != NULL);
    for (i = 0; i < 4; i++)
        lx_pool_put_chunk(&p, c[i], PAGE);
    CHECK(p.nchunks == 3 && p.chunk_bytes == 3 * PAGE);
    lx_pool_destroy(&p);

    CHECK(lx_pool_init(&p, PAGE, 0, (size_t)1 << 30) == 0);
    for (i = 0; i < LX_POOL_CHUNKS + 4; i++)
        CHECK_OR_BREAK((c[i] = lx_pool_get_chunk(&p, PAGE, &got)) != NULL);
    for (i = 0; i < LX_POOL_CHUNKS + 4; i++)
        lx_pool_put_chunk(&p, c[i], PAGE);
    CHECK(p.nchunks == LX_POOL_CHUNKS && p.chunks_live == 0);
    lx_pool_destroy(&p);
}

static void test_shells_are_kept_up_to_the_bound_and_freed_by_their_destructor(void)
{
    lx_pool p;
    void *s[LX_POOL_SHELLS + 3];
    size_t i;
    shells_freed = 0;
    CHECK(lx_pool_init(&p, PAGE, 0, 0) == 0);
    CHECK(lx_pool_get_shell(&p) == NULL);
    for (i = 0; i < LX_POOL_SHELLS + 3; i++)
        CHECK_OR_BREAK((s[i] = malloc(32)) != NULL);
    for (i = 0; i < LX_POOL_SHELLS + 3; i++)
        lx_pool_put_shell(&p, s[i], free_counted);
    CHECK(p.nshells == LX_POOL_SHELLS && shells_freed == 3);
    CHECK(lx_pool_get_shell(&p) == s[LX_POOL_SHELLS - 1]);
    CHECK(p.nshells == LX_POOL_SHELLS - 1);
    lx_pool_put_shell(&p, s[LX_POOL_SHELLS - 1], free_counted);
    lx_pool_destroy(&p);
    CHECK(shells_freed == LX_POOL_SHELLS + 3 && p.nshells == 0);
}

/* What is given back after destroy goes straight to the system. */
static void test_a_destroyed_pool_keeps_nothing(void)
{
    lx_pool p;
    void *page, *shell;
    unsigned char *chunk;
    size_t got;
    shells_freed = 0;
    CHECK(lx_pool_init(&p, PAGE, 8, (size_t)1 << 20) == 0);
    page = lx_pool_get_page(&p);
    chunk = lx_pool_get_chunk(&p, 10000, &got);
    shell = malloc(16);
    CHECK(page != NULL && chunk != NULL && shell != NULL);
    lx_pool_destroy(&p);
    lx_pool_put_page(&p, page);
    lx_pool_put_chunk(&p, chunk, got);
    lx_pool_put_shell(&p, shell, free_counted);
    CHECK(p.npages == 0 && p.nchunks == 0 && p.nshells == 0 && shells_freed == 1);
    CHECK(p.pages_live == 0 && p.chunks_live == 0); /* LeakSanitizer checks the rest */
}

/* The switch is read when a pool is made: a pool keeps its own mode. */
static void test_recycling_is_read_once_per_pool(void)
{
    lx_pool on, off;
    void *page, *shell;
    shells_freed = 0;
    CHECK(lx_pool_init(&on, PAGE, 8, (size_t)1 << 20) == 0);
    lx_set_recycling(0);
    CHECK(!lx_recycling());
    CHECK(lx_pool_init(&off, PAGE, 8, (size_t)1 << 20) == 0);
    CHECK(on.recycle && !off.recycle);
    CHECK(off.max_pages == 0 && off.max_chunk_bytes == 0);
    page = lx_pool_get_page(&off);
    shell = malloc(16);
    lx_pool_put_page(&off, page);
    lx_pool_put_shell(&off, shell, free_counted);
    CHECK(off.npages == 0 && off.nshells == 0 && shells_freed == 1);
    /* the pool made before the switch still keeps what comes back */
    page = lx_pool_get_page(&on);
    lx_pool_put_page(&on, page);
    CHECK(on.npages == 1);
    lx_set_recycling(1);
    CHECK(!off.recycle); /* and this one stays as it was made */
    lx_pool_destroy(&on);
    lx_pool_destroy(&off);
}

/* The system saying no: NULL out, counters untouched; a page table that
 * cannot grow only means the page is freed. */
static void test_system_failures(void)
{
    lx_pool p;
    void *page;
    size_t got = 0;
    CHECK(lx_pool_init(&p, PAGE, 8, (size_t)1 << 20) == 0);
    lx_sys_fail_after(0);
    CHECK(lx_pool_get_page(&p) == NULL);
    CHECK(lx_pool_get_chunk(&p, 10000, &got) == NULL && got == 0);
    CHECK(p.pages_live == 0 && p.chunks_live == 0 && p.pages_from_system == 0);
    lx_sys_fail_after(1);
    page = lx_pool_get_page(&p);
    CHECK(page != NULL);
    lx_pool_put_page(&p, page); /* the table's first growth fails */
    CHECK(p.npages == 0 && p.pages_live == 0);
    lx_sys_fail_after(-1);
    lx_pool_destroy(&p);
}

static const struct test tests[] = {
    T(test_init_checks_the_page_bound_and_allocates_nothing),
    T(test_pages_come_back_in_turn),
    T(test_pages_past_the_bound_go_to_the_system),
    T(test_chunks_best_fit_within_half),
    T(test_chunks_are_bounded_by_bytes_and_count),
    T(test_shells_are_kept_up_to_the_bound_and_freed_by_their_destructor),
    T(test_a_destroyed_pool_keeps_nothing),
    T(test_recycling_is_read_once_per_pool),
    T(test_system_failures),
};

CTEST_MAIN(tests)
