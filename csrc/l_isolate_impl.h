/*
 * The isolate's insides, shared by its three files and no other:
 * l_isolate.c (the object: the allocator, the instruction hook, stats,
 * close), l_isocall.c (iso:call: the driver, the restore, the call
 * guard) and l_isobuild.c (making one and its instances). Separate from
 * l_isolate.h, which is what the rest of the binding may use.
 */
#ifndef LEXRT_L_ISOLATE_IMPL_H
#define LEXRT_L_ISOLATE_IMPL_H

#include "image.h"
#include "l_handler.h"
#include "l_isolate.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* User values; 2 and 3 are the bridge's (l_bridge.h: the handler's gate,
 * the host errors effects raised). 5..8: what building another instance
 * needs, kept from the first build. */
#define UV_HANDLER 1
#define UV_NAME 4
#define UV_EFFECTS 5
#define UV_SOURCE 6
#define UV_CHUNKNAME 7
#define UV_LIBS 8
#define UV_GUARD 9 /* a spare call guard, or nil */
#define NUV 9

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
/* instances = N: a bound that keeps N * sizeof(LInstance) small. */
#define LXB_MAX_INSTANCES 4096

typedef struct LIsolate LIsolate;

/*
 * One instance: a state built from the isolate's chunk, its image, and
 * the call it runs, if any. A call runs the request function in the
 * request thread R (made at build, part of the image), so that an effect
 * can suspend it: R yields to the driver in iso:call, which calls the
 * host's gate where the host may yield in turn (l_isolate.c).
 */
typedef struct LInstance {
    LIsolate *iso;      /* the instance's isolate (the allocator's ud is the instance) */
    lua_State *S;       /* the instance's state; NULL until built, and once closed */
    lua_State *R;       /* S's request thread */
    lx_arena *home;     /* what the build allocated: the image's pages */
    lx_pool home_pool;  /* home's pages: mapped, so the image can be mapped over them */
    int home_pool_live; /* home_pool is initialised */
    lx_arena *cur;      /* where S allocates now: home, or the call's scope arena */
    lx_image image;
    lxc_link link;      /* the host thread of the running call or build, the copy bound */
    lxb_loan loan;      /* the call's scope */
    lua_Integer instructions; /* this call's, counted HOOK_PERIOD at a time */
    lua_Integer serial;       /* calls started on this instance: tells a guard's call from a later one */
    int busy;     /* a call (running or suspended) or the build holds the instance */
    int building; /* the build is running */
    int stopped;  /* this call (or the build) passed max_instructions */
    int close_depth; /* nesting of coroutine.close (l_isolib.c) */
    int effect;   /* R yielded to have an effect called (its arguments are on the host) */
    int effect_base; /* the host's top below that effect's gate and arguments */
    int effect_status; /* how the host's call of the gate ended */
    int nargs;    /* the call's arguments, on the host above the driver's frame's first three */
} LInstance;

struct LIsolate {
    const void *tag;    /* &iso_tag: see lxb_test_object */
    LInstance *inst;    /* ninst of them; NULL once closed */
    int ninst;
    int built;          /* instances built so far */
    int in_flight;      /* calls running or suspended now */
    int closed;
    size_t max_bytes, max_copy_bytes;
    lua_Integer max_instructions; /* 0: none */
    int period;
    LInstance *last;    /* the instance of the call that ended last, for stats */
    lua_Integer calls, errors, instruction_stops, memory_stops, restores;
    lua_Integer restore_ns; /* time spent restoring images, all calls */
    size_t last_call_bytes, peak_call_bytes;
    size_t last_call_pages, last_call_capacity, last_call_wasted;
};

/* &lxb_iso_tag: an isolate's tag (see lxb_test_object). Registry keys
 * inside an instance (addresses: unique, never strings): the request
 * function, the instruction stop's error value, the request thread. */
extern const char lxb_iso_tag;
extern const char lxb_iso_fn_key;
extern const char lxb_iso_budget_key;
extern const char lxb_iso_thread_key;

/* l_isolate.c, for l_isobuild.c: the state's allocator and count hook,
 * dropping an instance's state, and raising the error a call or the
 * build ended with (st: its status; the error value on S's top). */
void *lxb_iso_alloc(void *ud, void *p, size_t osize, size_t nsize);
void lxb_iso_hook(lua_State *T, lua_Debug *ar);
void lxb_iso_free_instance(LInstance *in);
int lxb_iso_raise_error(lua_State *L, LInstance *in, int st);
/* Frees every instance no call holds, and the isolate's instance list
 * when none is left; marks the isolate closed. */
void lxb_iso_free(LIsolate *iso);
/* The isolate at index 1, raising unless it is one and open. */
LIsolate *lxb_iso_check_open(lua_State *L);

/* l_isocall.c: iso:call, and the call guard's metatable. */
int lxb_iso_call(lua_State *L);
void lxb_open_call_guard(lua_State *L);

/* l_isobuild.c: core.new_isolate, and building instance `in` of the
 * isolate at host index iidx (raises on failure, leaving the instance
 * unbuilt). */
int lxb_new_isolate(lua_State *L);
void lxb_iso_build(lua_State *L, int iidx, LInstance *in);
int lxb_iso_force_form(lua_State *L);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
