/*
 * Shared by the binding files (the only ones that include Lua headers).
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
 *
 * Every binding function gets the same upvalues, set once by
 * luaL_setfuncs in luaopen_lexrt_core, so that making objects needs no
 * registry lookup:
 *   1: the arena metatable   2: the handler metatable   3: the module state
 *   4: the metatable of scope arenas: the arena's, less __gc. A scope's
 *      arena is released by its handler, never by the collector, and
 *      finalisers are the dearest part of a short-lived object.
 *   5: the metatable of with_scope's scope guards (l_handler.c).
 */
#ifndef LEXRT_BINDING_H
#define LEXRT_BINDING_H

#include <lauxlib.h>
#include <lua.h>

#include "arena.h"

/* Internal to the module: calls between its files stay direct (no PLT)
 * even in builds that do not pass -fvisibility=hidden, such as luarocks'. */
#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define LX_UP_ARENA_MT lua_upvalueindex(1)
#define LX_UP_HANDLER_MT lua_upvalueindex(2)
#define LX_UP_STATE lua_upvalueindex(3)
#define LX_UP_SCOPE_MT lua_upvalueindex(4)
#define LX_UP_GUARD_MT lua_upvalueindex(5)
#define LX_NUPVALUES 5

/* Per-Lua-state data; lives in a userdata, never in a C global. */
typedef struct lx_state {
    uint64_t key_seed;
    int front_done; /* core._handler_front has been called */
} lx_state;

/* The arena object. `a` is NULL once closed (or once its scope exited).
 * A scope's arena keeps its handler alive through user value 1.
 * `tag` is &lxb_arena_tag: with the userdata's exact size, it identifies
 * our objects in two API calls, which is what keeps alloc near the cost of
 * a plain method call (a metatable comparison takes four). */
typedef struct LArena {
    const void *tag;
    lx_arena *a;
} LArena;

extern const char lxb_arena_tag;

/*
 * The object at idx if it is one of ours, else NULL: a full userdata of
 * exactly `size` bytes whose first field is `tag`. lua_rawlen is 0 for
 * anything but a full userdata (a light one included), so the tag is read
 * only from memory of our object's size.
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
 * Every argument error of the binding goes through these.
 */
int lxb_argerror(lua_State *L, int arg, const char *extramsg);
int lxb_typeerror(lua_State *L, int arg, const char *tname);
/* "number has no integer representation", or "number expected". */
int lxb_interror(lua_State *L, int arg);

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

/* Raises the arena's last allocation error (a->err) as a Lua error. */
int lxb_alloc_error(lua_State *L, const lx_arena *a, size_t n);
/* Pushes a new, closed arena object with metatable `mt` (an upvalue
 * index); the caller fills in `a`. */
LArena *lxb_new_arena_object(lua_State *L, int nuv, int mt);
/* A key for a new arena, from this Lua state's seed. */
uint64_t lxb_next_key(lua_State *L);
/* Reads an optional page size / byte budget from the options table at idx. */
size_t lxb_opt_page_size(lua_State *L, int idx, int arg);
size_t lxb_opt_max_bytes(lua_State *L, int idx, int arg);
/* luaL_checkinteger without string coercion: a handle, size or scope id
 * written as "12" is a mistake, not a number. */
lua_Integer lxb_checkint(lua_State *L, int arg);
lua_Integer lxb_optint(lua_State *L, int arg, lua_Integer def);
/* Raises "not enough memory". */
int lxb_nomem(lua_State *L);
/* The arena object at idx, or NULL if it is not one. */
LArena *lxb_test_arena(lua_State *L, int idx);

extern const luaL_Reg lxb_arena_methods[];
extern const luaL_Reg lxb_arena_meta[];
extern const luaL_Reg lxb_arena_funcs[];
extern const luaL_Reg lxb_handler_methods[];
extern const luaL_Reg lxb_handler_meta[];
extern const luaL_Reg lxb_guard_meta[];
extern const luaL_Reg lxb_handler_funcs[];
extern const luaL_Reg lxb_handler_front[];

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
