/*
 * The mapped (copy-on-write) form of an image (image.h), Linux only: the
 * image's bytes live in a sealed memfd, every page and chunk it covers is
 * mapped MAP_PRIVATE over its own address from that file, and a restore
 * puts back only the pages a call wrote. Elsewhere lx_cow_new fails and
 * images stay in copy form.
 *
 * Internal to the core: image.c is its one user.
 */
#ifndef LEXRT_COWMAP_H
#define LEXRT_COWMAP_H

#include <stddef.h>

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* How a restore finds the pages a call wrote (lx_cow_force_scan). */
enum lx_scan {
    LX_SCAN_AUTO = 0,   /* the best the kernel offers */
    LX_SCAN_IOCTL = 1,  /* PAGEMAP_SCAN (Linux 6.7+) */
    LX_SCAN_PREAD = 2,  /* pread of /proc/self/pagemap */
    LX_SCAN_DROP = 3    /* MADV_DONTNEED of everything: no scan at all */
};

typedef struct lx_span {
    unsigned char *addr; /* 4096-aligned */
    size_t len;          /* a multiple of 4096 */
} lx_span;

typedef struct lx_cow lx_cow;

/* What one restore did, for the image's figures. */
typedef struct lx_cow_figures {
    size_t bytes, pages; /* put back (dropped pages count as pages) */
    size_t hot;          /* pages copied back on every restore */
    int scanned;         /* enum lx_scan used, or 0: no scan was needed */
} lx_cow_figures;

/* Maps the spans (their current contents) copy-on-write; NULL on any
 * failure, the spans then hold their contents as before. */
lx_cow *lx_cow_new(const lx_span *spans, size_t n);
/* Turns every span back into private anonymous memory, keeping what it
 * holds now, and frees the file. The spans must still be the caller's. */
void lx_cow_free(lx_cow *c);
void lx_cow_watch(lx_cow *c);
void lx_cow_restore(lx_cow *c, lx_cow_figures *f);

/* Test hooks (process-wide): force a scan path; force "the fault count
 * changed" (on != 0) so that every restore scans. */
void lx_cow_force_scan(enum lx_scan how);
void lx_cow_force_faults(int on);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
