/*
 * What crosses between an isolate and its host besides plain values: the
 * effects (calls from the isolate into the host's gate) and the errors
 * (a host error kept in the host, raised again there). See l_bridge.h,
 * the one interface of the bridge; the values themselves are copied by
 * l_bridge_copy.c, which is separate because the copy walk knows nothing
 * of isolates, effects or errors, and this file is all about them.
 */
#include <string.h>

#include <lauxlib.h>

#include "l_bridge.h"
#include "l_isolate.h"
#include "l_isolib.h"

/*
 * An effect: the closure in the isolate (iso_effect) runs effect_body
 * under a pcall of the isolate's, which copies the arguments onto the
 * host, calls the handler's gate there under the host's pcall, and copies
 * the results back. A host error is kept in the host (LXC_UV_PENDING,
 * keyed by the address of the marker raised in the isolate, a copy of
 * the error when it can cross); when that marker ends the call,
 * lxc_raise_error raises the original value.
 */

/* Whether the host value at idx is a policy violation: its metatable is
 * lua/lexrt/policy.lua's Violation, the only one named lexrt.violation. */
static int is_violation(lua_State *L, int idx)
{
    int yes = 0, t = luaL_getmetafield(L, idx, "__name");
    if (t == LUA_TSTRING)
        yes = strcmp(lua_tostring(L, -1), "lexrt.violation") == 0;
    if (t != LUA_TNIL) /* getmetafield pushed the field */
        lua_pop(L, 1);
    return yes;
}

/* Pushes the table of the host errors kept for the instance of `link`
 * (marker address -> error), made when `create`; else nil when none. The
 * isolate is at host index 1. */
static int push_pending(lua_State *L, const lxc_link *link, int create)
{
    if (lua_getiuservalue(L, 1, LXC_UV_PENDING) != LUA_TTABLE) {
        lua_pop(L, 1);
        if (!create) {
            lua_pushnil(L);
            return 0;
        }
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setiuservalue(L, 1, LXC_UV_PENDING);
    }
    if (lua_rawgeti(L, -1, link->slot) != LUA_TTABLE) {
        lua_pop(L, 1);
        if (!create) {
            lua_remove(L, -1);
            lua_pushnil(L);
            return 0;
        }
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawseti(L, -3, link->slot);
    }
    lua_remove(L, -2);
    return 1;
}

void lxc_drop_pending(lua_State *L, int idx, const lxc_link *link)
{
    if (lua_getiuservalue(L, idx, LXC_UV_PENDING) == LUA_TTABLE) {
        lua_pushnil(L);
        lua_rawseti(L, -2, link->slot); /* clearing a slot allocates nothing */
    }
    lua_pop(L, 1);
}

/* An effect's yield the host refused (the message Lua gives it) becomes
 * one that says what happened, on L's top. */
static void explain_refused_yield(lua_State *L, const char *kind, const char *op, int nested)
{
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (msg == NULL || strncmp(msg, "attempt to yield", 16) != 0)
        return;
    lua_pop(L, 1);
    if (nested == 2)
        lua_pushfstring(L, "cannot yield: %s.%s was called while the isolate was built", kind, op);
    else if (nested)
        lua_pushfstring(L, "cannot yield: %s.%s was called from a coroutine inside the isolate, or through "
                           "a C function (only the request function's own effects may wait)", kind, op);
    else
        lua_pushfstring(L, "cannot yield: %s.%s waited, but iso:call is not running in a host coroutine",
                        kind, op);
}

/* Raised inside the isolate when an effect's host error cannot be copied. */
static int effect_marker_fallback(lua_State *T, const char *kind, const char *op, int type)
{
    lua_pushfstring(T, "%s.%s raised an error (a %s) that cannot enter the isolate", kind, op,
                    lua_typename(T, type));
    return 1;
}

/* isolate: copy_marker(index): a copy of the host value at that index. */
static int copy_marker(lua_State *T)
{
    lxc_where w = {"error value", 0, NULL, NULL, NULL};
    lxc_copy(lxb_iso_link(T)->host, (int)lua_tointeger(T, 1), T, T, &w);
    return 1;
}

/*
 * An effect's host error (on the host's top): keep it in the host and
 * raise a marker in the isolate, a copy of it when it can cross. Code in
 * the isolate can catch the marker like any error; if it reaches
 * iso_call, the original host value is raised there.
 */
static int effect_failed(lua_State *T, lua_State *L, const char *kind, const char *op)
{
    int err = lua_gettop(L), st;
    const void *marker;
    lua_pushcfunction(T, copy_marker);
    lua_pushinteger(T, err);
    st = lua_pcall(T, 1, 1, 0);
    if (st == LUA_ERRMEM)
        return lua_error(T);
    if (st != LUA_OK) {
        lua_pop(T, 1);
        effect_marker_fallback(T, kind, op, lua_type(L, err));
    } else if (lua_type(T, -1) == LUA_TTABLE && is_violation(L, err)) {
        lxb_isolib_mark_violation(T, -1);
    }
    marker = lua_topointer(T, -1);
    if (marker != NULL) { /* a table or string; other values are their own copies */
        push_pending(L, lxb_iso_link(T), 1);
        lua_pushvalue(L, err);
        lua_rawsetp(L, -2, marker);
    }
    return lua_error(T);
}

/* isolate: effect_args(kind, op, args...): pushes on the host the gate
 * and the effect's arguments, copied; its first result is whether the
 * handler is open. */
static int effect_args(lua_State *T)
{
    const lxc_link *link = lxb_iso_link(T);
    lua_State *L = link->host;
    int n = lua_gettop(T) - 2, i;
    lxc_where w = {"argument", 0, " to ", lua_tostring(T, 1), lua_tostring(T, 2)};
    lxc_budget b = {link->max_copy_bytes, link->max_copy_bytes, "max_copy_bytes"};
    luaL_checkstack(L, n + 8, "too many effect arguments");
    /* Closing the handler is refused while a call holds its scope, but
     * not while the chunk is built: an effect may have closed it. */
    if (lxb_iso_handler_closed(L, 1)) {
        lua_pushliteral(L, "handler is closed");
        lua_pushboolean(T, 0);
        return 1;
    }
    lua_getiuservalue(L, 1, LXC_UV_GATE); /* gate(kind, op, args...) */
    lua_pushstring(L, w.kind);
    lua_pushstring(L, w.op);
    for (i = 1; i <= n; i++) {
        w.n = i;
        lxc_copy_bounded(T, i + 2, L, T, &w, &b);
    }
    lua_pushboolean(T, 1);
    return 1;
}

/* isolate: effect_results(kind, op): the gate's results on the host above
 * base (link->effect_base), copied in; or its error, raised as a marker. */
static int effect_results(lua_State *T)
{
    const lxc_link *link = lxb_iso_link(T);
    lua_State *L = link->host;
    int base = link->effect_base, nres = lua_gettop(L) - base, i;
    const char *kind = lua_tostring(T, 1), *op = lua_tostring(T, 2);
    lxc_where w = {"result", 0, " of ", kind, op};
    if (link->effect_status != LUA_OK) {
        explain_refused_yield(L, kind, op, 0);
        return effect_failed(T, L, kind, op);
    }
    lua_settop(T, 0);
    luaL_checkstack(T, nres + LUA_MINSTACK, "too many effect results");
    for (i = 1; i <= nres; i++) {
        w.n = i;
        lxc_copy(L, base + i, T, T, &w);
    }
    return nres;
}

/* isolate: effect_body(kind, op, args...), under iso_effect's pcall: the
 * effect where it cannot suspend, calling the gate itself. */
static int effect_body(lua_State *T)
{
    lxc_link *link = lxb_iso_link(T);
    lua_State *L = link->host;
    int base = lua_gettop(L), open;
    lua_pushvalue(T, 1);
    lua_pushvalue(T, 2);
    lua_rotate(T, 1, 2); /* kind op kind op args... */
    lua_pushcfunction(T, effect_args);
    lua_insert(T, 3);
    lua_call(T, lua_gettop(T) - 3, 1);
    open = lua_toboolean(T, -1);
    lua_settop(T, 2);
    if (!open)
        return effect_failed(T, L, lua_tostring(T, 1), lua_tostring(T, 2));
    link->effect_status = lua_pcall(L, lua_gettop(L) - base - 1, LUA_MULTRET, 0);
    if (link->effect_status != LUA_OK)
        explain_refused_yield(L, lua_tostring(T, 1), lua_tostring(T, 2), link->request != NULL ? 1 : 2);
    link->effect_base = base;
    return effect_results(T);
}

/* Where an effect that suspended its request thread goes on: the driver
 * has called the gate and resumed the thread. */
static int effect_resumed(lua_State *T, int status, lua_KContext ctx)
{
    lua_State *L = lxb_iso_link(T)->host;
    int base = lxb_iso_link(T)->effect_base, st;
    (void)status;
    (void)ctx;
    lua_settop(T, 0);
    lua_pushcfunction(T, effect_results);
    lua_pushvalue(T, lua_upvalueindex(1));
    lua_pushvalue(T, lua_upvalueindex(2));
    st = lua_pcall(T, 2, LUA_MULTRET, 0);
    lua_settop(L, base);
    if (st != LUA_OK)
        return lua_error(T);
    return lua_gettop(T);
}

/*
 * The function behind every effect in the isolate; upvalues: kind, op.
 * The work runs under a pcall of the isolate's so that, whatever
 * happens, the host's stack is put back before the isolate goes on.
 * From the request thread, where it may yield, the effect suspends the
 * thread and the driver calls the gate (l_bridge.h).
 */
static int iso_effect(lua_State *T)
{
    lxc_link *link = lxb_iso_link(T);
    lua_State *L = link->host;
    int base, st;
    if (L == NULL)
        return luaL_error(T, "effects are available only while the isolate runs");
    luaL_checkstack(T, 3, "calling an effect");
    base = lua_gettop(L);
    if (T == link->request && lua_isyieldable(T)) {
        lua_pushcfunction(T, effect_args);
        lua_pushvalue(T, lua_upvalueindex(1));
        lua_pushvalue(T, lua_upvalueindex(2));
        lua_rotate(T, 1, 3);
        st = lua_pcall(T, lua_gettop(T) - 1, 1, 0);
        if (st == LUA_OK && lua_toboolean(T, -1)) {
            link->effect = 1;
            link->effect_base = base;
            return lua_yieldk(T, 0, 0, effect_resumed);
        }
        if (st == LUA_OK) { /* the handler is closed: the error is on the host */
            lua_settop(T, 0);
            lua_pushvalue(T, lua_upvalueindex(1));
            lua_pushvalue(T, lua_upvalueindex(2));
            link->effect_status = LUA_ERRRUN;
            link->effect_base = lua_gettop(L) - 1;
            return effect_resumed(T, LUA_OK, 0);
        }
        lua_settop(L, base);
        return lua_error(T);
    }
    lua_pushcfunction(T, effect_body);
    lua_pushvalue(T, lua_upvalueindex(1));
    lua_pushvalue(T, lua_upvalueindex(2));
    lua_rotate(T, 1, 3);
    st = lua_pcall(T, lua_gettop(T) - 1, LUA_MULTRET, 0);
    lua_settop(L, base);
    if (st != LUA_OK)
        return lua_error(T);
    return lua_gettop(T);
}

void lxc_set_effects(lua_State *S, lua_State *L, int effects)
{
    lua_pushnil(L);
    while (lua_next(L, effects)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
            const char *kind = lua_tostring(L, -2);
            if (lua_getglobal(S, kind) != LUA_TNIL)
                luaL_error(S, "effect kind '%s' would hide the isolate's global of that name", kind);
            lua_pop(S, 1);
            lua_newtable(S);
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                if (lua_type(L, -2) == LUA_TSTRING) {
                    lua_pushstring(S, kind);
                    lua_pushstring(S, lua_tostring(L, -2));
                    lua_pushcclosure(S, iso_effect, 2);
                    lua_setfield(S, -2, lua_tostring(L, -2));
                }
                lua_pop(L, 1);
            }
            lua_setglobal(S, kind);
        }
        lua_pop(L, 1);
    }
}

/* isolate: copy_error(err): the error value, copied onto the host. */
static int copy_error(lua_State *S)
{
    const lxc_link *link = lxb_iso_link(S);
    lxc_where w = {"error value", 0, NULL, NULL, NULL};
    lxc_budget b = {link->max_copy_bytes, link->max_copy_bytes, "max_copy_bytes"};
    lxc_copy_bounded(S, 1, link->host, S, &w, &b);
    return 0;
}


int lxc_raise_error(lua_State *L, lua_State *S)
{
    const void *marker = lua_topointer(S, -1);
    int top = lua_gettop(L), t;
    if (marker != NULL && push_pending(L, lxb_iso_link(S), 0) && lua_rawgetp(L, -1, marker) != LUA_TNIL)
        return lua_error(L);
    lua_settop(L, top);
    t = lua_type(S, -1);
    if (t == LUA_TNIL || t == LUA_TBOOLEAN || t == LUA_TNUMBER || t == LUA_TSTRING) {
        /* A plain value crosses without touching the isolate's state. */
        lxc_where w = {"error value", 0, NULL, NULL, NULL};
        luaL_checkstack(L, 2, NULL);
        lxc_copy(S, -1, L, S, &w);
        return lua_error(L);
    }
    lua_pushcfunction(S, copy_error);
    lua_insert(S, -2);
    if (lua_pcall(S, 1, 0, 0) != LUA_OK) {
        lua_settop(L, top);
        if (lua_type(S, -1) == LUA_TSTRING)
            lua_pushstring(L, lua_tostring(S, -1));
        else
            lua_pushliteral(L, "the isolate's error value cannot be copied");
    }
    return lua_error(L);
}
