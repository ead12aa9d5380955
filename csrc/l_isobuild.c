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

/*
 * isolate: build_run(iso). The host's build_body frame holds
 * iso effects source chunkname libs at 1..5.
 */
static int build_run(lua_State *S)
{
    LIsolate *iso = lua_touserdata(S, 1);
    lua_State *L = iso->link.host;
    size_t len;
    const char *src = lua_tolstring(L, 3, &len);
    lxb_isolib_open(S, L, 5, iso->max_instructions > 0);
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
    return 0;
}

/* host: build_body(iso, effects, source, chunkname, libs) */
static int build_body(lua_State *L)
{
    LIsolate *iso = lua_touserdata(L, 1);
    lua_State *S = iso->S;
    int st;
    lua_pushcfunction(S, build_run);
    lua_pushlightuserdata(S, iso);
    st = lua_pcall(S, 1, 0, 0);
    if (st != LUA_OK)
        return lxb_iso_raise_error(L, iso, st);
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

static void choose_form(LIsolate *iso)
{
    const char *want = forced_form != NULL ? forced_form : getenv("LEXRT_ISOLATE_IMAGE");
    struct timespec t0, t1;
    if (want != NULL && strcmp(want, "copy") == 0)
        return;
    if (want == NULL || strcmp(want, "mapped") != 0) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        (void)lx_image_restore(&iso->image, iso->home);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((long)(t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) <= MAP_ABOVE_NS)
            return;
    }
    (void)lx_image_map(&iso->image, iso->home);
}

/* core.new_isolate(h, source, chunkname, libs, max_bytes, max_instructions, name [, max_copy_bytes]) */
int lxb_new_isolate(lua_State *L)
{
    LIsolate *iso;
    size_t build_budget, handler_max_bytes;
    lua_Integer copy_bytes = -1; /* -1: max_bytes */
    int st, closed;
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
    lua_settop(L, 7);
    handler_max_bytes = lxb_handler_gate(L, 1);
    lua_insert(L, 2);
    /* Stack: h effects source chunkname libs mb mi name gate */

    /* Closed from birth (cf. lxb_new_arena_object): __gc has nothing to do
     * until the state exists. */
    iso = lua_newuserdatauv(L, sizeof *iso, NUV);
    memset(iso, 0, sizeof *iso);
    iso->tag = &lxb_iso_tag;
    lx_image_init(&iso->image);
    luaL_setmetatable(L, "lexrt.isolate");
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, UV_HANDLER);
    lua_pushvalue(L, 8);
    lua_setiuservalue(L, -2, UV_NAME);
    lua_pushvalue(L, 9);
    lua_setiuservalue(L, -2, LXC_UV_GATE);

    if (lua_isnoneornil(L, 6)) {
        size_t hb = handler_max_bytes;
        iso->max_bytes = hb != LX_NO_BUDGET ? hb : DEFAULT_MAX_BYTES;
    } else {
        lua_Integer v = lxb_checkint(L, 6);
        luaL_argcheck(L, v >= 0, 6, "max_bytes must be a non-negative integer");
        iso->max_bytes = (size_t)v;
    }
    iso->link.max_copy_bytes = copy_bytes >= 0 ? (size_t)copy_bytes : iso->max_bytes;
    if (!lua_isnoneornil(L, 7)) {
        iso->max_instructions = lxb_checkint(L, 7);
        luaL_argcheck(L, iso->max_instructions > 0, 7, "max_instructions must be a positive integer");
        /* Below one period, the first look is one past the budget: exact. */
        iso->period = iso->max_instructions < HOOK_PERIOD ? (int)iso->max_instructions + 1 : HOOK_PERIOD;
    }
    build_budget = iso->max_bytes > BUILD_MIN_BYTES ? iso->max_bytes : BUILD_MIN_BYTES;

    /* Stack: h effects source chunkname libs mb mi name gate iso */
    /* The pool keeps no pages: what home gives back goes to the system. */
    if (lx_pool_init_mapped(&iso->home_pool, LX_PAGE_BYTES, 0, 0) != 0)
        return lxb_nomem(L);
    iso->home_pool_live = 1;
    iso->home = lx_arena_new(&iso->home_pool, LX_PAGE_BYTES, build_budget, lxb_next_key(L));
    if (iso->home == NULL)
        return lxb_nomem(L);
    iso->cur = iso->home;
    iso->S = lua_newstate(lxb_iso_alloc, iso);
    if (iso->S == NULL) {
        lxb_iso_free(iso);
        return lxb_nomem(L);
    }
    lua_gc(iso->S, LUA_GCSTOP);

    lua_pushcfunction(L, build_body);
    lua_pushvalue(L, 10);
    lua_pushvalue(L, 2);
    lua_pushvalue(L, 3);
    lua_pushvalue(L, 4);
    lua_pushvalue(L, 5);
    /* The hook is set before the build, so that the build is held to
     * max_instructions too and coroutines it makes inherit the hook. */
    if (iso->max_instructions > 0)
        lua_sethook(iso->S, lxb_iso_hook, LUA_MASKCOUNT, iso->period);
    iso->busy = 1;
    iso->building = 1;
    iso->link.host = L;
    st = lua_pcall(L, 5, 0, 0);
    iso->busy = 0;
    iso->building = 0;
    iso->instructions = 0;
    iso->stopped = 0;
    iso->link.host = NULL;
    lua_pushnil(L); /* what effects raised while building is done with */
    lua_setiuservalue(L, 10, LXC_UV_PENDING);
    if (st != LUA_OK) {
        lxb_iso_free(iso);
        return lua_error(L);
    }
    iso->cur = NULL;
    if (lx_image_take(&iso->image, iso->home) != 0) {
        lxb_iso_free(iso);
        return lxb_nomem(L);
    }
    choose_form(iso);
    lua_settop(L, 10);
    return 1;
}
