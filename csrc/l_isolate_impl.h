/*
 * The isolate's insides, shared by its two files and no other:
 * l_isolate.c (the object and its calls: the allocator, the instruction
 * hook, iso:call and the restore, stats, close) and l_isobuild.c (making
 * one: core.new_isolate, the state and the build). Separate from
 * l_isolate.h, which is what the rest of the binding may use.
 */
#ifndef LEXRT_L_ISOLATE_IMPL_H
#define LEXRT_L_ISOLATE_IMPL_H

#include "image.h"
#include "l_isolate.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* User values; 2 and 3 are the bridge's (l_bridge.h: the handler's gate,
 * the host errors effects raised). */
#define UV_HANDLER 1
#define UV_NAME 4
#define NUV 4

#define DEFAULT_MAX_BYTES ((size_t)64 << 20)
/* Building is held to max_bytes, but never to less than this. */
#define BUILD_MIN_BYTES ((size_t)64 << 20)
/* An image whose copy-back, timed once after the build, takes longer
 * than this is put in mapped form (image.h): the mapped form's fixed
 * cost per call (two fault-counter reads, ~0.25 us here, and its hot
 * pages) is then the smaller. */
#define MAP_ABOVE_NS 2000
/* VM instructions between two looks at the instruction budget. */
#define HOOK_PERIOD 1000

typedef struct LIsolate {
    const void *tag;    /* &iso_tag: see lxb_test_object */
    lua_State *S;       /* the isolate's state; NULL once closed */
    lx_arena *home;     /* what the build allocated: the image's pages */
    lx_pool home_pool;  /* home's pages: mapped, so the image can be mapped over them */
    int home_pool_live; /* home_pool is initialised */
    lx_arena *cur;      /* where S allocates now: home, or the call's scope arena */
    lx_image image;
    lxc_link link;      /* the host thread of the running call or build, the copy bound */
    size_t max_bytes;
    lua_Integer max_instructions; /* 0: none */
    lua_Integer instructions;     /* this call's, counted HOOK_PERIOD at a time */
    int period;
    int busy;     /* a call or the build is running */
    int building; /* the build is running */
    int stopped;  /* this call (or the build) passed max_instructions */
    int close_depth; /* nesting of coroutine.close (l_isolib.c) */
    lua_Integer calls, errors, instruction_stops, memory_stops, restores;
    lua_Integer restore_ns; /* time spent restoring the image, all calls */
    size_t last_call_bytes, peak_call_bytes;
    size_t last_call_pages, last_call_capacity, last_call_wasted;
} LIsolate;

/* &lxb_iso_tag: an isolate's tag (see lxb_test_object). Registry keys
 * inside the isolate (addresses: unique, never strings): the request
 * function, and the instruction stop's error value. */
extern const char lxb_iso_tag;
extern const char lxb_iso_fn_key;
extern const char lxb_iso_budget_key;

/* l_isolate.c, for l_isobuild.c: the state's allocator and count hook,
 * dropping the state, and raising the error a call or the build ended
 * with (st: its status in the state). */
void *lxb_iso_alloc(void *ud, void *p, size_t osize, size_t nsize);
void lxb_iso_hook(lua_State *T, lua_Debug *ar);
void lxb_iso_free(LIsolate *iso);
int lxb_iso_raise_error(lua_State *L, LIsolate *iso, int st);

/* l_isobuild.c, for l_isolate.c: core.new_isolate. */
int lxb_new_isolate(lua_State *L);
int lxb_iso_force_form(lua_State *L);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
