/*
 * The arena object (l_arena.c), as the other binding files see it: the
 * handler makes its scopes' arenas with it, and reads arena options.
 */
#ifndef LEXRT_L_ARENA_H
#define LEXRT_L_ARENA_H

#include "arena.h"
#include "lbind.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* The arena object. `a` is NULL once closed (or once its scope exited).
 * A scope's arena keeps its handler alive through user value 1. `tag` is
 * &lxb_arena_tag (see lxb_test_object). `pinned`: non-zero while an
 * isolate call's Lua state lives in `a` (the handler's loan, l_handler.h);
 * reset and close then refuse: "isolate busy". */
typedef struct LArena {
    const void *tag;
    lx_arena *a;
    int pinned;
} LArena;

extern const char lxb_arena_tag;

/* Pushes a new, closed arena object with metatable `mt` (an upvalue
 * index) and `nuv` user values; the caller fills in `a`. */
LArena *lxb_new_arena_object(lua_State *L, int nuv, int mt);
/* A key for a new arena, from this Lua state's seed. */
uint64_t lxb_next_key(lua_State *L);
/* The page size / byte budget in the options table at idx (argument
 * `arg`): LX_PAGE_BYTES / LX_NO_BUDGET when absent. */
size_t lxb_opt_page_size(lua_State *L, int idx, int arg);
size_t lxb_opt_max_bytes(lua_State *L, int idx, int arg);

/* Fills the arena and scope arena metatables (upvalues at `up`, see
 * lbind.h) and adds lexrt.arena to the module table at the top. */
void lxb_open_arena(lua_State *L, int up);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
