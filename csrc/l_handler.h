/*
 * The handler object (l_handler.c), as the other binding files see it:
 * isolates (l_isolate.c) drive a handler's scopes from C.
 */
#ifndef LEXRT_L_HANDLER_H
#define LEXRT_L_HANDLER_H

#include "arena.h"
#include "lbind.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* A handler's scopes driven from C, for isolates. enter raises "handler
 * is closed"; pin sets the scope an isolate call is using (exit and close
 * refuse to drop it: "isolate busy") and returns the previous pin, to be
 * put back when the call ends, before the call's scope is exited: exit
 * then also exits the scopes whose guards fired while the pin held them
 * (l_handler.c, defer_exit). */
int lxb_is_handler(lua_State *L, int idx);
int lxb_handler_closed(lua_State *L, int idx);
size_t lxb_handler_max_bytes(lua_State *L, int idx);
/* Pushes the handler's effects table (kind -> op -> function). */
void lxb_handler_push_effects(lua_State *L, int idx);
lx_arena *lxb_handler_enter(lua_State *L, int idx, lua_Integer *id);
lua_Integer lxb_handler_pin(lua_State *L, int idx, lua_Integer id);
int lxb_handler_exit(lua_State *L, int idx, lua_Integer id);

/* Fills the handler and scope guard metatables (upvalues at `up`, see
 * lbind.h) and adds core._handler_front to the module table at the top. */
void lxb_open_handler(lua_State *L, int up);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
