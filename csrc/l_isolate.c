/*
 * Isolates: a request function running in a Lua state of its own whose
 * every allocation is bump-allocated in the handler's request scope.
 *
 * Memory. The state's allocator (lxb_iso_alloc) bumps in `cur`. While
 * the isolate is built (l_isobuild.c), cur is the isolate's own arena
 * (`home`, not the handler's: it outlives every scope); when the chunk
 * has run, an image of that arena is taken (csrc/image.c). A call enters a scope on the
 * handler, points cur at the scope's arena (pages from the handler's
 * pool, so pages_live tells the truth), runs, and then restores the
 * image: the state's bytes are copied back over the same pages, so every
 * pointer inside it is again what it was after the build, and whatever
 * the call allocated (all of it in the scope's pages) is unreachable.
 * Exiting the scope returns those pages to the pool. Nothing is ever
 * freed one by one (free is a no-op) and the collector is stopped. Lua
 * still runs an *emergency* collection when an allocation fails; it only
 * frees (a no-op here) and rewrites GC bookkeeping inside the state's own
 * memory, which the restore puts back, so it is harmless.
 *
 * Protection. Everything that touches the isolate's state runs inside a
 * lua_pcall in that state (iso_run, effect_body, ...), so an isolate
 * error or memory error never reaches a panic. Host-side work during a
 * call (copying values out, calling effects) can raise host errors; the
 * host's own lua_pcall in iso_call catches them. Such an error may jump
 * over the isolate's C frames and leave its state mid-operation: that is
 * sound only because nothing touches the state again before the image is
 * restored, which iso_call always does first.
 *
 * Reentrancy. While a call runs (busy), it holds the handler's loan of a
 * scope (lxb_handler_borrow, l_handler.h): the scope and its arena are
 * pinned, and exiting that scope or one below it,
 * closing the handler, resetting or closing the arena, closing the
 * isolate or calling it again all raise "isolate busy". Any host
 * allocation can run a __gc, which can reach these objects: that is why
 * the checks are in the objects themselves, and why iso_call re-checks
 * the isolate after the allocations it makes before setting busy.
 *
 * Crossings. Everything that passes between the host and the state is
 * the bridge's (l_bridge.h): copies of arguments and results, the
 * effects (C closures in the state that call the handler's gate, which
 * the isolate keeps from its build), and host errors kept and raised
 * again. This file says when (iso_run, lxb_iso_raise_error); the bridge
 * says how. During a call, stack index 1 of the host's running C
 * function (call_body, or l_isobuild.c's build_body) is always the
 * isolate itself, which holds the bridge's user values.
 *
 * Calls into other binding files on iso:call's path: lxb_handler_borrow
 * and lxb_handler_return (l_scope.c), lxc_copy / lxc_copy_bounded for
 * each argument and result, and lxc_raise_error when the call fails.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include "l_isolate_impl.h"

#include <time.h>

#include "image.h"
#include "l_arena.h"
#include "l_bridge.h"
#include "l_handler.h"

const char lxb_iso_tag = 'I';
const char lxb_iso_fn_key = 'F';
const char lxb_iso_budget_key = 'B';

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

static LIsolate *check_open(lua_State *L)
{
    LIsolate *iso = check_any(L);
    if (iso->S == NULL)
        luaL_error(L, "isolate is closed");
    return iso;
}

/* The isolate a state (or one of its coroutines) belongs to. */
static LIsolate *owner(lua_State *T)
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
    LIsolate *iso = ud;
    if (nsize == 0 || iso->cur == NULL)
        return NULL; /* a free is a no-op: the block goes with its arena */
    return lx_arena_realloc(iso->cur, p, osize, nsize, LX_DEFAULT_ALIGN);
}

/* Drops the state: all of it lives in `home` and the scope arenas, so
 * giving back home's pages is the whole of it. lua_close is never
 * called: it would run the isolate's __gc metamethods. */
void lxb_iso_free(LIsolate *iso)
{
    lx_image_free(&iso->image);
    if (iso->home != NULL)
        lx_arena_free(iso->home);
    iso->home = NULL;
    if (iso->home_pool_live)
        lx_pool_destroy(&iso->home_pool);
    iso->home_pool_live = 0;
    iso->cur = NULL;
    iso->S = NULL;
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
    LIsolate *iso = owner(T);
    (void)ar;
    iso->instructions += iso->period;
    if (iso->stopped || iso->instructions > iso->max_instructions) {
        iso->stopped = 1;
        lua_sethook(T, lxb_iso_hook, LUA_MASKCOUNT, 1);
        lua_rawgetp(T, LUA_REGISTRYINDEX, &lxb_iso_budget_key); /* allocates nothing */
        lua_error(T);
    }
}

void lxb_iso_charge(lua_State *T, lua_Integer n)
{
    LIsolate *iso = owner(T);
    if (!iso->stopped && iso->max_instructions > 0) {
        if (n > iso->max_instructions - iso->instructions)
            iso->stopped = 1;
        else
            iso->instructions += n;
    }
    if (iso->stopped) {
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
int lxb_iso_raise_error(lua_State *L, LIsolate *iso, int st)
{
    lua_State *S = iso->S;
    if (iso->stopped) {
        iso->instruction_stops++;
        lua_pushfstring(L, "instruction budget exceeded (max_instructions = %I)", iso->max_instructions);
        return lua_error(L);
    }
    if (st == LUA_ERRMEM) {
        iso->memory_stops++;
        push_name(L, 1);
        lua_pushfstring(L, "not enough memory (isolate '%s', %s = %I)", lua_tostring(L, -1),
                        iso->building ? "building, limit" : "max_bytes",
                        (lua_Integer)(iso->building && iso->max_bytes < BUILD_MIN_BYTES ? BUILD_MIN_BYTES : iso->max_bytes));
        return lua_error(L);
    }
    return lxc_raise_error(L, S);
}

/* ------------------------------------------------------------------ calls */

/* isolate: iso_run(iso). The host's call_body frame holds iso args... */
static int iso_run(lua_State *S)
{
    LIsolate *iso = lua_touserdata(S, 1);
    lua_State *L = iso->link.host;
    int n = lua_gettop(L) - 1, i, nres;
    lxc_where w = {"argument", 0, NULL, NULL, NULL};
    lxc_budget b = {iso->link.max_copy_bytes, iso->link.max_copy_bytes, "max_copy_bytes"};
    lua_settop(S, 0);
    luaL_checkstack(S, n + LUA_MINSTACK, "too many arguments");
    lua_rawgetp(S, LUA_REGISTRYINDEX, &lxb_iso_fn_key);
    for (i = 1; i <= n; i++) {
        w.n = i;
        lxc_copy(L, i + 1, S, S, &w);
    }
    lua_call(S, n, LUA_MULTRET);
    nres = lua_gettop(S);
    luaL_checkstack(L, nres + LUA_MINSTACK, "too many results");
    w.what = "result";
    for (i = 1; i <= nres; i++) {
        w.n = i;
        lxc_copy_bounded(S, i, L, S, &w, &b);
    }
    return 0;
}

/* host: call_body(iso, args...) -> results */
static int call_body(lua_State *L)
{
    LIsolate *iso = lua_touserdata(L, 1);
    lua_State *S = iso->S;
    int top = lua_gettop(L), st;
    lua_pushcfunction(S, iso_run);
    lua_pushlightuserdata(S, iso);
    st = lua_pcall(S, 1, 0, 0);
    if (st == LUA_OK && !iso->stopped)
        return lua_gettop(L) - top;
    lua_settop(L, top);
    return lxb_iso_raise_error(L, iso, st);
}

static lua_Integer now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (lua_Integer)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The restore, timed: two clock reads (tens of nanoseconds) against a
 * copy of the whole image, so that stats can say what a call's restore
 * costs. */
static int restore_timed(LIsolate *iso)
{
    lua_Integer t0 = now_ns();
    int st = lx_image_restore(&iso->image, iso->home);
    iso->restore_ns += now_ns() - t0;
    return st;
}

/*
 * iso:call(...): borrows a request scope from the handler, runs the call
 * with the state allocating in the scope's arena, restores the image,
 * and returns the scope: two calls into l_scope.c per call.
 */
static int iso_call(lua_State *L)
{
    LIsolate *iso = check_open(L);
    int nargs = lua_gettop(L) - 1, st;
    lxb_loan loan;
    lx_arena *a;
    if (iso->busy)
        return luaL_error(L, "isolate busy: %s is running a call", push_name(L, 1));
    luaL_checkstack(L, 4, NULL);
    lua_getiuservalue(L, 1, UV_HANDLER);
    lua_insert(L, 1);
    lua_pushvalue(L, 2);
    lua_insert(L, 2);
    lua_pushcfunction(L, call_body);
    lua_insert(L, 3); /* h iso call_body iso args... */
    a = lxb_handler_borrow(L, 1, &loan);
    /* Entering allocated: a __gc may have closed or used the isolate. */
    if (iso->S == NULL || iso->busy) {
        lxb_handler_return(L, &loan);
        return luaL_error(L, iso->S == NULL ? "isolate is closed" : "isolate busy");
    }
    (void)lx_arena_set_budget(a, iso->max_bytes); /* a fresh arena holds nothing yet */
    iso->busy = 1;
    iso->cur = a;
    iso->link.host = L;
    iso->instructions = 0;
    iso->stopped = 0;
    iso->close_depth = 0;
    /* Before call_body first writes into the state (image.h). */
    lx_image_watch(&iso->image);

    st = lua_pcall(L, nargs + 1, LUA_MULTRET, 0);

    /* Whatever happened, the state goes back to its image first. */
    {
        lx_stats s;
        lx_arena_stats(a, &s);
        iso->last_call_bytes = s.bytes_allocated;
        iso->last_call_pages = s.page_count;
        iso->last_call_capacity = s.capacity;
        iso->last_call_wasted = s.wasted;
    }
    if (iso->last_call_bytes > iso->peak_call_bytes)
        iso->peak_call_bytes = iso->last_call_bytes;
    iso->cur = NULL;
    iso->link.host = NULL;
    iso->calls++;
    if (restore_timed(iso) == 0) {
        iso->restores++;
    } else {
        lxb_iso_free(iso); /* cannot happen: home is never reset; never run a broken state */
        st = LUA_ERRRUN;
        lua_pushliteral(L, "isolate lost its image and was closed");
    }
    iso->busy = 0;
    lxb_handler_return(L, &loan);
    lua_pushnil(L);
    lua_setiuservalue(L, 2, LXC_UV_PENDING);
    if (st != LUA_OK) {
        iso->errors++;
        return lua_error(L);
    }
    return lua_gettop(L) - 2;
}

/* ------------------------------------------------------------------ the rest */

static int iso_stats(lua_State *L)
{
    LIsolate *iso = check_any(L);
    lua_createtable(L, 0, 24);
    lxb_setint(L, "calls", iso->calls);
    lxb_setint(L, "errors", iso->errors);
    lxb_setint(L, "image_bytes", (lua_Integer)iso->image.nbytes);
    lxb_setint(L, "image_pages", (lua_Integer)iso->image.mark.npages + (lua_Integer)iso->image.mark.nchunks);
    lxb_setint(L, "last_call_bytes", (lua_Integer)iso->last_call_bytes);
    lxb_setint(L, "peak_call_bytes", (lua_Integer)iso->peak_call_bytes);
    lxb_setint(L, "last_call_pages", (lua_Integer)iso->last_call_pages);
    lxb_setint(L, "last_call_capacity", (lua_Integer)iso->last_call_capacity);
    lxb_setint(L, "last_call_wasted", (lua_Integer)iso->last_call_wasted);
    lxb_setint(L, "restores", iso->restores);
    lua_pushstring(L, lx_image_mapped(&iso->image) ? "mapped" : "copy");
    lua_setfield(L, -2, "image_form");
    lxb_setint(L, "last_restore_bytes", (lua_Integer)iso->image.last_bytes);
    lxb_setint(L, "last_restore_pages", (lua_Integer)iso->image.last_pages);
    lxb_setint(L, "hot_pages", (lua_Integer)iso->image.hot_pages);
    lxb_setint(L, "restore_scans", (lua_Integer)iso->image.scans);
    lua_pushnumber(L, (lua_Number)iso->restore_ns * 1e-9);
    lua_setfield(L, -2, "restore_seconds");
    lxb_setint(L, "instruction_stops", iso->instruction_stops);
    lxb_setint(L, "memory_stops", iso->memory_stops);
    lxb_setint(L, "max_bytes", (lua_Integer)iso->max_bytes);
    lxb_setint(L, "max_copy_bytes", (lua_Integer)iso->link.max_copy_bytes);
    if (iso->max_instructions > 0)
        lxb_setint(L, "max_instructions", iso->max_instructions);
    lua_pushboolean(L, iso->S == NULL);
    lua_setfield(L, -2, "closed");
    return 1;
}

static int iso_close(lua_State *L)
{
    LIsolate *iso = check_any(L);
    if (iso->busy)
        return luaL_error(L, "isolate busy: %s is running a call", push_name(L, 1));
    lxb_iso_free(iso);
    return 0;
}

/* The collector reaches an isolate only when nothing runs it (a running
 * call keeps it on the stack), except when the host state itself closes
 * mid-call; the state is then left to the process's end. */
static int iso_gc(lua_State *L)
{
    LIsolate *iso = check_any(L);
    if (!iso->busy)
        lxb_iso_free(iso);
    return 0;
}

static int iso_is_closed(lua_State *L)
{
    lua_pushboolean(L, check_any(L)->S == NULL);
    return 1;
}

static int iso_tostring(lua_State *L)
{
    LIsolate *iso = check_any(L);
    const char *name = push_name(L, 1);
    if (iso->S == NULL)
        lua_pushfstring(L, "lexrt.isolate(%s) (closed)", name);
    else
        lua_pushfstring(L, "lexrt.isolate(%s, %I-byte image, %I calls)", name, (lua_Integer)iso->image.nbytes,
                        iso->calls);
    return 1;
}

/* core.is_isolate(v) */
static int l_is_isolate(lua_State *L)
{
    lua_pushboolean(L, test_isolate(L, 1) != NULL);
    return 1;
}

static const luaL_Reg isolate_methods[] = {
    {"call", iso_call},
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
    luaL_newmetatable(L, "lexrt.isolate");
    lxb_set_metatable(L, -1, isolate_methods, isolate_meta, "lexrt.isolate", up);
    lua_pop(L, 1);
    lxb_setfuncs(L, isolate_funcs, up);
}
