/*
 * The handler object (l_handler.c; its scopes: l_scope.c), as the other
 * binding files see it: what an isolate needs of its handler, at build
 * (l_isobuild.c) and for each call (l_isolate.c). What the two files share besides
 * is l_handler_impl.h's.
 */
#ifndef LEXRT_L_HANDLER_H
#define LEXRT_L_HANDLER_H

#include "arena.h"
#include "l_arena.h"
#include "lbind.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* Whether the value at idx is a handler; *closed: whether it is closed. */
int lxb_is_handler(lua_State *L, int idx, int *closed);

/* For an isolate's build: raises "handler is closed"; pushes the
 * handler's gate (handler.lua: gate(kind, op, ...) runs one effect
 * through the policy) and the effects table it serves (kind -> op ->
 * function, what the isolate's globals are made from); returns the
 * handler's max_bytes. idx must be a handler. */
size_t lxb_handler_gate(lua_State *L, int idx);

/*
 * An isolate call's loan of a request scope. borrow enters a new scope
 * on the handler at idx (raising "handler is closed"), pins it and its
 * arena, and returns the arena, where the call's state will live: until
 * the loan is returned, exiting that scope or one below it, closing the
 * handler, and resetting or closing the arena raise "isolate busy".
 * Loans may be returned in any order (calls in flight finish when their
 * effects do): return (the handler at hidx) lifts the loan's pin and
 * exits its scope, with every scope above it when no other loan holds
 * one of them, else that scope alone; then the scopes whose guards fired
 * while a pin held them (l_scope.c, defer_exit).
 */
typedef struct lxb_loan {
    LArena *la;     /* the scope's arena object */
    lua_Integer id; /* the scope */
} lxb_loan;

lx_arena *lxb_handler_borrow(lua_State *L, int idx, lxb_loan *loan);
void lxb_handler_return(lua_State *L, int hidx, const lxb_loan *loan);

/* Fills the handler and scope guard metatables (upvalues at `up`, see
 * lbind.h) and adds core._handler_front to the module table at the top. */
void lxb_open_handler(lua_State *L, int up);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
