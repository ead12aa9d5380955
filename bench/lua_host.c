/*
 * A bare Lua 5.4 interpreter linked to Debian's static liblua5.4.a, whose
 * function symbols survive (the packaged lua5.4 binary is stripped), so
 * that callgrind can tell the VM, the Lua API and lexrt's binding apart
 * (lua_callgrind.sh). Not for timing: the packaged lua5.4 is the reference.
 *
 *   lua_host script.lua [args...]     arg[0] = script, arg[1..] = args
 */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    lua_State *L;
    int i, status;
    if (argc < 2) {
        fprintf(stderr, "usage: lua_host script.lua [args...]\n");
        return 2;
    }
    L = luaL_newstate();
    if (L == NULL)
        return 1;
    luaL_openlibs(L);
    lua_createtable(L, argc, 0);
    for (i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");
    status = luaL_dofile(L, argv[1]);
    if (status != LUA_OK)
        fprintf(stderr, "lua_host: %s\n", lua_tostring(L, -1));
    /* No lua_close: it would dlclose lexrt.core before callgrind reads its
     * line tables at exit. */
    (void)L;
    return status == LUA_OK ? 0 : 1;
}
