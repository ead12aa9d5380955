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
 * return lifts the pins (an outer call's, saved in the loan, comes back)
 * and exits the scope, and with it the scopes whose guards fired while
 * the pin held them (l_scope.c, defer_exit). Loans nest (a call made
 * from inside a call's effect) and are returned in reverse order.
 */
typedef struct lxb_loan {
    LArena *la;       /* the scope's arena object */
    int handler;      /* the handler's stack index, absolute */
    lua_Integer id;   /* the scope */
    lua_Integer prev; /* the pin this loan replaced: 0, or an outer call's scope */
} lxb_loan;

lx_arena *lxb_handler_borrow(lua_State *L, int idx, lxb_loan *loan);
void lxb_handler_return(lua_State *L, const lxb_loan *loan);

/* Fills the handler and scope guard metatables (upvalues at `up`, see
 * lbind.h) and adds core._handler_front to the module table at the top. */
void lxb_open_handler(lua_State *L, int up);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
