/* The mapped form of an image (cowmap.h): memfd, private mappings, scans. */
#define _GNU_SOURCE /* memfd_create, mremap, RUSAGE_THREAD */

#include "cowmap.h"

#include <stdlib.h>
#include <string.h>

#include "poison.h"
#include "sysmem.h"

static enum lx_scan forced_scan = LX_SCAN_AUTO;
static int forced_faults;

void lx_cow_force_scan(enum lx_scan how)
{
    forced_scan = how;
}

void lx_cow_force_faults(int on)
{
    forced_faults = on != 0;
}

#ifndef __linux__

lx_cow *lx_cow_new(const lx_span *spans, size_t n)
{
    (void)spans;
    (void)n;
    return NULL;
}
void lx_cow_free(lx_cow *c) { (void)c; }
void lx_cow_watch(lx_cow *c) { (void)c; }
void lx_cow_restore(lx_cow *c, lx_cow_figures *f) { (void)c; (void)f; }

#else

#include <fcntl.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/*
 * Why a restore that copies only some pages is exact. Every span is a
 * MAP_PRIVATE mapping of the sealed file, so a page of it shows the
 * image's bytes until written; a write to a page that is not yet private
 * is a write fault (copy-on-write), and the kernel counts every fault in
 * the faulting thread's counters (getrusage RUSAGE_THREAD). A page is
 * private only if it is hot (copied back on every restore, so already
 * private) or it was written since the last restore. lx_cow_watch reads
 * the counter before the call; if the restore reads the same count, no
 * fault, hence no new private page, happened in between, and copying the
 * hot pages is enough. Otherwise a scan finds every private page (present
 * or swapped, not file-backed), copies it back and makes it hot. The
 * caller's part: every write to the spans between watch and restore is
 * made by the thread that calls both. Unwritten pages still show the file.
 */

/* PAGEMAP_SCAN's ABI (linux/fs.h, 6.7+), under our own names: Debian's
 * headers may predate it; the sizes, hence the ioctl number, are the ABI. */
/* The kernel reads and writes every field, we only some. */
struct lx_page_region {
    /* cppcheck-suppress unusedStructMember */
    uint64_t start, end, categories;
};
struct lx_pm_scan_arg {
    /* cppcheck-suppress unusedStructMember */
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define LX_PAGEMAP_SCAN _IOWR('f', 16, struct lx_pm_scan_arg)
#define LX_PAGE_IS_FILE (1u << 2)
#define LX_PAGE_IS_PRESENT (1u << 3)
#define LX_PAGE_IS_SWAPPED (1u << 4)

#define UNIT 4096u

typedef struct cspan {
    unsigned char *addr;
    size_t len, off; /* off: where its bytes lie in the file */
} cspan;

typedef struct hotpage {
    unsigned char *addr;
    size_t off;
} hotpage;

struct lx_cow {
    int fd, pagemap; /* pagemap: /proc/self/pagemap, opened on first scan */
    int no_ioctl;    /* the kernel refused PAGEMAP_SCAN once */
    const unsigned char *src; /* the file, read-only */
    size_t total;
    cspan *spans; /* by address */
    size_t nspans;
    unsigned char *is_hot; /* one byte per page of the file */
    hotpage *hot;
    size_t nhot;
    long watch;
    int watching;
};

static long faults(void)
{
    struct rusage r;
    if (getrusage(RUSAGE_THREAD, &r) != 0)
        return -1;
    return r.ru_minflt + r.ru_majflt;
}

static int by_addr(const void *x, const void *y)
{
    uintptr_t a = (uintptr_t)((const cspan *)x)->addr, b = (uintptr_t)((const cspan *)y)->addr;
    return (a > b) - (a < b);
}

/* Back to private anonymous memory holding what the span holds now, so
 * the arena and the pool see plain memory again. mremap replaces the
 * span in one step; when it cannot, the span stays a private file
 * mapping, which is still correct memory (it only keeps the file alive). */
static void to_anon(const cspan *s)
{
    void *tmp = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (tmp == MAP_FAILED)
        return;
    LX_ASAN_UNPOISON(tmp, s->len);
    LX_EXPOSE(s->addr, s->len);
    memcpy(tmp, s->addr, s->len);
    if (mremap(tmp, s->len, s->len, MREMAP_MAYMOVE | MREMAP_FIXED, s->addr) == MAP_FAILED)
        munmap(tmp, s->len);
}

static void drop(lx_cow *c)
{
    if (c->src != NULL)
        munmap((void *)c->src, c->total);
    if (c->fd >= 0)
        close(c->fd);
    if (c->pagemap >= 0)
        close(c->pagemap);
    lx_sys_free(c->spans);
    lx_sys_free(c->is_hot);
    lx_sys_free(c->hot);
    lx_sys_free(c);
}

static int write_all(int fd, const unsigned char *p, size_t n, size_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
        off += (size_t)w;
    }
    return 0;
}

lx_cow *lx_cow_new(const lx_span *spans, size_t n)
{
    lx_cow *c;
    size_t i, mapped = 0;
    if (n == 0 || sysconf(_SC_PAGESIZE) != UNIT)
        return NULL;
    if ((c = lx_sys_realloc(NULL, sizeof *c)) == NULL)
        return NULL;
    memset(c, 0, sizeof *c);
    c->fd = c->pagemap = -1;
    if ((c->spans = lx_sys_realloc(NULL, n * sizeof *c->spans)) == NULL)
        goto fail;
    for (i = 0; i < n; i++) {
        if ((uintptr_t)spans[i].addr % UNIT != 0 || spans[i].len % UNIT != 0 || spans[i].len == 0)
            goto fail;
        c->spans[i].addr = spans[i].addr;
        c->spans[i].len = spans[i].len;
    }
    c->nspans = n;
    qsort(c->spans, n, sizeof *c->spans, by_addr);
    for (i = 0; i < n; i++) {
        c->spans[i].off = c->total;
        c->total += c->spans[i].len;
    }
    if ((c->is_hot = lx_sys_realloc(NULL, c->total / UNIT)) == NULL ||
        (c->hot = lx_sys_realloc(NULL, c->total / UNIT * sizeof *c->hot)) == NULL)
        goto fail;
    memset(c->is_hot, 0, c->total / UNIT);
    if (lx_sys_inject())
        goto fail;
    c->fd = memfd_create("lexrt-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (c->fd < 0 || ftruncate(c->fd, (off_t)c->total) != 0)
        goto fail;
    for (i = 0; i < n; i++) {
        LX_EXPOSE(c->spans[i].addr, c->spans[i].len);
        if (write_all(c->fd, c->spans[i].addr, c->spans[i].len, c->spans[i].off) != 0)
            goto fail;
    }
    /* Sealed: no one can change the image under the mappings. */
    if (fcntl(c->fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0)
        goto fail;
    c->src = mmap(NULL, c->total, PROT_READ, MAP_SHARED, c->fd, 0);
    if (c->src == MAP_FAILED) {
        c->src = NULL;
        goto fail;
    }
    for (mapped = 0; mapped < n; mapped++) {
        const cspan *s = &c->spans[mapped];
        if (lx_sys_inject() ||
            mmap(s->addr, s->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, c->fd, (off_t)s->off) != s->addr)
            goto fail;
    }
    return c;
fail:
    /* A span that failed to map kept its memory (MAP_FIXED fails before
     * unmapping on the errors it can meet here: EINVAL, ENOMEM, EBADF). */
    for (i = 0; i < mapped; i++)
        to_anon(&c->spans[i]);
    drop(c);
    return NULL;
}

void lx_cow_free(lx_cow *c)
{
    size_t i;
    if (c == NULL)
        return;
    for (i = 0; i < c->nspans; i++)
        to_anon(&c->spans[i]);
    drop(c);
}

void lx_cow_watch(lx_cow *c)
{
    c->watch = faults();
    c->watching = c->watch >= 0;
}

static void put_page(const lx_cow *c, unsigned char *addr, size_t off)
{
    LX_EXPOSE(addr, UNIT);
    memcpy(addr, c->src + off, UNIT);
}

/* The span holding addr, or NULL (addresses from a scan of our spans). */
static const cspan *span_of(const lx_cow *c, uintptr_t addr)
{
    size_t lo = 0, hi = c->nspans;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const cspan *s = &c->spans[mid];
        if (addr < (uintptr_t)s->addr)
            hi = mid;
        else if (addr >= (uintptr_t)s->addr + s->len)
            lo = mid + 1;
        else
            return s;
    }
    return NULL;
}

/* A private page found: back to the image now, and on every restore. */
static void promote(lx_cow *c, uintptr_t addr, lx_cow_figures *f)
{
    const cspan *s = span_of(c, addr);
    size_t off, unit;
    unsigned char *page;
    if (s == NULL)
        return;
    /* From the span's pointer, not the scanned integer: no int-to-pointer. */
    page = (unsigned char *)s->addr + (addr - (uintptr_t)s->addr);
    off = s->off + (addr - (uintptr_t)s->addr);
    unit = off / UNIT;
    if (c->is_hot[unit])
        return;
    c->is_hot[unit] = 1;
    c->hot[c->nhot].addr = page;
    c->hot[c->nhot].off = off;
    c->nhot++;
    put_page(c, page, off);
    f->pages++;
    f->bytes += UNIT;
}

static int scan_ioctl(lx_cow *c, uintptr_t lo, uintptr_t hi, lx_cow_figures *f)
{
    struct lx_page_region vec[64];
    struct lx_pm_scan_arg a;
    while (lo < hi) {
        long r, i;
        memset(&a, 0, sizeof a);
        a.size = sizeof a;
        a.start = lo;
        a.end = hi;
        a.vec = (uintptr_t)vec;
        a.vec_len = sizeof vec / sizeof vec[0];
        /* Private: not file-backed, and present or swapped out. */
        a.category_inverted = LX_PAGE_IS_FILE;
        a.category_mask = LX_PAGE_IS_FILE;
        a.category_anyof_mask = LX_PAGE_IS_PRESENT | LX_PAGE_IS_SWAPPED;
        a.return_mask = LX_PAGE_IS_FILE | LX_PAGE_IS_PRESENT | LX_PAGE_IS_SWAPPED;
        r = ioctl(c->pagemap, LX_PAGEMAP_SCAN, &a);
        if (r < 0)
            return -1;
        /* valgrind does not know this ioctl's outputs. */
        LX_VG_DEFINED(vec, sizeof vec);
        LX_VG_DEFINED(&a, sizeof a);
        for (i = 0; i < r; i++) {
            uintptr_t q;
            for (q = vec[i].start; q < vec[i].end; q += UNIT)
                promote(c, q, f);
        }
        if (a.walk_end <= lo)
            return -1;
        lo = a.walk_end;
    }
    return 0;
}

static int scan_pread(lx_cow *c, uintptr_t lo, uintptr_t hi, lx_cow_figures *f)
{
    uint64_t ent[512];
    while (lo < hi) {
        size_t n = (hi - lo) / UNIT, i;
        ssize_t got;
        if (n > 512)
            n = 512;
        got = pread(c->pagemap, ent, n * sizeof ent[0], (off_t)(lo / UNIT * sizeof ent[0]));
        if (got != (ssize_t)(n * sizeof ent[0]))
            return -1;
        for (i = 0; i < n; i++) {
            int present = (ent[i] >> 63 & 1) || (ent[i] >> 62 & 1);
            if (present && !(ent[i] >> 61 & 1))
                promote(c, lo + i * UNIT, f);
        }
        lo += n * UNIT;
    }
    return 0;
}

/* Every span back to the file's bytes: always exact, learns nothing. */
static void drop_all(lx_cow *c, lx_cow_figures *f)
{
    size_t i;
    for (i = 0; i < c->nspans; i++) {
        const cspan *s = &c->spans[i];
        if (madvise(s->addr, s->len, MADV_DONTNEED) != 0) {
            LX_EXPOSE(s->addr, s->len);
            memcpy(s->addr, c->src + s->off, s->len);
            f->bytes += s->len;
        }
        f->pages += s->len / UNIT;
    }
}

/* Scans runs of adjacent spans (one call covers many). */
static int scan(lx_cow *c, enum lx_scan how, lx_cow_figures *f)
{
    size_t i = 0;
    if (c->pagemap < 0 && (c->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC)) < 0)
        return -1;
    while (i < c->nspans) {
        uintptr_t lo = (uintptr_t)c->spans[i].addr, hi = lo + c->spans[i].len;
        int rc;
        for (i++; i < c->nspans && (uintptr_t)c->spans[i].addr == hi; i++)
            hi += c->spans[i].len;
        rc = how == LX_SCAN_IOCTL ? scan_ioctl(c, lo, hi, f) : scan_pread(c, lo, hi, f);
        if (rc != 0)
            return -1;
    }
    return 0;
}

void lx_cow_restore(lx_cow *c, lx_cow_figures *f)
{
    long now = faults();
    int changed = !c->watching || now < 0 || now != c->watch || forced_faults;
    enum lx_scan how = forced_scan;
    size_t i;
    memset(f, 0, sizeof *f);
    c->watching = 0;
    for (i = 0; i < c->nhot; i++)
        put_page(c, c->hot[i].addr, c->hot[i].off);
    f->pages = c->nhot;
    f->bytes = c->nhot * UNIT;
    if (changed) {
        if (how == LX_SCAN_AUTO) {
#ifdef LX_WITH_VALGRIND
            how = LX_SCAN_PREAD; /* an ioctl valgrind does not know */
#else
            how = c->no_ioctl ? LX_SCAN_PREAD : LX_SCAN_IOCTL;
#endif
        }
        if (how == LX_SCAN_IOCTL && scan(c, how, f) != 0) {
            c->no_ioctl = 1;
            how = LX_SCAN_PREAD;
        }
        if (how == LX_SCAN_PREAD && scan(c, how, f) != 0)
            how = LX_SCAN_DROP;
        if (how == LX_SCAN_DROP)
            drop_all(c, f);
        f->scanned = (int)how;
    }
    f->hot = c->nhot;
}

#endif
