/*
 * The libraries an isolate offers: a safe base library (no dofile,
 * loadfile, collectgarbage, print; text chunks only), the standard string
 * (less dump), table, math, utf8 and coroutine libraries, and, when the
 * isolate has max_instructions, the wrappers that make that budget a hard
 * bound on the whole call (l_isocharge.c, l_isoutf8.c, l_strmatch.c).
 *
 * Here, what keeps the budget's stop: functions that catch errors
 * (pcall, xpcall, load, coroutine.resume, wrap and close) re-raise the
 * instruction stop, and xpcall's message handler is skipped once the
 * call is stopped: the stop is sticky. coroutine.wrap is reimplemented
 * to keep a stopped coroutine's to-be-closed handlers from running
 * unhooked. Without max_instructions no wrapper is installed but
 * coroutine.close and coroutine.wrap (their nesting bound) and load.
 */
#include "l_isolib.h"

#include <string.h>

#include <lualib.h>

#include "l_isocharge.h"
#include "l_isolate.h"
#include "l_strmatch.h"

/* Registry keys inside the isolate. */
static const char errerr_key = 'E';
static const char violation_key = 'V';
static const char guards_key = 'G';

/* ------------------------------------------------------------------ base */

/* The chunk's reader, charged by the length of each piece it returns;
 * upvalue 1: the user's reader. */
static int load_piece(lua_State *T)
{
    size_t len = 0;
    lua_settop(T, 0);
    lua_pushvalue(T, lua_upvalueindex(1));
    lua_call(T, 0, 1);
    if (lua_type(T, 1) == LUA_TSTRING)
        (void)lua_tolstring(T, 1, &len);
    lxb_iso_charge(T, 1 + (lua_Integer)(len / BYTES_SCANNED));
    return 1;
}

/* load, text chunks only: the mode argument is always "t". Upvalue 1:
 * the original load. Charges the source's length, or each piece a
 * reader returns, and re-raises a stop that load itself would catch. */
static int safe_load(lua_State *T)
{
    int nargs = lua_gettop(T) >= 4 ? 4 : 3; /* an absent env must stay absent */
    size_t len;
    lua_settop(T, nargs);
    lua_pushliteral(T, "t");
    lua_replace(T, 3);
    if (lua_type(T, 1) == LUA_TSTRING) {
        (void)lua_tolstring(T, 1, &len);
        lxb_iso_charge(T, (lua_Integer)(len / BYTES_SCANNED));
    } else if (lua_type(T, 1) == LUA_TFUNCTION) {
        lua_pushvalue(T, 1);
        lua_pushcclosure(T, load_piece, 1);
        lua_replace(T, 1);
    }
    lua_pushvalue(T, lua_upvalueindex(1));
    lua_insert(T, 1);
    lua_call(T, nargs, LUA_MULTRET);
    lxb_iso_charge(T, 0); /* a stop inside the reader comes back as load's message */
    return lua_gettop(T);
}

static int finish_pcall(lua_State *T, int st, lua_KContext extra)
{
    lxb_iso_charge(T, 0); /* the stop is sticky */
    if (st != LUA_OK && st != LUA_YIELD) {
        lua_pushboolean(T, 0);
        lua_pushvalue(T, -2);
        return 2;
    }
    return lua_gettop(T) - (int)extra;
}

static int w_pcall(lua_State *T)
{
    int st;
    luaL_checkany(T, 1);
    lua_pushboolean(T, 1);
    lua_insert(T, 1);
    st = lua_pcallk(T, lua_gettop(T) - 2, LUA_MULTRET, 0, 0, finish_pcall);
    return finish_pcall(T, st, 0);
}

/* xpcall's message handler; upvalue 1: the user's. Once the call is
 * stopped, the user's handler is not run: the stop raised from the hook
 * runs message handlers with hooks off. */
static int msgh_guard(lua_State *T)
{
    if (lxb_iso_stopped(T)) {
        lxb_iso_push_stop(T);
        return 1;
    }
    lua_pushvalue(T, lua_upvalueindex(1));
    lua_insert(T, 1);
    lua_call(T, lua_gettop(T) - 1, 1);
    return 1;
}

/* The guard of a handler, made once per handler function in a call (a
 * table in the registry, dropped with the call by the restore), so that
 * xpcall in a loop does not spend memory. */
static void push_guard(lua_State *T, int handler)
{
    if (lua_rawgetp(T, LUA_REGISTRYINDEX, &guards_key) != LUA_TTABLE) {
        lua_pop(T, 1);
        lua_newtable(T);
        lua_pushvalue(T, -1);
        lua_rawsetp(T, LUA_REGISTRYINDEX, &guards_key);
    }
    lua_pushvalue(T, handler);
    if (lua_rawget(T, -2) == LUA_TNIL) {
        lua_pop(T, 1);
        lua_pushvalue(T, handler);
        lua_pushcclosure(T, msgh_guard, 1);
        lua_pushvalue(T, handler);
        lua_pushvalue(T, -2);
        lua_rawset(T, -4);
    }
    lua_remove(T, -2);
}

static int w_xpcall(lua_State *T)
{
    int st, n = lua_gettop(T);
    luaL_checktype(T, 2, LUA_TFUNCTION);
    push_guard(T, 2);
    lua_replace(T, 2);
    lua_pushboolean(T, 1);
    lua_pushvalue(T, 1);
    lua_rotate(T, 3, 2); /* f guard true f args... */
    st = lua_pcallk(T, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
    return finish_pcall(T, st, 2);
}

/* ------------------------------------------------------------------ coroutine */

static int w_resume(lua_State *T)
{
    int n = lxb_isocharge_original(T)(T);
    lxb_iso_charge(T, 0); /* a stop inside the coroutine stops its resumer too */
    return n;
}

/* Runs lua_resetthread on co (its to-be-closed handlers) one level
 * deeper, refusing past LXB_CLOSE_DEPTH levels. */
static int reset_nested(lua_State *T, lua_State *co)
{
    int *depth = lxb_iso_close_depth(T), st;
    if (*depth >= LXB_CLOSE_DEPTH)
        return luaL_error(T, "coroutine.close nested too deeply");
    ++*depth;
    st = lua_resetthread(co); /* protected: never jumps over the decrement */
    --*depth;
    return st;
}

/* coroutine.close: never once the call is stopped (the handlers of a
 * coroutine stopped inside the hook would run with hooks off), and
 * never nested past LXB_CLOSE_DEPTH. */
static int w_close(lua_State *T)
{
    lua_State *co = lua_tothread(T, 1);
    int st;
    luaL_argexpected(T, co != NULL, 1, "coroutine");
    lxb_iso_charge(T, 0);
    if (co == T)
        return luaL_error(T, "cannot close a running coroutine");
    if (lua_status(co) == LUA_OK) {
        lua_Debug ar;
        if (lua_getstack(co, 0, &ar)) /* it resumed the running one */
            return luaL_error(T, "cannot close a normal coroutine");
    }
    st = reset_nested(T, co);
    lxb_iso_charge(T, 0);
    if (st == LUA_OK) {
        lua_pushboolean(T, 1);
        return 1;
    }
    lua_pushboolean(T, 0);
    lua_xmove(co, T, 1);
    return 2;
}

/* coroutine.yield and isyieldable: the request function runs in a thread
 * of its own (so that its effects may suspend the call), but to the
 * isolate's code it is the main thread, where nothing yields. */
static int w_yield(lua_State *T)
{
    if (T == lxb_iso_link(T)->request)
        return luaL_error(T, "attempt to yield from outside a coroutine");
    return lxb_isocharge_original(T)(T);
}

static int w_isyieldable(lua_State *T)
{
    lua_State *co = lua_isnone(T, 1) ? T : lua_tothread(T, 1);
    if (co != NULL && co == lxb_iso_link(T)->request) {
        lua_pushboolean(T, 0);
        return 1;
    }
    return lxb_isocharge_original(T)(T);
}

/* The function coroutine.wrap returns; upvalue 1: the coroutine. */
static int w_auxwrap(lua_State *T)
{
    lua_State *co = lua_tothread(T, lua_upvalueindex(1));
    int narg = lua_gettop(T), nres, st;
    if (!lua_checkstack(co, narg))
        return luaL_error(T, "too many arguments to resume");
    lua_xmove(T, co, narg);
    st = lua_resume(co, T, narg, &nres);
    lxb_iso_charge(T, 0);
    if (st == LUA_OK || st == LUA_YIELD) {
        if (!lua_checkstack(T, nres + 1)) {
            lua_pop(co, nres);
            return luaL_error(T, "too many results to resume");
        }
        lua_xmove(co, T, nres);
        return nres;
    }
    st = lua_status(co);
    if (st != LUA_OK && st != LUA_YIELD) { /* an error in the coroutine: close it */
        st = reset_nested(T, co);
        lxb_iso_charge(T, 0);
    }
    lua_xmove(co, T, 1);
    if (st != LUA_ERRMEM && lua_type(T, -1) == LUA_TSTRING) {
        luaL_where(T, 1);
        lua_insert(T, -2);
        lua_concat(T, 2);
    }
    return lua_error(T);
}

static int w_wrap(lua_State *T)
{
    lua_State *co;
    luaL_checktype(T, 1, LUA_TFUNCTION);
    co = lua_newthread(T);
    lua_pushvalue(T, 1);
    lua_xmove(T, co, 1);
    lua_pushcclosure(T, w_auxwrap, 1);
    return 1;
}

/* ------------------------------------------------------------------ set-up */

/* Installed over the libraries' own, to keep the stop (the charges are
 * l_isocharge.c's). */
static const lxb_libfn sticky[] = {
    {LUA_GNAME, "pcall", w_pcall, 0},
    {LUA_GNAME, "xpcall", w_xpcall, 0},
    {LUA_COLIBNAME, "resume", w_resume, LXB_WRAPS},
    {LUA_COLIBNAME, "close", w_close, LXB_ALWAYS},
    {LUA_COLIBNAME, "wrap", w_wrap, LXB_ALWAYS},
    {LUA_COLIBNAME, "yield", w_yield, LXB_WRAPS | LXB_ALWAYS},
    {LUA_COLIBNAME, "isyieldable", w_isyieldable, LXB_WRAPS | LXB_ALWAYS},
    {NULL, NULL, NULL, 0},
};

/* The libraries an isolate may open, io, os, package and debug never:
 * the one list (lua/lexrt/isolate.lua reads it, lxb_isolib_names). */
static const luaL_Reg libs[] = {
    {LUA_STRLIBNAME, luaopen_string},
    {LUA_TABLIBNAME, luaopen_table},
    {LUA_MATHLIBNAME, luaopen_math},
    {LUA_UTF8LIBNAME, luaopen_utf8},
    {LUA_COLIBNAME, luaopen_coroutine},
    {NULL, NULL},
};

static void open_base(lua_State *S)
{
    static const char *const unsafe[] = {"dofile", "loadfile", "collectgarbage", "print", NULL};
    int i;
    luaL_requiref(S, LUA_GNAME, luaopen_base, 1);
    lua_pop(S, 1);
    for (i = 0; unsafe[i] != NULL; i++) {
        lua_pushnil(S);
        lua_setglobal(S, unsafe[i]);
    }
    lua_getglobal(S, "load");
    lua_pushcclosure(S, safe_load, 1);
    lua_setglobal(S, "load");
}

/* Opens the libraries named in the host's list (validated by the front). */
static void open_libs(lua_State *S, lua_State *L, int list)
{
    lua_Integer i, n = (lua_Integer)lua_rawlen(L, list);
    for (i = 1; i <= n; i++) {
        const luaL_Reg *lib;
        const char *name = NULL;
        /* Only strings: lua_tostring would convert a number in the host. */
        if (lua_rawgeti(L, list, i) == LUA_TSTRING)
            name = lua_tostring(L, -1);
        for (lib = libs; name != NULL && lib->name != NULL; lib++)
            if (strcmp(lib->name, name) == 0)
                break;
        if (name == NULL || lib->name == NULL) {
            lua_pop(L, 1);
            luaL_error(S, "library '%s' is not available in an isolate", name ? name : "?");
        }
        lua_pop(L, 1);
        luaL_requiref(S, lib->name, lib->func, 1);
        if (lib->func == luaopen_string) {
            /* Bytecode is of no use without binary load, and shows a
             * function's insides: left out. */
            lua_pushnil(S);
            lua_setfield(S, -2, "dump");
            lxb_strmatch_install(S); /* find, match, gmatch, gsub that charge their work */
        }
        lua_pop(S, 1);
    }
}

int lxb_isolib_names(lua_State *L)
{
    int i;
    lua_createtable(L, (int)(sizeof libs / sizeof libs[0]) - 1, 0);
    for (i = 0; libs[i].name != NULL; i++) {
        lua_pushstring(L, libs[i].name);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* A violation's __tostring inside the isolate, worded as the host's
 * (lua/lexrt/policy.lua). */
static int violation_tostring(lua_State *T)
{
    lua_getfield(T, 1, "kind");
    lua_getfield(T, 1, "detail");
    lua_pushfstring(T, "policy violation: %s %s", luaL_tolstring(T, 2, NULL), luaL_tolstring(T, 3, NULL));
    return 1;
}

void lxb_isolib_mark_violation(lua_State *T, int idx)
{
    idx = lua_absindex(T, idx);
    lua_rawgetp(T, LUA_REGISTRYINDEX, &violation_key); /* allocates nothing */
    lua_setmetatable(T, idx);
}

void lxb_isolib_open(lua_State *S, lua_State *L, int list, int budget)
{
    /* Lua's error-in-error-handling path makes this string outside any
     * protection (luaD_seterrorobj); interned and anchored here, making
     * it again finds it and allocates nothing, even with memory full. */
    lua_pushliteral(S, "error in error handling");
    lua_rawsetp(S, LUA_REGISTRYINDEX, &errerr_key);
    lua_createtable(S, 0, 2);
    lua_pushcfunction(S, violation_tostring);
    lua_setfield(S, -2, "__tostring");
    lua_pushliteral(S, "lexrt.violation");
    lua_setfield(S, -2, "__name");
    lua_rawsetp(S, LUA_REGISTRYINDEX, &violation_key);
    open_base(S);
    open_libs(S, L, list);
    lxb_isocharge_set(S, sticky, budget);
    if (budget) {
        lxb_isocharge_install(S);
        lxb_isoutf8_install(S);
    }
}
