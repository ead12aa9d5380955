/*
 * Making an isolate: core.new_isolate checks its arguments, makes the
 * object and its state (allocating in the isolate's own arena, `home`),
 * runs the chunk under the hook (build_body, build_run), and takes the
 * image every call restores (l_isolate.c's top says why). Apart from
 * l_isolate.c because it runs once per isolate, not once per call: the
 * request path (iso:call) never enters this file.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include "l_isolate_impl.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "l_arena.h"
#include "l_bridge.h"
#include "l_handler.h"
#include "l_isolib.h"
#include "sysmem.h"

/*
 * isolate: build_run(in). The host's build_body frame holds
 * iso effects source chunkname libs at 1..5.
 */
static int build_run(lua_State *S)
{
    LInstance *in = lua_touserdata(S, 1);
    lua_State *L = in->link.host;
    size_t len;
    const char *src = lua_tolstring(L, 3, &len);
    lxb_isolib_open(S, L, 5, in->iso->max_instructions > 0);
    lxc_set_effects(S, L, 2);
    lua_pushliteral(S, "instruction budget exceeded");
    lua_rawsetp(S, LUA_REGISTRYINDEX, &lxb_iso_budget_key);
    if (luaL_loadbufferx(S, src, len, lua_tostring(L, 4), "t") != LUA_OK)
        return lua_error(S);
    lua_call(S, 0, 1);
    if (lua_type(S, -1) != LUA_TFUNCTION)
        return luaL_error(S, "the isolate's chunk must return the request function, got %s",
                          luaL_typename(S, -1));
    lua_rawsetp(S, LUA_REGISTRYINDEX, &lxb_iso_fn_key);
    /* Made last, so the chunk cannot reach it; part of the image, so
     * every call starts it fresh. It inherits the count hook. */
    in->R = lua_newthread(S);
    lua_rawsetp(S, LUA_REGISTRYINDEX, &lxb_iso_thread_key);
    return 0;
}

/* host: build_body(iso, effects, source, chunkname, libs, in) */
static int build_body(lua_State *L)
{
    LInstance *in = lua_touserdata(L, 6);
    lua_State *S = in->S;
    int st;
    lua_settop(L, 5);
    lua_pushcfunction(S, build_run);
    lua_pushlightuserdata(S, in);
    st = lua_pcall(S, 1, 0, 0);
    if (st != LUA_OK)
        return lxb_iso_raise_error(L, in, st);
    return 0;
}

/*
 * Copy form or mapped form, chosen per isolate by timing one copy-back
 * of its image (a restore right after the take changes nothing), unless
 * LEXRT_ISOLATE_IMAGE says "copy" or "mapped" (tests, experiments). The
 * mapped form falls back to copy wherever it cannot be made.
 */
static const char *forced_form; /* core._isolate_image_form's, or NULL */

/* core._isolate_image_form("copy" | "mapped" | nil): the form isolates
 * built from now on take, over LEXRT_ISOLATE_IMAGE (make bench compares
 * the two in one run); nil: back to the choice by timing. */
int lxb_iso_force_form(lua_State *L)
{
    static const char *const forms[] = {"copy", "mapped", NULL};
    forced_form = lua_isnoneornil(L, 1) ? NULL : forms[luaL_checkoption(L, 1, NULL, forms)];
    return 0;
}

static void choose_form(LInstance *in)
{
    const char *want = forced_form != NULL ? forced_form : getenv("LEXRT_ISOLATE_IMAGE");
    struct timespec t0, t1;
    if (want != NULL && strcmp(want, "copy") == 0)
        return;
    if (want == NULL || strcmp(want, "mapped") != 0) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        (void)lx_image_restore(&in->image, in->home);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((long)(t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) <= MAP_ABOVE_NS)
            return;
    }
    (void)lx_image_map(&in->image, in->home);
}

/*
 * Builds instance `in` of the isolate at host index iidx: its own arena
 * (`home`, pages mapped so that the image can be mapped over them), its
 * state, the chunk run under the hook, the image. Every instance runs
 * the chunk the first one ran, with the same effects and libraries.
 */
void lxb_iso_build(lua_State *L, int iidx, LInstance *in)
{
    LIsolate *iso = in->iso;
    size_t budget = iso->max_bytes > BUILD_MIN_BYTES ? iso->max_bytes : BUILD_MIN_BYTES;
    int st;
    iidx = lua_absindex(L, iidx);
    luaL_checkstack(L, 8, NULL);
    /* The pool keeps no pages: what home gives back goes to the system. */
    if (lx_pool_init_mapped(&in->home_pool, LX_PAGE_BYTES, 0, 0) != 0)
        lxb_nomem(L);
    in->home_pool_live = 1;
    in->home = lx_arena_new(&in->home_pool, LX_PAGE_BYTES, budget, lxb_next_key(L));
    if (in->home == NULL) {
        lxb_iso_free_instance(in);
        lxb_nomem(L);
    }
    in->cur = in->home;
    in->S = lua_newstate(lxb_iso_alloc, in);
    if (in->S == NULL) {
        lxb_iso_free_instance(in);
        lxb_nomem(L);
    }
    lua_gc(in->S, LUA_GCSTOP);
    lua_pushcfunction(L, build_body);
    lua_pushvalue(L, iidx);
    lua_getiuservalue(L, iidx, UV_EFFECTS);
    lua_getiuservalue(L, iidx, UV_SOURCE);
    lua_getiuservalue(L, iidx, UV_CHUNKNAME);
    lua_getiuservalue(L, iidx, UV_LIBS);
    lua_pushlightuserdata(L, in);
    /* The hook is set before the build, so that the build is held to
     * max_instructions too and coroutines it makes inherit the hook. */
    if (iso->max_instructions > 0)
        lua_sethook(in->S, lxb_iso_hook, LUA_MASKCOUNT, iso->period);
    in->busy = 1;
    in->building = 1;
    in->link.host = L;
    st = lua_pcall(L, 6, 0, 0);
    in->busy = 0;
    in->building = 0;
    in->instructions = 0;
    in->stopped = 0;
    in->link.host = NULL;
    lxc_drop_pending(L, iidx, &in->link); /* what effects raised while building is done with */
    if (st != LUA_OK) {
        lxb_iso_free_instance(in);
        lua_error(L);
    }
    in->cur = NULL;
    in->link.request = in->R;
    if (lx_image_take(&in->image, in->home) != 0) {
        lxb_iso_free_instance(in);
        lxb_nomem(L);
    }
    choose_form(in);
    iso->built++;
}

/* core.new_isolate(h, source, chunkname, libs, max_bytes, max_instructions, name [, max_copy_bytes
 * [, instances]]) */
int lxb_new_isolate(lua_State *L)
{
    LIsolate *iso;
    size_t handler_max_bytes;
    lua_Integer copy_bytes = -1, ninst = 1; /* -1: max_bytes */
    int closed, i;
    if (!lxb_is_handler(L, 1, &closed))
        return luaL_argerror(L, 1, lua_pushfstring(L, "handler must be a lexrt.handler, got %s", luaL_typename(L, 1)));
    if (closed)
        return luaL_error(L, "handler is closed");
    luaL_checktype(L, 2, LUA_TSTRING);
    luaL_checktype(L, 3, LUA_TSTRING);
    luaL_checktype(L, 4, LUA_TTABLE);
    luaL_checktype(L, 7, LUA_TSTRING);
    if (!lua_isnoneornil(L, 8)) {
        copy_bytes = lxb_checkint(L, 8);
        luaL_argcheck(L, copy_bytes >= 0, 8, "max_copy_bytes must be a non-negative integer");
    }
    if (!lua_isnoneornil(L, 9)) {
        ninst = lxb_checkint(L, 9);
        luaL_argcheck(L, ninst >= 1 && ninst <= LXB_MAX_INSTANCES, 9, "instances must be an integer in 1..4096");
    }
    lua_settop(L, 7);
    handler_max_bytes = lxb_handler_gate(L, 1);
    lua_insert(L, 2);
    /* Stack: h effects source chunkname libs mb mi name gate */

    /* Closed from birth (cf. lxb_new_arena_object): __gc has nothing to do
     * until the instances exist. */
    iso = lua_newuserdatauv(L, sizeof *iso, NUV);
    memset(iso, 0, sizeof *iso);
    iso->tag = &lxb_iso_tag;
    iso->closed = 1;
    luaL_setmetatable(L, "lexrt.isolate");
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, UV_HANDLER);
    lua_pushvalue(L, 8);
    lua_setiuservalue(L, -2, UV_NAME);
    lua_pushvalue(L, 9);
    lua_setiuservalue(L, -2, LXC_UV_GATE);
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, -2, UV_EFFECTS);
    lua_pushvalue(L, 3);
    lua_setiuservalue(L, -2, UV_SOURCE);
    lua_pushvalue(L, 4);
    lua_setiuservalue(L, -2, UV_CHUNKNAME);
    lua_pushvalue(L, 5);
    lua_setiuservalue(L, -2, UV_LIBS);

    if (lua_isnoneornil(L, 6)) {
        size_t hb = handler_max_bytes;
        iso->max_bytes = hb != LX_NO_BUDGET ? hb : DEFAULT_MAX_BYTES;
    } else {
        lua_Integer v = lxb_checkint(L, 6);
        luaL_argcheck(L, v >= 0, 6, "max_bytes must be a non-negative integer");
        iso->max_bytes = (size_t)v;
    }
    iso->max_copy_bytes = copy_bytes >= 0 ? (size_t)copy_bytes : iso->max_bytes;
    if (!lua_isnoneornil(L, 7)) {
        iso->max_instructions = lxb_checkint(L, 7);
        luaL_argcheck(L, iso->max_instructions > 0, 7, "max_instructions must be a positive integer");
        /* Below one period, the first look is one past the budget: exact. */
        iso->period = iso->max_instructions < HOOK_PERIOD ? (int)iso->max_instructions + 1 : HOOK_PERIOD;
    }

    /* Stack: h effects source chunkname libs mb mi name gate iso */
    iso->inst = lx_sys_alloc((size_t)ninst * sizeof *iso->inst);
    if (iso->inst == NULL)
        return lxb_nomem(L);
    memset(iso->inst, 0, (size_t)ninst * sizeof *iso->inst);
    iso->ninst = (int)ninst;
    iso->closed = 0;
    for (i = 0; i < iso->ninst; i++) {
        LInstance *in = &iso->inst[i];
        in->iso = iso;
        in->link.max_copy_bytes = iso->max_copy_bytes;
        in->link.slot = i + 1;
        lx_image_init(&in->image);
    }
    /* The first instance now, so that the chunk's errors are the
     * constructor's; the others when calls in flight first need them. */
    lxb_iso_build(L, 10, &iso->inst[0]);
    lua_settop(L, 10);
    return 1;
}
