/* The binding's shared helpers (lbind.h): upvalues, argument errors, options. */
#include "lbind.h"

#include <string.h>

static const char lxb_state_tag = 'S';

int lxb_new_upvalues(lua_State *L)
{
    lxb_state *st;
    luaL_newmetatable(L, "lexrt.arena");
    luaL_newmetatable(L, "lexrt.handler");
    st = lua_newuserdatauv(L, sizeof *st, 0);
    memset(st, 0, sizeof *st);
    st->tag = &lxb_state_tag;
    luaL_newmetatable(L, "lexrt.scope_arena");
    luaL_newmetatable(L, "lexrt.scope_guard");
    return lua_gettop(L) - (LX_NUPVALUES - 1);
}

void lxb_setfuncs(lua_State *L, const luaL_Reg *reg, int up)
{
    lxb_state *st = lua_touserdata(L, up + LXB_STATE);
    int i;
    for (i = 0; i < st->nnamed && st->named[i] != reg; i++)
        ;
    if (i == st->nnamed && i < LXB_MAX_NAMED)
        st->named[st->nnamed++] = reg;
    for (i = 0; i < LX_NUPVALUES; i++)
        lua_pushvalue(L, up + i);
    luaL_setfuncs(L, reg, LX_NUPVALUES);
}

void lxb_set_metatable(lua_State *L, int idx, const luaL_Reg *methods, const luaL_Reg *meta, const char *name,
                       int up)
{
    idx = lua_absindex(L, idx);
    /* Methods first: own_name then finds close, not __close, when both
     * are one function. */
    lua_newtable(L);
    lxb_setfuncs(L, methods, up);
    lua_setfield(L, idx, "__index");
    lua_pushvalue(L, idx);
    lxb_setfuncs(L, meta, up);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}

/* The name the running C function is registered under ("?" if none). A
 * function without the shared upvalues (a bound allocator) has no state
 * at upvalue 3: nothing there, or something else, answers "?". */
static const char *own_name(lua_State *L, lua_Debug *ar)
{
    const lxb_state *st;
    lua_CFunction f;
    int i;
    const luaL_Reg *r;
    lua_getinfo(L, "f", ar);
    f = lua_tocfunction(L, -1);
    lua_pop(L, 1);
    st = lxb_test_object(L, LX_UP_STATE, sizeof(lxb_state), &lxb_state_tag);
    for (i = 0; f != NULL && st != NULL && i < st->nnamed; i++)
        for (r = st->named[i]; r->name != NULL; r++)
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

int lxb_nomem(lua_State *L)
{
    lua_pushliteral(L, "not enough memory");
    return lua_error(L);
}

int lxb_checkint_error(lua_State *L, int arg)
{
    if (lua_type(L, arg) != LUA_TNUMBER)
        return lxb_typeerror(L, arg, "number");
    return lxb_interror(L, arg);
}

int lxb_push_option(lua_State *L, int idx, const char *field, lua_Integer *v, int *isint)
{
    int t = lua_getfield(L, idx, field);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return t;
    }
    *v = lua_tointegerx(L, -1, isint);
    return t;
}

int lxb_opt_integer(lua_State *L, int idx, const char *field, int arg, lua_Integer *v)
{
    int isint;
    if (lxb_push_option(L, idx, field, v, &isint) == LUA_TNIL)
        return 0;
    if (!isint)
        lxb_argerror(L, arg, lua_pushfstring(L, "%s must be an integer, got %s", field, luaL_typename(L, -1)));
    lua_pop(L, 1);
    return 1;
}
