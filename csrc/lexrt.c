/*
 * lexrt.core: assembles the module from the binding files.
 *
 * Each binding file contributes luaL_Reg arrays; every function gets the
 * same upvalues (see lexrt.h), so making objects needs no registry
 * lookup. Every metatable hides itself (__metatable), and the method
 * tables are not exported: code that holds one object cannot change how
 * another's methods are found.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "lexrt.h"
#include "sysmem.h"

/* The version is written in one place, the rockspec: luarocks (its
 * build.modules defines) and make (through scripts/version.sh) pass it in.
 * A build that does neither says so rather than claim a version (and the
 * specs fail on it); the analyzers see this default. */
#ifndef LEXRT_VERSION
#define LEXRT_VERSION "unversioned"
#endif

/* core._fail_after(n): make the n+1-th system allocation from now fail
 * (n < 0 disarms). For the specs' allocation-failure tests only. */
static int l_fail_after(lua_State *L)
{
    lx_sys_fail_after((long)lxb_checkint(L, 1));
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

/* The name the running C function is registered under ("?" if none). */
static const char *own_name(lua_State *L, lua_Debug *ar)
{
    static const luaL_Reg *const regs[] = {
        lxb_arena_methods, lxb_handler_methods, lxb_arena_funcs, lxb_handler_funcs,
        lxb_handler_front, lxb_arena_meta, lxb_handler_meta, test_funcs,
    };
    lua_CFunction f;
    size_t i;
    const luaL_Reg *r;
    lua_getinfo(L, "f", ar);
    f = lua_tocfunction(L, -1);
    lua_pop(L, 1);
    for (i = 0; f != NULL && i < sizeof regs / sizeof regs[0]; i++)
        for (r = regs[i]; r->name != NULL; r++)
            if (r->func == f)
                return r->name;
    return "?";
}

/* luaL_argerror, less its search of package.loaded for a name. */
int lxb_argerror(lua_State *L, int arg, const char *extramsg)
{
    lua_Debug ar;
    if (!lua_getstack(L, 0, &ar))
        return luaL_error(L, "bad argument #%d (%s)", arg, extramsg);
    lua_getinfo(L, "n", &ar);
    if (strcmp(ar.namewhat, "method") == 0) {
        arg--; /* self is not counted */
        if (arg == 0)
            return luaL_error(L, "calling '%s' on bad self (%s)", ar.name, extramsg);
    }
    return luaL_error(L, "bad argument #%d to '%s' (%s)", arg, ar.name != NULL ? ar.name : own_name(L, &ar),
                      extramsg);
}

int lxb_typeerror(lua_State *L, int arg, const char *tname)
{
    const char *got;
    if (luaL_getmetafield(L, arg, "__name") == LUA_TSTRING)
        got = lua_tostring(L, -1);
    else if (lua_type(L, arg) == LUA_TLIGHTUSERDATA)
        got = "light userdata";
    else
        got = luaL_typename(L, arg);
    return lxb_argerror(L, arg, lua_pushfstring(L, "%s expected, got %s", tname, got));
}

int lxb_interror(lua_State *L, int arg)
{
    if (lua_isnumber(L, arg))
        return lxb_argerror(L, arg, "number has no integer representation");
    return lxb_typeerror(L, arg, "number");
}

/* Registers `reg` into the table at -1, sharing the upvalues that sit at
 * base .. base + LX_NUPVALUES - 1. */
static void set_funcs(lua_State *L, const luaL_Reg *reg, int base)
{
    int i;
    for (i = 0; i < LX_NUPVALUES; i++)
        lua_pushvalue(L, base + i);
    luaL_setfuncs(L, reg, LX_NUPVALUES);
}

/* getmetatable(obj) gives `name`, never the table: no script can reach
 * the method table that every object of the type shares. */
static void protect(lua_State *L, int mt, const char *name)
{
    lua_pushstring(L, name);
    lua_setfield(L, mt, "__metatable");
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
    luaL_newmetatable(L, "lexrt.scope_guard");
    base = lua_gettop(L) - 4;

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
    protect(L, base, "lexrt.arena");
    protect(L, base + 3, "lexrt.arena");

    /* Handler: the Lua methods join through core._handler_front, once. */
    lua_newtable(L);
    set_funcs(L, lxb_handler_methods, base);
    lua_setfield(L, base + 1, "__index");
    lua_pushvalue(L, base + 1);
    set_funcs(L, lxb_handler_meta, base);
    lua_pop(L, 1);
    protect(L, base + 1, "lexrt.handler");
    st->front_done = 0;
    lua_pushvalue(L, base + 4);
    luaL_setfuncs(L, lxb_guard_meta, 0);
    lua_pop(L, 1);
    protect(L, base + 4, "lexrt.scope_guard");

    /* The isolate's metatable is protected: its methods are the boundary
     * of the sandbox's host side. */
    luaL_newmetatable(L, "lexrt.isolate");
    lua_newtable(L);
    set_funcs(L, lxb_isolate_methods, base);
    lua_setfield(L, -2, "__index");
    set_funcs(L, lxb_isolate_meta, base);
    lua_pushliteral(L, "lexrt.isolate");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    lua_newtable(L);
    set_funcs(L, lxb_arena_funcs, base);
    set_funcs(L, lxb_handler_funcs, base);
    set_funcs(L, lxb_isolate_funcs, base);
    luaL_setfuncs(L, test_funcs, 0);
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
