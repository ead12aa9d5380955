/*
 * The page pool's Lua type: see l_pool.h. Its memory is pool.c's; this
 * file only gives it a finaliser and the pool_pages option.
 */
#include "l_pool.h"

#include <string.h>

static int pool_gc(lua_State *L)
{
    LPool *lp = lua_touserdata(L, 1);
    if (lp->live) {
        lx_pool_destroy(&lp->pool);
        lp->live = 0;
    }
    return 0;
}

/* opts.pool_pages: 0 .. LX_POOL_MAX_PAGES, or `def` when absent. A
 * numeric string is refused, and a bad number shown as itself. */
static size_t opt_pool_pages(lua_State *L, int opts, size_t def)
{
    lua_Integer v;
    int isint, t = lxb_push_option(L, opts, "pool_pages", &v, &isint);
    if (t == LUA_TNIL)
        return def;
    if (!isint || t != LUA_TNUMBER || v < 0 || v > (lua_Integer)LX_POOL_MAX_PAGES) {
        const char *got = t == LUA_TNUMBER ? luaL_tolstring(L, -1, NULL) : luaL_typename(L, -1);
        lxb_argerror(L, 1, lua_pushfstring(L, "pool_pages must be an integer from 0 to %I, got %s",
                                           (lua_Integer)LX_POOL_MAX_PAGES, got));
    }
    lua_pop(L, 1);
    return (size_t)v;
}

LPool *lxb_new_pool(lua_State *L, int opts, size_t page_size)
{
    size_t def_pages = LXB_POOL_BYTES / page_size; /* 1 when pages are 16 MiB */
    size_t pool_pages = opt_pool_pages(L, opts, def_pages);
    LPool *lp = lua_newuserdatauv(L, sizeof *lp, 0);
    memset(lp, 0, sizeof *lp);
    if (luaL_newmetatable(L, "lexrt.pool")) {
        lua_pushcfunction(L, pool_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushliteral(L, "lexrt.pool");
        lua_setfield(L, -2, "__metatable");
    }
    lua_setmetatable(L, -2);
    if (lx_pool_init(&lp->pool, page_size, pool_pages, LXB_POOL_BYTES) != 0)
        luaL_error(L, "pool_pages out of range"); /* not reached: checked above */
    lp->live = 1;
    return lp;
}

void lxb_pool_attach(LPool *lp)
{
    lp->users++;
}

void lxb_pool_detach(LPool *lp)
{
    if (--lp->users == 0 && lp->live) {
        lx_pool_destroy(&lp->pool);
        lp->live = 0;
    }
}
