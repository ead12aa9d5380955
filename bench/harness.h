/*
 * What each allocator binary provides to the shared harness: one or more
 * variants, each a setup, a per-request function and a teardown.
 */
#ifndef LXB_HARNESS_H
#define LXB_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "workload.h"

typedef struct lxb_variant {
    const char *name;
    void (*setup)(void);
    /* Allocates sizes[0..n) (touching each block with lxb_touch), then
     * releases the whole request the allocator's own way. */
    void (*request)(const uint32_t *sizes, size_t n);
    void (*teardown)(void);
} lxb_variant;

/* Defined by each allocator's file, ended by an entry with name NULL. */
extern const lxb_variant lxb_variants[];

/* Where requests drop a value derived from what they got (handles,
 * pointers), so that the compiler cannot discard the work producing it. */
extern volatile uint64_t lxb_sink;

/* Prints "what" and exits: allocation failure is not measured. */
_Noreturn void lxb_die(const char *what);

#endif
