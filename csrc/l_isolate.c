/*
 * Isolates: a request function running in a Lua state of its own whose
 * every allocation is bump-allocated in the handler's request scope.
 *
 * An isolate has one or more instances (l_isolate_impl.h), each a
 * state built from the same chunk; calls in flight run on instances of
 * their own. This file is the object (stats, close, __gc) and what every
 * state shares: the allocator, the instruction hook and its charges, the
 * error a call or build ends with. iso:call is l_isocall.c's, the build
 * l_isobuild.c's.
 *
 * Memory. An instance's allocator (lxb_iso_alloc) bumps in `cur`. While
 * the instance is built, cur is its own arena (`home`, not the
 * handler's: it outlives every scope); when the chunk has run, an image
 * of that arena is taken (csrc/image.c). A call enters a scope on the
 * handler, points cur at the scope's arena (pages from the handler's
 * pool, so pages_live tells the truth), runs, and then restores the
 * image: the state's bytes are put back over the same pages, so every
 * pointer inside it is again what it was after the build, and whatever
 * the call allocated (all of it in the scope's pages) is unreachable.
 * Exiting the scope returns those pages to the pool. Nothing is ever
 * freed one by one (free is a no-op) and the collector is stopped. Lua
 * still runs an *emergency* collection when an allocation fails; it only
 * frees (a no-op here) and rewrites GC bookkeeping inside the state's own
 * memory, which the restore puts back, so it is harmless.
 *
 * Protection. Everything that touches a state runs inside a lua_pcall or
 * lua_resume in that state (iso_run, effect_body, ...), so an isolate
 * error or memory error never reaches a panic. Host-side work during a
 * call (copying values out, calling effects) can raise host errors; the
 * host's own lua_pcallk in iso:call catches them. Such an error may jump
 * over the isolate's C frames and leave its state mid-operation: that is
 * sound only because nothing touches the state again before the image is
 * restored, which iso:call always does first.
 *
 * Reentrancy. While a call is in flight (running or suspended), it holds
 * the handler's loan of a scope (lxb_handler_borrow, l_handler.h): the
 * scope and its arena are pinned, and exiting that scope or one below it,
 * closing the handler, resetting or closing the arena, closing the
 * isolate or calling it again from the same host thread all raise
 * "isolate busy". Any host allocation can run a __gc, which can reach
 * these objects: that is why the checks are in the objects themselves,
 * and why iso:call chooses its instance after the allocations it makes.
 *
 * Crossings. Everything that passes between the host and a state is the
 * bridge's (l_bridge.h): copies of arguments and results, the effects (C
 * closures in the state that call the handler's gate, which the isolate
 * keeps from its build), and host errors kept and raised again. During a
 * call, stack index 1 of the host's running C function (l_isocall.c's
 * call_body, or l_isobuild.c's build_body) is always the isolate itself,
 * which holds the bridge's user values.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include "l_isolate_impl.h"

#include <time.h>

#include "image.h"
#include "l_arena.h"
#include "l_bridge.h"
#include "l_handler.h"
#include "sysmem.h"

const char lxb_iso_tag = 'I';
const char lxb_iso_fn_key = 'F';
const char lxb_iso_budget_key = 'B';
const char lxb_iso_thread_key = 'R';

static LIsolate *test_isolate(lua_State *L, int idx)
{
    return lxb_test_object(L, idx, sizeof(LIsolate), &lxb_iso_tag);
}

static LIsolate *check_any(lua_State *L)
{
    LIsolate *iso = test_isolate(L, 1);
    if (iso == NULL)
        luaL_typeerror(L, 1, "lexrt.isolate");
    return iso;
}

LIsolate *lxb_iso_check_open(lua_State *L)
{
    LIsolate *iso = check_any(L);
    if (iso->closed)
        luaL_error(L, "isolate is closed");
    return iso;
}

/* The instance a state (or one of its threads) belongs to. */
static LInstance *owner(lua_State *T)
{
    void *ud = NULL;
    lua_getallocf(T, &ud);
    return ud;
}

lxc_link *lxb_iso_link(lua_State *T)
{
    return &owner(T)->link;
}

int lxb_iso_handler_closed(lua_State *L, int idx)
{
    int closed = 1;
    lua_getiuservalue(L, idx, UV_HANDLER);
    lxb_is_handler(L, -1, &closed);
    lua_pop(L, 1);
    return closed;
}

void *lxb_iso_alloc(void *ud, void *p, size_t osize, size_t nsize)
{
    LInstance *in = ud;
    if (nsize == 0 || in->cur == NULL)
        return NULL; /* a free is a no-op: the block goes with its arena */
    return lx_arena_realloc(in->cur, p, osize, nsize, LX_DEFAULT_ALIGN);
}

/* Drops an instance's state: all of it lives in `home` and the scope
 * arenas, so giving back home's pages is the whole of it. lua_close is
 * never called: it would run the isolate's __gc metamethods. */
void lxb_iso_free_instance(LInstance *in)
{
    lx_image_free(&in->image);
    lx_image_init(&in->image);
    if (in->home != NULL)
        lx_arena_free(in->home);
    in->home = NULL;
    if (in->home_pool_live)
        lx_pool_destroy(&in->home_pool);
    in->home_pool_live = 0;
    in->cur = NULL;
    in->S = NULL;
    in->R = NULL;
}

void lxb_iso_free(LIsolate *iso)
{
    int i, held = 0;
    iso->closed = 1;
    iso->last = NULL;
    if (iso->inst == NULL)
        return;
    for (i = 0; i < iso->ninst; i++) {
        if (iso->inst[i].busy)
            held = 1;
        else
            lxb_iso_free_instance(&iso->inst[i]);
    }
    if (!held) {
        lx_sys_free(iso->inst);
        iso->inst = NULL;
        iso->built = 0;
    }
}

/* Pushes the isolate's name (for messages). */
static const char *push_name(lua_State *L, int idx)
{
    if (lua_getiuservalue(L, idx, UV_NAME) != LUA_TSTRING) {
        lua_pop(L, 1);
        lua_pushliteral(L, "isolate");
    }
    return lua_tostring(L, -1);
}

/* ------------------------------------------------------------------ budget */

/*
 * The count hook: every HOOK_PERIOD instructions of any thread of the
 * isolate (coroutines inherit the hook). Once past the budget, every
 * further instruction of every thread raises again, so no pcall inside
 * the isolate can keep it going; iso_call reports the stop whatever the
 * call's own outcome.
 */
void lxb_iso_hook(lua_State *T, lua_Debug *ar)
{
    LInstance *in = owner(T);
    (void)ar;
    in->instructions += in->iso->period;
    if (in->stopped || in->instructions > in->iso->max_instructions) {
        in->stopped = 1;
        lua_sethook(T, lxb_iso_hook, LUA_MASKCOUNT, 1);
        lua_rawgetp(T, LUA_REGISTRYINDEX, &lxb_iso_budget_key); /* allocates nothing */
        lua_error(T);
    }
}

void lxb_iso_charge(lua_State *T, lua_Integer n)
{
    LInstance *in = owner(T);
    lua_Integer max = in->iso->max_instructions;
    if (!in->stopped && max > 0) {
        if (n > max - in->instructions)
            in->stopped = 1;
        else
            in->instructions += n;
    }
    if (in->stopped) {
        lua_sethook(T, lxb_iso_hook, LUA_MASKCOUNT, 1);
        lua_rawgetp(T, LUA_REGISTRYINDEX, &lxb_iso_budget_key); /* allocates nothing */
        lua_error(T);
    }
}

int lxb_iso_stopped(lua_State *T)
{
    return owner(T)->stopped;
}

void lxb_iso_push_stop(lua_State *T)
{
    lua_rawgetp(T, LUA_REGISTRYINDEX, &lxb_iso_budget_key);
}

int *lxb_iso_close_depth(lua_State *T)
{
    return &owner(T)->close_depth;
}

/* ------------------------------------------------------------------ errors */

/*
 * Raises in the host the error a call or the build ended with: the
 * instruction or memory stop, worded here, else what the bridge makes of
 * the isolate's error value (lxc_raise_error).
 */
int lxb_iso_raise_error(lua_State *L, LInstance *in, int st)
{
    LIsolate *iso = in->iso;
    lua_State *S = in->S;
    if (in->stopped) {
        iso->instruction_stops++;
        lua_pushfstring(L, "instruction budget exceeded (max_instructions = %I)", iso->max_instructions);
        return lua_error(L);
    }
    if (st == LUA_ERRMEM) {
        iso->memory_stops++;
        push_name(L, 1);
        lua_pushfstring(L, "not enough memory (isolate '%s', %s = %I)", lua_tostring(L, -1),
                        in->building ? "building, limit" : "max_bytes",
                        (lua_Integer)(in->building && iso->max_bytes < BUILD_MIN_BYTES ? BUILD_MIN_BYTES : iso->max_bytes));
        return lua_error(L);
    }
    return lxc_raise_error(L, S);
}

/* ------------------------------------------------------------------ the rest */

/* The image stats speak of: the last call's instance's, else the first
 * instance's (all are built from one chunk), else an empty one. */
static const lx_image *shown_image(const LIsolate *iso)
{
    static lx_image none;
    if (iso->last != NULL)
        return &iso->last->image;
    if (iso->inst != NULL && iso->inst[0].S != NULL)
        return &iso->inst[0].image;
    return &none;
}

static int iso_stats(lua_State *L)
{
    LIsolate *iso = check_any(L);
    const lx_image *im = shown_image(iso);
    lua_createtable(L, 0, 28);
    lxb_setint(L, "calls", iso->calls);
    lxb_setint(L, "errors", iso->errors);
    lxb_setint(L, "instances", iso->built);
    lxb_setint(L, "max_instances", iso->ninst);
    lxb_setint(L, "in_flight", iso->in_flight);
    lxb_setint(L, "image_bytes", (lua_Integer)im->nbytes);
    lxb_setint(L, "image_pages", (lua_Integer)im->mark.npages + (lua_Integer)im->mark.nchunks);
    lxb_setint(L, "last_call_bytes", (lua_Integer)iso->last_call_bytes);
    lxb_setint(L, "peak_call_bytes", (lua_Integer)iso->peak_call_bytes);
    lxb_setint(L, "last_call_pages", (lua_Integer)iso->last_call_pages);
    lxb_setint(L, "last_call_capacity", (lua_Integer)iso->last_call_capacity);
    lxb_setint(L, "last_call_wasted", (lua_Integer)iso->last_call_wasted);
    lxb_setint(L, "restores", iso->restores);
    lua_pushstring(L, lx_image_mapped(im) ? "mapped" : "copy");
    lua_setfield(L, -2, "image_form");
    lxb_setint(L, "last_restore_bytes", (lua_Integer)im->last_bytes);
    lxb_setint(L, "last_restore_pages", (lua_Integer)im->last_pages);
    lxb_setint(L, "hot_pages", (lua_Integer)im->hot_pages);
    lxb_setint(L, "restore_scans", (lua_Integer)im->scans);
    lua_pushnumber(L, (lua_Number)iso->restore_ns * 1e-9);
    lua_setfield(L, -2, "restore_seconds");
    lxb_setint(L, "instruction_stops", iso->instruction_stops);
    lxb_setint(L, "memory_stops", iso->memory_stops);
    lxb_setint(L, "max_bytes", (lua_Integer)iso->max_bytes);
    lxb_setint(L, "max_copy_bytes", (lua_Integer)iso->max_copy_bytes);
    if (iso->max_instructions > 0)
        lxb_setint(L, "max_instructions", iso->max_instructions);
    lua_pushboolean(L, iso->closed);
    lua_setfield(L, -2, "closed");
    return 1;
}

static int iso_close(lua_State *L)
{
    LIsolate *iso = check_any(L);
    int i;
    for (i = 0; iso->inst != NULL && i < iso->ninst; i++)
        if (iso->inst[i].busy) /* a call in flight, or a build */
            return luaL_error(L, "isolate busy: %s is running a call", push_name(L, 1));
    lxb_iso_free(iso);
    return 0;
}

/* The collector reaches an isolate only when nothing runs it (a running
 * call keeps it on the stack). A call suspended in a coroutine that is
 * collected with it keeps its instance until the call's guard ends it
 * (l_isocall.c); the host state closing mid-call leaves the state to the
 * process's end. */
static int iso_gc(lua_State *L)
{
    lxb_iso_free(check_any(L));
    return 0;
}

static int iso_is_closed(lua_State *L)
{
    lua_pushboolean(L, check_any(L)->closed);
    return 1;
}

static int iso_tostring(lua_State *L)
{
    LIsolate *iso = check_any(L);
    const char *name = push_name(L, 1);
    if (iso->closed)
        lua_pushfstring(L, "lexrt.isolate(%s) (closed)", name);
    else
        lua_pushfstring(L, "lexrt.isolate(%s, %I-byte image, %I calls)", name,
                        (lua_Integer)shown_image(iso)->nbytes, iso->calls);
    return 1;
}

/* core.is_isolate(v) */
static int l_is_isolate(lua_State *L)
{
    lua_pushboolean(L, test_isolate(L, 1) != NULL);
    return 1;
}

static const luaL_Reg isolate_methods[] = {
    {"call", lxb_iso_call},
    {"stats", iso_stats},
    {"close", iso_close},
    {"is_closed", iso_is_closed},
    {NULL, NULL},
};

static const luaL_Reg isolate_meta[] = {
    {"__gc", iso_gc},
    {"__close", iso_close},
    {"__tostring", iso_tostring},
    {NULL, NULL},
};

static const luaL_Reg isolate_funcs[] = {
    {"new_isolate", lxb_new_isolate},
    {"is_isolate", l_is_isolate},
    {"_isolate_image_form", lxb_iso_force_form},
    {NULL, NULL},
};

/* The isolate's metatable is protected: its methods are the boundary of
 * the sandbox's host side. Not an upvalue: only making an isolate needs
 * it, and that is not on the request path. */
void lxb_open_isolate(lua_State *L, int up)
{
    lxb_open_call_guard(L);
    luaL_newmetatable(L, "lexrt.isolate");
    lxb_set_metatable(L, -1, isolate_methods, isolate_meta, "lexrt.isolate", up);
    lua_pop(L, 1);
    lxb_setfuncs(L, isolate_funcs, up);
}
