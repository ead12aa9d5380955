/*
 * What every file of the Lua binding shares (the l_*.c files and
 * lexrt.c, the only ones that include Lua headers): the upvalues every
 * binding function gets, argument checks and errors worded as
 * luaL_argerror's, option readers, and small helpers. It knows no lexrt
 * type: each type's file (l_arena.c, l_handler.c, l_isolate.c) builds on
 * it and sets up its own metatables; lexrt.c assembles the module.
 *
 * THE RULE for every function in the binding: any Lua API call that can
 * allocate (converting a number to a string in lua_tolstring, creating a
 * table, string or userdata, lua_pushfstring, luaL_Buffer, a lua_setfield
 * with a new key, raising an argument error...) can run a step of the
 * collector, and so any __gc, which can call back into lexrt and reset,
 * close or exit the very arena, handler or pool the function is using.
 * So: do every argument conversion and every Lua allocation BEFORE taking
 * a C pointer into an arena, handler or pool (la->a, a block, h->ids,
 * h->lp->pool), or look the object up again after it (its userdata stays
 * put: only what it points to can change). Values copied to the C stack
 * (an lx_stats, a length) are safe. spec/reentrancy_spec.lua runs a
 * finaliser inside every method to hold us to it.
 */
#ifndef LEXRT_LBIND_H
#define LEXRT_LBIND_H

#include <stdint.h>

#include <lauxlib.h>
#include <lua.h>

/* Internal to the module: calls between its files stay direct (no PLT)
 * even in builds that do not pass -fvisibility=hidden, such as luarocks'. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/*
 * The upvalues of every binding function registered with lxb_setfuncs,
 * so that making objects needs no registry lookup:
 *   1: the arena metatable   2: the handler metatable   3: the module state
 *   4: the metatable of scope arenas: the arena's, less __gc. A scope's
 *      arena is released by its handler, never by the collector, and
 *      finalisers are the dearest part of a short-lived object.
 *   5: the metatable of with_scope's scope guards (l_scope.c).
 * lxb_new_upvalues makes them (the metatables empty); l_arena.c fills 1
 * and 4, l_handler.c 2 and 5. Every metatable hides itself
 * (__metatable) and the method tables are not exported: code that holds
 * one object cannot change how another's methods are found.
 */
#define LX_UP_ARENA_MT lua_upvalueindex(1)
#define LX_UP_HANDLER_MT lua_upvalueindex(2)
#define LX_UP_STATE lua_upvalueindex(3)
#define LX_UP_SCOPE_MT lua_upvalueindex(4)
#define LX_UP_GUARD_MT lua_upvalueindex(5)
#define LX_NUPVALUES 5
/* The same as offsets from the stack index lxb_new_upvalues returns. */
#define LXB_ARENA_MT 0
#define LXB_HANDLER_MT 1
#define LXB_STATE 2
#define LXB_SCOPE_MT 3
#define LXB_GUARD_MT 4

#define LXB_MAX_NAMED 16

/* Per-Lua-state data; lives in a userdata (upvalue 3), never in a C global. */
typedef struct lxb_state {
    const void *tag; /* &lxb_state_tag */
    uint64_t key_seed; /* arena keys (l_arena.c) */
    int front_done;    /* core._handler_front has been called (l_handler.c) */
    /* The function tables registered through lxb_setfuncs: where argument
     * errors find a function's name when the call site gives none. */
    const luaL_Reg *named[LXB_MAX_NAMED];
    int nnamed;
} lxb_state;

/* Pushes the five upvalues; returns the stack index of the first. */
int lxb_new_upvalues(lua_State *L);
/* luaL_setfuncs into the table at -1, every function getting the
 * upvalues that sit at up .. up + LX_NUPVALUES - 1. */
void lxb_setfuncs(lua_State *L, const luaL_Reg *reg, int up);
/* The table at idx as a type's metatable: its methods in __index (a new
 * table), its metamethods, and __metatable = name. */
void lxb_set_metatable(lua_State *L, int idx, const luaL_Reg *methods, const luaL_Reg *meta, const char *name,
                       int up);

/* The module state, from upvalue 3 of the running function. */
static inline lxb_state *lxb_getstate(lua_State *L)
{
    return lua_touserdata(L, LX_UP_STATE);
}

/*
 * The object at idx if it is one of ours, else NULL: a full userdata of
 * exactly `size` bytes whose first field is `tag` (the address of a
 * static char of the type's file). lua_rawlen is 0 for anything but a
 * full userdata (a light one included), so the tag is read only from
 * memory of our object's size. Two API calls: what keeps a method call
 * near the cost of a plain one (a metatable comparison takes four).
 */
static inline void *lxb_test_object(lua_State *L, int idx, size_t size, const void *tag)
{
    const void *const *p = lua_touserdata(L, idx);
    if (p == NULL || lua_rawlen(L, idx) != size || *p != tag)
        return NULL;
    return (void *)p;
}

/*
 * Argument errors worded as luaL_argerror's ("bad argument #2 to 'read'
 * (...)"), but naming the function by its registered name when the call
 * site gives none (pcall(a.read, a, h)), where luaL_argerror says '?'.
 * Every argument error of the binding's own functions goes through these.
 */
int lxb_argerror(lua_State *L, int arg, const char *extramsg);
int lxb_typeerror(lua_State *L, int arg, const char *tname);
/* "number has no integer representation", or "number expected". */
int lxb_interror(lua_State *L, int arg);
/* Raises "not enough memory". */
int lxb_nomem(lua_State *L);

static inline const char *lxb_checklstring(lua_State *L, int arg, size_t *len)
{
    const char *s = lua_tolstring(L, arg, len);
    if (s == NULL)
        lxb_typeerror(L, arg, "string");
    return s;
}

static inline void lxb_checktable(lua_State *L, int arg)
{
    if (lua_type(L, arg) != LUA_TTABLE)
        lxb_typeerror(L, arg, "table");
}

#if defined(__GNUC__)
#define LXB_COLD __attribute__((cold, noinline))
#else
#define LXB_COLD
#endif

/* lxb_checkint's error: "number expected, got <type>" for anything but
 * a number, else lxb_interror's. */
LXB_COLD int lxb_checkint_error(lua_State *L, int arg);

/* luaL_checkinteger without string coercion: a handle, size or scope id
 * written as "12" is a mistake, not a number. Inline: it is on the path
 * of every method that takes a handle. */
static inline lua_Integer lxb_checkint(lua_State *L, int arg)
{
    int isint;
    lua_Integer v = lua_tointegerx(L, arg, &isint);
    /* One call on the hot path; the type is looked at only to refuse a
     * numeric string, or to word the error. */
    if (!isint || lua_type(L, arg) != LUA_TNUMBER)
        lxb_checkint_error(L, arg);
    return v;
}

static inline lua_Integer lxb_optint(lua_State *L, int arg, lua_Integer def)
{
    return lua_isnoneornil(L, arg) ? def : lxb_checkint(L, arg);
}

/*
 * Option `field` of the options table at idx (argument `arg` of the
 * function): pushes it and returns its type, LUA_TNIL (nothing pushed)
 * when absent; *v is its integer value, and *isint says whether it has
 * one (a numeric string converts, as in arithmetic).
 */
int lxb_push_option(lua_State *L, int idx, const char *field, lua_Integer *v, int *isint);
/* An integer option: 0 when absent, else 1 with *v set; anything but an
 * integer raises "<field> must be an integer, got <type>". */
int lxb_opt_integer(lua_State *L, int idx, const char *field, int arg, lua_Integer *v);

/* t[name] = v for the table at the top (a stats table). */
static inline void lxb_setint(lua_State *L, const char *name, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, name);
}

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
