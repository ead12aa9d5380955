/*
 * lexrt.core: assembles the module. The binding's shared upvalues come
 * from lbind.c; each type's file (l_arena.c, l_handler.c, l_isolate.c)
 * sets up its own metatables and adds its functions; this file adds the
 * module-wide functions and constants.
 */
/* clock_gettime, lstat; realpath, which glibc declares only for X/Open */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "arena.h"
#include "l_arena.h"
#include "l_handler.h"
#include "l_isolate.h"
#include "l_isolib.h"
#include "l_pool.h"
#include "lbind.h"
#include "pool.h"
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

/* realpath(3) writes at most PATH_MAX bytes into a caller's buffer.
 * Every system lexrt builds on defines it; one that does not gets the
 * smallest of the usual values, which only makes long paths fail. */
#ifndef PATH_MAX
#define PATH_MAX 1024
#endif

/* The path argument of realpath and is_symlink: a string without NUL
 * bytes (the system call would stop at the first and see another path). */
static const char *check_path(lua_State *L)
{
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    luaL_argcheck(L, strlen(path) == len, 1, "path holds a NUL byte");
    return path;
}

/* core.realpath(path): the absolute path with every symbolic link, '.'
 * and '..' resolved, as realpath(3) gives it; or nil, "path: reason",
 * errno, as io.open fails (the path must exist). The policy's dispatch
 * gate checks file grants on it (lua/lexrt/policy.lua). The buffer is a
 * userdata made before the call, so nothing is left to free when a Lua
 * allocation fails afterwards. */
static int l_realpath(lua_State *L)
{
    const char *path = check_path(L);
    char *buf = lua_newuserdatauv(L, PATH_MAX, 0);
    if (realpath(path, buf) == NULL)
        return luaL_fileresult(L, 0, path);
    lua_pushstring(L, buf);
    return 1;
}

/* core.is_symlink(path): whether path names a symbolic link itself
 * (lstat(2), the link not followed); false when it names nothing. */
static int l_is_symlink(lua_State *L)
{
    struct stat st;
    const char *path = check_path(L);
    lua_pushboolean(L, lstat(path, &st) == 0 && S_ISLNK(st.st_mode));
    return 1;
}

static const luaL_Reg module_funcs[] = {
    {"_fail_after", l_fail_after},
    {"_isolate_libs", lxb_isolib_names},
    {"_sys_allocations", l_sys_allocations},
    {"clock", l_clock},
    {"is_symlink", l_is_symlink},
    {"realpath", l_realpath},
    {NULL, NULL},
};

/* The module is built with -fvisibility=hidden so that calls between the
 * binding files are direct, not through the PLT; only this is exported. */
__attribute__((visibility("default"))) int luaopen_lexrt_core(lua_State *L);

int luaopen_lexrt_core(lua_State *L)
{
    int up;
    luaL_checkversion(L);
    up = lxb_new_upvalues(L);
    lua_newtable(L);
    lxb_open_arena(L, up);
    lxb_open_handler(L, up);
    lxb_open_isolate(L, up);
    lxb_setfuncs(L, module_funcs, up);
    lua_pushinteger(L, (lua_Integer)LX_PAGE_BYTES);
    lua_setfield(L, -2, "PAGE_BYTES");
    /* The page-size rule's bounds, so that Lua callers need not restate them. */
    lua_pushinteger(L, (lua_Integer)LX_MIN_PAGE);
    lua_setfield(L, -2, "MIN_PAGE_BYTES");
    lua_pushinteger(L, (lua_Integer)LX_MAX_PAGE);
    lua_setfield(L, -2, "MAX_PAGE_BYTES");
    /* The pool's chunk bound, which the experiment's notes quote. */
    lua_pushinteger(L, (lua_Integer)LXB_POOL_BYTES);
    lua_setfield(L, -2, "POOL_BYTES");
    /* What the pools made from now on do (LEXRT_NO_RECYCLE, pool.h). */
    lua_pushboolean(L, lx_recycling());
    lua_setfield(L, -2, "RECYCLING");
    /* The errno values core.realpath's callers tell apart: a path that
     * does not exist (yet), and one that runs through a file. */
    lua_pushinteger(L, ENOENT);
    lua_setfield(L, -2, "ENOENT");
    lua_pushinteger(L, ENOTDIR);
    lua_setfield(L, -2, "ENOTDIR");
    lua_pushliteral(L, LEXRT_VERSION);
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
