/*
 * lexrt.core: assembles the module from the binding files.
 *
 * Each binding file contributes luaL_Reg arrays; every function gets the
 * same three upvalues (see lexrt.h), so each checks its self argument by
 * comparing metatables, with no registry lookup.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdint.h>
#include <time.h>

#include "lexrt.h"
#include "sysmem.h"

#define LEXRT_VERSION "0.1.0"

/* core._fail_after(n): make the n+1-th system allocation from now fail
 * (n < 0 disarms). For the specs' allocation-failure tests only. */
static int l_fail_after(lua_State *L)
{
    lx_sys_fail_after((long)luaL_checkinteger(L, 1));
    return 0;
}

/* core._sys_allocations(): allocations taken from the system so far. */
static int l_sys_allocations(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lx_sys_allocations());
    return 1;
}

/* core.clock(): seconds of CLOCK_MONOTONIC as a float, the experiments'
 * wall-clock timer (os.clock is CPU time). */
static int l_clock(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

static const luaL_Reg test_funcs[] = {
    {"_fail_after", l_fail_after},
    {"_sys_allocations", l_sys_allocations},
    {NULL, NULL},
};

/* Registers `reg` into the table at -1, sharing the upvalues that sit at
 * base .. base + LX_NUPVALUES - 1. */
static void set_funcs(lua_State *L, const luaL_Reg *reg, int base)
{
    int i;
    for (i = 0; i < LX_NUPVALUES; i++)
        lua_pushvalue(L, base + i);
    luaL_setfuncs(L, reg, LX_NUPVALUES);
}

/* The module is built with -fvisibility=hidden so that calls between the
 * binding files are direct, not through the PLT; only this is exported. */
__attribute__((visibility("default"))) int luaopen_lexrt_core(lua_State *L);

int luaopen_lexrt_core(lua_State *L)
{
    lx_state *st;
    int base;
    luaL_checkversion(L);

    luaL_newmetatable(L, "lexrt.arena");
    luaL_newmetatable(L, "lexrt.handler");
    st = lua_newuserdatauv(L, sizeof *st, 0);
    /* Keys need only differ between arenas, not be secret: any varying
     * seed will do. */
    st->key_seed = (uint64_t)(uintptr_t)L ^ ((uint64_t)time(NULL) << 20) ^ (uint64_t)clock();
    luaL_newmetatable(L, "lexrt.scope_arena");
    base = lua_gettop(L) - 3;

    /* Arena metatables: methods in __index, then the metamethods; the
     * scope arena's share all of it but __gc. */
    lua_newtable(L);
    set_funcs(L, lxb_arena_methods, base);
    lua_pushvalue(L, -1);
    lua_setfield(L, base, "__index");
    lua_setfield(L, base + 3, "__index");
    lua_pushvalue(L, base);
    set_funcs(L, lxb_arena_meta, base);
    lua_pop(L, 1);
    lua_pushvalue(L, base + 3);
    set_funcs(L, lxb_arena_meta, base);
    lua_pushnil(L);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "lexrt.arena");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);

    lua_newtable(L);
    set_funcs(L, lxb_handler_methods, base);
    lua_setfield(L, base + 1, "__index");
    lua_pushvalue(L, base + 1);
    set_funcs(L, lxb_handler_meta, base);
    lua_pop(L, 1);

    lua_newtable(L);
    set_funcs(L, lxb_arena_funcs, base);
    set_funcs(L, lxb_handler_funcs, base);
    luaL_setfuncs(L, test_funcs, 0);
    lua_getfield(L, base, "__index");
    lua_setfield(L, -2, "arena_methods");
    lua_getfield(L, base + 1, "__index");
    lua_setfield(L, -2, "handler_methods");
    lua_pushinteger(L, (lua_Integer)LX_PAGE_BYTES);
    lua_setfield(L, -2, "PAGE_BYTES");
    lua_pushcfunction(L, l_clock);
    lua_setfield(L, -2, "clock");
    /* The page-size rule's bounds, so that Lua callers need not restate them. */
    lua_pushinteger(L, (lua_Integer)LX_MIN_PAGE);
    lua_setfield(L, -2, "MIN_PAGE_BYTES");
    lua_pushinteger(L, (lua_Integer)LX_MAX_PAGE);
    lua_setfield(L, -2, "MAX_PAGE_BYTES");
    lua_pushboolean(L, lx_recycling());
    lua_setfield(L, -2, "RECYCLING");
    lua_pushliteral(L, LEXRT_VERSION);
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
