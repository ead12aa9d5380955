/*
 * Deep copies between two Lua states (see l_copy.h for what crosses).
 *
 * The walk is a loop over an explicit stack kept on the Lua stacks
 * themselves. For the table at depth k:
 *   from: fbase + 1 + 2k  the source table,  fbase + 2 + 2k  its lua_next key
 *   to:   tbase + 2 + 2k  the copy,          tbase + 3 + 2k  the copied key
 * (tbase + 1 holds the memo). Descending pushes two slots on each side,
 * finishing a table pops them and stores the copy in its parent. Only
 * raw access is used (lua_next, lua_rawset): no metamethod runs, so no
 * code of either state runs while a copy is under way, and reading the
 * source allocates nothing in the source state.
 */
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "l_copy.h"

/* Copies a value that is not a table; 0 if it cannot cross. */
static int push_scalar(lua_State *from, int i, lua_State *to, int t)
{
    size_t n;
    const char *s;
    switch (t) {
    case LUA_TNIL:
        lua_pushnil(to);
        return 1;
    case LUA_TBOOLEAN:
        lua_pushboolean(to, lua_toboolean(from, i));
        return 1;
    case LUA_TNUMBER:
        if (lua_isinteger(from, i))
            lua_pushinteger(to, lua_tointeger(from, i));
        else
            lua_pushnumber(to, lua_tonumber(from, i));
        return 1;
    case LUA_TSTRING:
        /* The source string stays anchored on its own stack, and an
         * allocation in `to` can never collect anything in `from`. */
        s = lua_tolstring(from, i, &n);
        lua_pushlstring(to, s, n);
        return 1;
    default:
        return 0;
    }
}

static int is_name(const char *s, size_t n)
{
    size_t i;
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* One step of a path: .name, ["other key"], [3], [1.5], [true]. */
static void add_key(luaL_Buffer *b, lua_State *from, int i)
{
    char num[64];
    size_t n;
    const char *s;
    switch (lua_type(from, i)) {
    case LUA_TSTRING:
        s = lua_tolstring(from, i, &n);
        if (is_name(s, n)) {
            luaL_addchar(b, '.');
            luaL_addlstring(b, s, n);
        } else {
            luaL_addstring(b, "[\"");
            luaL_addlstring(b, s, n > 40 ? 40 : n);
            luaL_addstring(b, n > 40 ? "...\"]" : "\"]");
        }
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(from, i))
            (void)snprintf(num, sizeof num, "[" LUA_INTEGER_FMT "]", (LUAI_UACINT)lua_tointeger(from, i));
        else
            (void)snprintf(num, sizeof num, "[%.14g]", (double)lua_tonumber(from, i));
        luaL_addstring(b, num);
        break;
    case LUA_TBOOLEAN:
        luaL_addstring(b, lua_toboolean(from, i) ? "[true]" : "[false]");
        break;
    default:
        luaL_addstring(b, "[?]");
        break;
    }
}

/* Path steps shown at most; a deeper path ends in "...". */
#define PATH_STEPS 16

/*
 * Raises "cannot copy <what> (<where> <path>)" in `err`. The path is the
 * keys of the first `steps` levels of the walk (read from `from`'s stack).
 */
static void fail(lua_State *err, lua_State *from, int fbase, int steps, const lxc_where *w,
                 const char *what)
{
    luaL_Buffer b;
    int k;
    luaL_buffinit(err, &b);
    luaL_addstring(&b, "cannot copy ");
    luaL_addstring(&b, what);
    luaL_addstring(&b, " (");
    luaL_addstring(&b, w->what);
    if (w->n > 0) {
        char num[32];
        (void)snprintf(num, sizeof num, " %d", w->n);
        luaL_addstring(&b, num);
    }
    if (w->link != NULL) {
        luaL_addstring(&b, w->link);
        luaL_addstring(&b, w->kind);
        luaL_addchar(&b, '.');
        luaL_addstring(&b, w->op);
    }
    if (steps > 0)
        luaL_addchar(&b, ' ');
    for (k = 0; k < steps && k < PATH_STEPS; k++)
        add_key(&b, from, fbase + 2 + 2 * k);
    if (steps > PATH_STEPS)
        luaL_addstring(&b, "...");
    luaL_addchar(&b, ')');
    luaL_pushresult(&b);
    lua_error(err);
}

static const char *a_type(lua_State *L, int t)
{
    switch (t) {
    case LUA_TFUNCTION:
        return "a function";
    case LUA_TUSERDATA:
    case LUA_TLIGHTUSERDATA:
        return "a userdata";
    case LUA_TTHREAD:
        return "a thread";
    default:
        return lua_typename(L, t);
    }
}

/* Copies a table key (strings, numbers, booleans); 0 if it cannot cross. */
static int push_key(lua_State *from, int i, lua_State *to, int t)
{
    return t != LUA_TNIL && push_scalar(from, i, to, t);
}

/* Starts the copy of the table at from's top: an empty table on `to`
 * sized like the source, marked "under way" in the memo (a cycle is a
 * table met again while it is under way). */
static void open_table(lua_State *from, lua_State *to, int memo)
{
    int ft = lua_gettop(from);
    lua_Integer n = 0;
    size_t len = lua_rawlen(from, ft);
    lua_pushnil(from);
    while (lua_next(from, ft)) {
        n++;
        lua_pop(from, 1);
    }
    if (len > (size_t)n)
        len = (size_t)n;
    if (len > 0x7fffffff)
        len = 0x7fffffff;
    if (n - (lua_Integer)len > 0x7fffffff)
        n = (lua_Integer)len + 0x7fffffff;
    lua_pushboolean(to, 0);
    lua_rawsetp(to, memo, lua_topointer(from, ft));
    lua_createtable(to, (int)len, (int)(n - (lua_Integer)len));
    lua_pushnil(from); /* the first lua_next key */
}

void lxc_copy(lua_State *from, int idx, lua_State *to, lua_State *err, const lxc_where *w)
{
    int fbase, tbase, memo, depth = 0, t;
    idx = lua_absindex(from, idx);
    t = lua_type(from, idx);
    luaL_checkstack(to, 4, "copying a value");
    if (t != LUA_TTABLE) {
        if (!push_scalar(from, idx, to, t))
            fail(err, from, 0, 0, w, a_type(err, t));
        return;
    }
    luaL_checkstack(from, 6, "copying a table");
    fbase = lua_gettop(from);
    tbase = lua_gettop(to);
    lua_newtable(to); /* the memo: source address -> copy, or false while under way */
    memo = tbase + 1;
    lua_pushvalue(from, idx);
    open_table(from, to, memo);
    for (;;) {
        int ft = fbase + 1 + 2 * depth, tt = tbase + 2 + 2 * depth;
        if (lua_next(from, ft)) { /* from: ... table key value */
            int kt = lua_type(from, -2), vt = lua_type(from, -1);
            luaL_checkstack(to, 6, "copying a table");
            if (!push_key(from, -2, to, kt)) {
                lua_pushfstring(err, "%s used as a key", kt == LUA_TTABLE ? "a table" : a_type(err, kt));
                fail(err, from, fbase, depth, w, lua_tostring(err, -1));
            }
            if (vt != LUA_TTABLE) {
                if (!push_scalar(from, -1, to, vt))
                    fail(err, from, fbase, depth + 1, w, a_type(err, vt));
                lua_rawset(to, tt);
                lua_pop(from, 1);
                continue;
            }
            switch (lua_rawgetp(to, memo, lua_topointer(from, -1))) {
            case LUA_TTABLE: /* copied already: share the copy */
                lua_rawset(to, tt);
                lua_pop(from, 1);
                continue;
            case LUA_TBOOLEAN:
                fail(err, from, fbase, depth + 1, w, "a cyclic table");
                break;
            default:
                lua_pop(to, 1);
                break;
            }
            if (depth + 1 >= LXC_MAX_DEPTH) {
                lua_pushfstring(err, "a table nested more than %d levels deep", LXC_MAX_DEPTH);
                fail(err, from, fbase, depth + 1, w, lua_tostring(err, -1));
            }
            luaL_checkstack(from, 6, "copying a table");
            open_table(from, to, memo); /* the value is the next level's table */
            depth++;
        } else { /* from: ... table; to: ... copy */
            lua_pushvalue(to, tt);
            lua_rawsetp(to, memo, lua_topointer(from, ft));
            lua_pop(from, 1);
            if (depth == 0)
                break;
            depth--;
            lua_rawset(to, tbase + 2 + 2 * depth); /* parent[key] = copy */
        }
    }
    lua_remove(to, memo);
}
