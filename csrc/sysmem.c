/* The system allocator behind sysmem.h, with its failure injection. */
#define _POSIX_C_SOURCE 200112L /* posix_memalign */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */

#include "sysmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "poison.h"

static long fail_countdown = -1;
static unsigned long long taken;

static int should_fail(void)
{
    if (fail_countdown < 0)
        return 0;
    if (fail_countdown == 0)
        return 1;
    fail_countdown--;
    return 0;
}

void *lx_sys_alloc(size_t size)
{
    void *p;
    if (should_fail())
        return NULL;
    /* No object may exceed PTRDIFF_MAX; refusing here also keeps the
     * rounding below from wrapping. */
    if (size > PTRDIFF_MAX - 4095)
        return NULL;
    /* 4096 alignment lets any in-page alignment up to 4096 be a pure bump. */
    size = lx_sys_round(size);
    if (size == 0 || posix_memalign(&p, 4096, size) != 0)
        return NULL;
    taken++;
    return p;
}

void lx_sys_free(void *p)
{
    free(p);
}

int lx_sys_inject(void)
{
    return should_fail();
}

void *lx_sys_map(size_t size)
{
    void *p;
    if (should_fail() || size == 0 || size > PTRDIFF_MAX - 4095)
        return NULL;
    size = lx_sys_round(size);
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    taken++;
    return p;
}

void lx_sys_unmap(void *p, size_t size)
{
    if (p == NULL)
        return;
    size = lx_sys_round(size);
    /* ASan keeps shadow across munmap: a later mapping at this address
     * must not inherit the pool's poison. */
    LX_ASAN_UNPOISON(p, size);
    munmap(p, size);
}

void *lx_sys_realloc(void *p, size_t size)
{
    void *q;
    if (should_fail())
        return NULL;
    q = realloc(p, size);
    if (q != NULL)
        taken++;
    return q;
}

void lx_sys_fail_after(long n)
{
    fail_countdown = n < 0 ? -1 : n;
}

unsigned long long lx_sys_allocations(void)
{
    return taken;
}
