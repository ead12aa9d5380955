/*
 * The handler's insides, shared by its two files and no other:
 * l_handler.c (the object: construction, close, stats, the gate, the
 * Lua front) and l_scope.c (its request scopes: enter, exit, with_scope
 * and the scope guard, the loan to an isolate call). Separate from
 * l_handler.h, which is what the rest of the binding may use.
 */
#ifndef LEXRT_L_HANDLER_IMPL_H
#define LEXRT_L_HANDLER_IMPL_H

#include "l_handler.h"
#include "l_pool.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define UV_GATE 1    /* handler.lua's gate: policy, effects, budget */
#define UV_POOL 2
#define UV_SCOPES 3
#define UV_GUARD 4   /* a spare scope guard for with_scope, or nil */
#define UV_EFFECTS 5 /* the effects table the gate serves, for isolates' globals */
#define NUV 5

/* An open scope. `doomed`: its guard fired while an isolate call pinned
 * it, so it is exited as soon as no pin holds it (see defer_exit).
 * `pinned`: an isolate call's loan (lxb_handler_borrow). */
typedef struct Scope {
    lua_Integer id;
    int doomed;
    int pinned;
} Scope;

typedef struct LHandler {
    const void *tag; /* &handler_tag: see lxb_test_object */
    LPool *lp;
    size_t page_size, max_bytes;
    lua_Integer last_id;
    Scope *scopes; /* scopes[i] is the scope at depth i + 1 */
    size_t depth, cap;
    size_t ndoomed; /* open scopes marked doomed */
    lua_Integer entered, exited;
    lua_Integer pinned; /* the innermost scope an isolate call in flight holds; 0: none */
    int closed;
} LHandler;

/* &lxb_handler_tag: a handler's tag (see lxb_test_object). */
extern const char lxb_handler_tag;

static inline LHandler *test_handler(lua_State *L, int idx)
{
    return lxb_test_object(L, idx, sizeof(LHandler), &lxb_handler_tag);
}

static inline LHandler *check_any(lua_State *L)
{
    LHandler *h = test_handler(L, 1);
    if (h == NULL)
        lxb_typeerror(L, 1, "lexrt.handler");
    return h;
}

static inline LHandler *check_open(lua_State *L)
{
    LHandler *h = check_any(L);
    if (h->closed)
        luaL_error(L, "handler is closed");
    return h;
}

/* l_scope.c, for l_handler.c. */
void lxb_truncate_scopes(lua_State *L, LHandler *h, size_t keep);
int lxb_h_enter(lua_State *L);
int lxb_h_exit(lua_State *L);
int lxb_h_with_scope(lua_State *L);
/* Fills the scope guard metatable at index guard_mt. */
void lxb_open_scope_guard(lua_State *L, int guard_mt);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
