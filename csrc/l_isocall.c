/*
 * iso:call: one call of an isolate, from choosing the instance to its
 * restore, with requests in flight.
 *
 * The driver. The request function runs in the instance's request thread
 * R, resumed from call_body in the host. An effect called there does not
 * call the host itself: it copies its arguments onto the host, yields R,
 * and the driver (drive) calls the handler's gate with lua_pcallk. So no
 * host call is ever made from inside R's resume, where a yield could not
 * pass, and when the gate yields, the host coroutine running iso:call
 * yields with it: the call is suspended, R stays suspended inside its
 * effect, and when the host coroutine is resumed, the gate's results go
 * back into R (l_bridge.c's effect_resumed) and the loop goes on. The
 * frames, host side (continuations keep them across yields):
 *   iso_call(iso, args...)   [iso h guard]  --lua_pcallk-->  call_done
 *     call_body(iso, slot, args...)         --lua_pcallk(gate)--> effect_done
 *       lua_resume(R): iso_run copies the arguments in, calls the request
 *       function (lua_callk: it may yield), run_done copies the results out
 * Host errors while copying (memory) jump to iso_call's pcallk, which
 * is why nothing touches the instance's state before its restore.
 *
 * Instances. An isolate has `instances` of them, each a state of its own
 * built from the same chunk (the first at construction, the others when
 * a call first needs one); a call takes a free one. A call from a host
 * thread that already runs a call of this isolate (from inside an effect)
 * is refused as busy, as before instances existed.
 *
 * Abandoned calls. In a host coroutine, a call guard (a to-be-closed
 * userdata in iso_call's frame) ends the call when the coroutine is
 * closed (__close) or collected (__gc) while the call is suspended: the
 * state is restored, the scope exits, the instance is free again. The
 * guard knows its call by instance and serial, so a late __gc of a guard
 * never ends a later call of the same instance.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include "l_isolate_impl.h"

#include <time.h>

#include "l_arena.h"
#include "l_bridge.h"
#include "l_handler.h"

/* iso_call's frame: the isolate, its handler (for the loan), the guard
 * or nil. call_body's: the isolate, the slot, the arguments. */
#define CALL_HANDLER 2
#define CALL_GUARD 3
#define CALL_FRAME 3
#define BODY_ARGS 2

typedef struct LCallGuard {
    const void *tag; /* &guard_tag */
    int slot;
    lua_Integer serial; /* 0: nothing to end */
} LCallGuard;

static const char guard_tag = 'g';

static LInstance *instance_at(lua_State *L, lua_KContext slot)
{
    return &((LIsolate *)lua_touserdata(L, 1))->inst[slot];
}

/* ------------------------------------------------------------------ in R */

/* R: run_done: the request function's results, copied onto the host. */
static int run_done(lua_State *R, int status, lua_KContext ctx)
{
    lxc_link *link = lxb_iso_link(R);
    lua_State *L = link->host;
    int nres = lua_gettop(R), i;
    lxc_where w = {"result", 0, NULL, NULL, NULL};
    lxc_budget b = {link->max_copy_bytes, link->max_copy_bytes, "max_copy_bytes"};
    (void)status;
    (void)ctx;
    luaL_checkstack(L, nres + LUA_MINSTACK, "too many results");
    for (i = 1; i <= nres; i++) {
        w.n = i;
        lxc_copy_bounded(R, i, L, R, &w, &b);
    }
    return 0;
}

/* R: iso_run(nargs): the body of the request thread. */
static int iso_run(lua_State *R)
{
    lua_State *L = lxb_iso_link(R)->host;
    int n = (int)lua_tointeger(R, 1), i;
    lxc_where w = {"argument", 0, NULL, NULL, NULL};
    lua_settop(R, 0);
    luaL_checkstack(R, n + LUA_MINSTACK, "too many arguments");
    lua_rawgetp(R, LUA_REGISTRYINDEX, &lxb_iso_fn_key);
    for (i = 1; i <= n; i++) {
        w.n = i;
        lxc_copy(L, BODY_ARGS + i, R, R, &w);
    }
    lua_callk(R, n, LUA_MULTRET, 0, run_done);
    return run_done(R, LUA_OK, 0);
}

/* ------------------------------------------------------------------ host */

/*
 * Resumes R until the call ends: for each effect R yields for, calls the
 * gate. Returns call_body's results (the call's), or raises its error.
 * `nargs`: what the first resume passes (iso_run and its count), 0 after.
 */
static int effect_done(lua_State *L, int status, lua_KContext slot);

static int drive(lua_State *L, lua_KContext slot, int nargs)
{
    LInstance *in = instance_at(L, slot);
    for (;;) {
        int nres, st = lua_resume(in->R, L, nargs, &nres);
        nargs = 0;
        if (st == LUA_YIELD && in->link.effect) {
            int n = lua_gettop(L) - in->link.effect_base - 1;
            in->link.effect = 0;
            in->link.effect_status = lua_pcallk(L, n, LUA_MULTRET, 0, slot, effect_done);
            continue;
        }
        if (st == LUA_OK && !in->stopped)
            return lua_gettop(L) - BODY_ARGS - in->nargs;
        if (st == LUA_YIELD) /* coroutine.yield cannot do this; a safety net */
            return luaL_error(L, "attempt to yield from outside a coroutine");
        if (st != LUA_OK) {
            /* R is dead: its error goes to the main thread, where the
             * bridge may still run code to copy it. */
            if (!lua_checkstack(in->S, 1))
                return luaL_error(L, "not enough memory");
            lua_xmove(in->R, in->S, 1);
        }
        return lxb_iso_raise_error(L, in, st);
    }
}

/* The gate, called by drive, has returned (or raised) after a yield. */
static int effect_done(lua_State *L, int status, lua_KContext slot)
{
    instance_at(L, slot)->link.effect_status = status == LUA_YIELD ? LUA_OK : status;
    return drive(L, slot, 0);
}

/* host: call_body(iso, slot, args...) -> results */
static int call_body(lua_State *L)
{
    lua_KContext slot = (lua_KContext)lua_tointeger(L, 2);
    LInstance *in = instance_at(L, slot);
    lua_pushcfunction(in->R, iso_run); /* a fresh R: room for both */
    lua_pushinteger(in->R, in->nargs);
    return drive(L, slot, 1);
}

static lua_Integer now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (lua_Integer)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The end of a call, however it ended (returned, raised, abandoned):
 * the stats, the restore, the scope back to the handler at hidx. The
 * isolate is at host index iidx. Allocates nothing and raises nothing.
 */
static void finish(lua_State *L, int iidx, int hidx, LInstance *in)
{
    LIsolate *iso = in->iso;
    lx_stats s;
    lua_Integer t0;
    lx_arena_stats(in->cur, &s);
    iso->last_call_bytes = s.bytes_allocated;
    iso->last_call_pages = s.page_count;
    iso->last_call_capacity = s.capacity;
    iso->last_call_wasted = s.wasted;
    if (iso->last_call_bytes > iso->peak_call_bytes)
        iso->peak_call_bytes = iso->last_call_bytes;
    in->cur = NULL;
    in->link.host = NULL;
    in->link.effect = 0;
    iso->calls++;
    /* The restore, timed: two clock reads (tens of nanoseconds) against
     * a copy of the image, so that stats can say what restores cost. */
    t0 = now_ns();
    if (lx_image_restore(&in->image, in->home) == 0) {
        iso->restores++;
        iso->last = in;
    } else {
        /* Cannot happen (home is never reset); a broken state is never
         * run again: the instance is built anew when next needed. */
        lxb_iso_free_instance(in);
        iso->built--;
        if (iso->last == in)
            iso->last = NULL;
    }
    iso->restore_ns += now_ns() - t0;
    in->busy = 0;
    iso->in_flight--;
    lxb_handler_return(L, hidx, &in->loan);
    lxc_drop_pending(L, iidx, &in->link);
}

/* Where iso_call goes on when call_body has returned or raised. */
static int call_done(lua_State *L, int status, lua_KContext slot)
{
    LInstance *in = instance_at(L, slot);
    finish(L, 1, CALL_HANDLER, in);
    if (lua_type(L, CALL_GUARD) == LUA_TUSERDATA)
        ((LCallGuard *)lua_touserdata(L, CALL_GUARD))->serial = 0;
    if (status != LUA_OK && status != LUA_YIELD) {
        in->iso->errors++;
        return lua_error(L);
    }
    return lua_gettop(L) - CALL_FRAME;
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

/* The first free instance of iso, or NULL: then *busy_here says whether
 * the host thread L already runs a call of iso (iso:call from inside its
 * own effect, or from its build). Allocates nothing. */
static LInstance *pick(const lua_State *L, LIsolate *iso, int *busy_here)
{
    LInstance *found = NULL;
    int i;
    *busy_here = 0;
    for (i = 0; i < iso->ninst; i++) {
        LInstance *in = &iso->inst[i];
        if (in->busy && in->link.host == L)
            *busy_here = 1;
        else if (!in->busy && found == NULL)
            found = in;
    }
    return *busy_here ? NULL : found;
}

static LInstance *free_instance(lua_State *L, LIsolate *iso)
{
    int busy_here;
    LInstance *in = pick(L, iso, &busy_here);
    if (busy_here)
        luaL_error(L, "isolate busy: %s is running a call", push_name(L, 1));
    if (in == NULL)
        luaL_error(L, "isolate busy: all %d instances are running a call", iso->ninst);
    return in;
}

/* Pushes a call guard for the isolate at index 1: its spare one, or a new
 * one (which allocates: the caller checks the isolate afterwards). */
static LCallGuard *push_guard(lua_State *L)
{
    LCallGuard *g;
    if (lua_getiuservalue(L, 1, UV_GUARD) == LUA_TUSERDATA) {
        lua_pushnil(L);
        lua_setiuservalue(L, 1, UV_GUARD); /* ours alone until its slot closes */
        return lua_touserdata(L, -1);
    }
    lua_pop(L, 1);
    g = lua_newuserdatauv(L, sizeof *g, 1);
    g->tag = &guard_tag;
    g->serial = 0;
    g->slot = 0;
    luaL_setmetatable(L, "lexrt.isolate_call");
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    return g;
}

/*
 * iso:call(...). Everything that allocates or runs Lua code (building an
 * instance, the guard, entering the scope) comes before the instance is
 * taken; a __gc run by any of them may have closed the isolate or taken
 * the instance, so the choice is made again after the last of them.
 */
int lxb_iso_call(lua_State *L)
{
    LIsolate *iso = lxb_iso_check_open(L);
    int nargs = lua_gettop(L) - 1, slot;
    LCallGuard *g = NULL;
    LInstance *in = free_instance(L, iso);
    lx_arena *a;
    lxb_loan loan;
    while (in->S == NULL) {
        lxb_iso_build(L, 1, in);
        iso = lxb_iso_check_open(L);
        in = free_instance(L, iso);
    }
    luaL_checkstack(L, 8, NULL);
    lua_getiuservalue(L, 1, UV_HANDLER);
    if (lua_isyieldable(L))
        g = push_guard(L);
    else
        lua_pushnil(L);
    lua_pushcfunction(L, call_body);
    lua_pushvalue(L, 1);
    lua_pushnil(L); /* the slot, once known */
    lua_rotate(L, 2, 5); /* iso h guard call_body iso slot args... */
    a = lxb_handler_borrow(L, CALL_HANDLER, &loan);
    /* Allocations ran: look again, raising only with the loan back. */
    in = iso->closed ? NULL : pick(L, iso, &slot);
    if (in == NULL || in->S == NULL) {
        lxb_handler_return(L, CALL_HANDLER, &loan);
        if (iso->closed)
            return luaL_error(L, "isolate is closed");
        free_instance(L, iso);
        return luaL_error(L, "isolate busy: all %d instances are running a call", iso->ninst);
    }
    slot = (int)(in - iso->inst);
    lua_pushinteger(L, slot);
    lua_replace(L, 6);
    (void)lx_arena_set_budget(a, iso->max_bytes); /* a fresh arena holds nothing yet */
    in->busy = 1;
    in->serial++;
    in->loan = loan;
    in->cur = a;
    in->link.host = L;
    in->link.effect = 0;
    in->nargs = nargs;
    in->instructions = 0;
    in->stopped = 0;
    in->close_depth = 0;
    iso->in_flight++;
    if (g != NULL) {
        g->slot = slot;
        g->serial = in->serial;
        lua_toclose(L, CALL_GUARD);
    }
    /* Before call_body first writes into the state (image.h). */
    lx_image_watch(&in->image);
    return call_done(L, lua_pcallk(L, nargs + 2, LUA_MULTRET, 0, slot, call_done), slot);
}

/* ------------------------------------------------------------------ the guard */

/* Ends the guard's call (at index 1) if it is still suspended. */
static void guard_fire(lua_State *L)
{
    LCallGuard *g = lxb_test_object(L, 1, sizeof(LCallGuard), &guard_tag);
    LIsolate *iso;
    LInstance *in;
    int top = lua_gettop(L);
    if (g == NULL || g->serial == 0)
        return;
    lua_getiuservalue(L, 1, 1);
    iso = lua_touserdata(L, -1);
    in = &iso->inst[g->slot];
    if (in->busy && in->serial == g->serial && !in->building) {
        lua_getiuservalue(L, top + 1, UV_HANDLER);
        finish(L, top + 1, top + 2, in);
        if (iso->closed) /* collected with the call: what __gc left */
            lxb_iso_free(iso);
    }
    g->serial = 0;
    lua_settop(L, top);
}

/* __close: the slot is done with (the call ended, or its coroutine was
 * closed); the guard may serve the next call. */
static int guard_close(lua_State *L)
{
    guard_fire(L);
    if (lxb_test_object(L, 1, sizeof(LCallGuard), &guard_tag) != NULL) {
        lua_getiuservalue(L, 1, 1);
        if (lua_getiuservalue(L, -1, UV_GUARD) == LUA_TNIL) {
            lua_pushvalue(L, 1);
            lua_setiuservalue(L, -3, UV_GUARD);
        }
    }
    return 0;
}

/* __gc: the coroutine holding the guard was collected. */
static int guard_gc(lua_State *L)
{
    guard_fire(L);
    return 0;
}

static const luaL_Reg guard_meta[] = {
    {"__close", guard_close},
    {"__gc", guard_gc},
    {NULL, NULL},
};

void lxb_open_call_guard(lua_State *L)
{
    luaL_newmetatable(L, "lexrt.isolate_call");
    luaL_setfuncs(L, guard_meta, 0);
    lua_pushliteral(L, "lexrt.isolate_call");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}
