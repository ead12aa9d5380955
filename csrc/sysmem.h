/*
 * The one door through which lexrt takes memory from the system.
 *
 * Everything the core allocates (pages, large chunks, block tables, arena
 * shells) goes through the functions below, so that tests can make the
 * n-th allocation fail on demand and prove every caller copes with NULL.
 */
#ifndef LEXRT_SYSMEM_H
#define LEXRT_SYSMEM_H

#include <stddef.h>

/* Internal to the module: calls between its files stay direct (no PLT)
 * even in builds that do not pass -fvisibility=hidden, such as luarocks'. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* What the system hands out comes in whole 4096-byte units: n rounded up
 * to one (n must be at most SIZE_MAX - 4095). */
static inline size_t lx_sys_round(size_t n)
{
    return (n + 4095u) & ~(size_t)4095u;
}

/* Page-aligned (4096) memory of `size` bytes, or NULL. */
void *lx_sys_alloc(size_t size);
void lx_sys_free(void *p);
/* Anonymous mmap'd memory (whole 4096-byte pages, zeroed), or NULL: what a
 * mapped pool hands out, so that an image can map a file over it
 * (image.h's mapped form). Same failure injection and counter as
 * lx_sys_alloc; unmap with the size that was asked for. */
void *lx_sys_map(size_t size);
void lx_sys_unmap(void *p, size_t size);
/* 1 when the injected failure fires now (for system calls that are not
 * allocations but must be made to fail in tests, e.g. memfd_create). */
int lx_sys_inject(void);
/* Plain malloc/realloc for small bookkeeping, same failure injection. */
void *lx_sys_realloc(void *p, size_t size);

/*
 * Failure injection: after `n` more successful allocations, every further
 * one fails until the countdown is disarmed with a negative `n`.
 * Process-wide; meant for tests only.
 */
void lx_sys_fail_after(long n);
/* Allocations taken from the system so far (process-wide counter). */
unsigned long long lx_sys_allocations(void);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
