/*
 * The default effect handler: the object, its request scopes and pool.
 * The scopes themselves (enter, exit, with_scope, the scope guard, the
 * loan to an isolate call) are l_scope.c's; this file is the object.
 *
 * What is C and what is Lua. The handler is one object, a userdata of
 * this file: its type check, its closed state, the scope stack of arenas
 * and the pool they draw pages from (l_pool.c), and so the whole request
 * path (enter_request_scope, exit_request_scope, with_scope: l_scope.c;
 * active_arena: here), are C and never call Lua. What is about effects, not
 * memory, is lua/lexrt/handler.lua's: the constructor's options, and the
 * handler's gate, one Lua object per handler that holds its policy,
 * effects and call budget. The gate is callable, gate(kind, op, ...),
 * and that call is the whole effect path: policy check, lookup, call.
 * C stores the gate (user value UV_GATE, with the effects table it
 * serves, UV_EFFECTS) and never looks inside it.
 *
 * Who calls what:
 *   h:dispatch(kind, op, ...)    handler.lua: handler_gate(h), then the gate
 *   an isolate's effect          l_bridge.c calls the gate it got at build
 *                                (lxb_handler_gate), with no lookup by name
 *   h:note_call_budget, h:spawn_for_worker   handler.lua, on the gate
 *   iso:call                     lxb_handler_borrow / lxb_handler_return
 *                                (l_scope.c): one scope, entered and
 *                                pinned, then exited
 * handler.lua's methods join the C method table, once, through
 * core._handler_front, and each crosses into C once: handler_gate(self)
 * checks self and returns its gate, or nil and whether the handler is
 * closed, so that handler.lua words and places the error.
 *
 * The request path, for a reader, all in l_scope.c: h:with_scope
 * (lxb_h_with_scope) enters a scope (enter_scope: a new arena object,
 * lx_arena_new from the pool), calls fn under lua_pcallk, and exits the
 * scope (exit_scope -> lxb_truncate_scopes -> lx_arena_free, pages back
 * to the pool) however fn ends; in a coroutine a scope guard does the
 * exit if the frame never resumes (or, when an isolate call holds the
 * scope then, as soon as the call ends: defer_exit). The arena's own
 * fast path is csrc/arena.h.
 *
 * Ownership, and why finalisers run safely in any order Lua picks:
 *   pool userdata  <- user value 2 of every handler sharing it
 *   handler        <- user value 1 of each of its scope arenas
 *   scope arenas   <- user value 3 of the handler (a table, by depth)
 * An open scope's arena is always in its handler's table, and closing the
 * handler detaches every such arena (a = NULL) before the pool can go, so
 * no arena ever hands pages back to a pool that has been destroyed.
 */
#include "l_handler_impl.h"

#include <string.h>

#include "l_arena.h"
#include "sysmem.h"

const char lxb_handler_tag = 'H';

static void close_handler(lua_State *L, LHandler *h)
{
    if (h->closed)
        return;
    if (h->pinned != 0)
        luaL_error(L, "isolate busy: an isolate call is using scope %I of this handler", h->pinned);
    lua_getiuservalue(L, 1, UV_SCOPES);
    if (lua_istable(L, -1))
        lxb_truncate_scopes(L, h, 0);
    lua_pop(L, 1);
    lx_sys_free(h->scopes);
    h->scopes = NULL;
    h->cap = 0;
    h->closed = 1;
    if (h->lp != NULL)
        lxb_pool_detach(h->lp);
}

/*
 * new_handler(opts, gate, effects [, parent]), from core._handler_front
 * opts: page_size, max_bytes, pool_pages (validated by the Lua front for
 * unknown keys). gate: handler.lua's gate (policy, effects, budget), and
 * effects the table it serves; both are stored, neither is read here.
 * With a parent, the new handler shares its pool, page size and budget.
 */
static int l_new_handler(lua_State *L)
{
    LHandler *h, *parent = NULL;
    LPool *lp;
    lxb_checktable(L, 1);
    lxb_checktable(L, 2);
    lxb_checktable(L, 3);
    if (!lua_isnoneornil(L, 4) && (parent = test_handler(L, 4)) == NULL)
        lxb_typeerror(L, 4, "lexrt.handler");
    if (parent != NULL && parent->closed)
        luaL_error(L, "handler is closed");

    h = lua_newuserdatauv(L, sizeof *h, NUV);
    memset(h, 0, sizeof *h);
    h->tag = &lxb_handler_tag;
    h->closed = 1; /* until everything below has succeeded */
    lua_pushvalue(L, LX_UP_HANDLER_MT);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, -2, UV_GATE);
    lua_pushvalue(L, 3);
    lua_setiuservalue(L, -2, UV_EFFECTS);
    lua_newtable(L);
    lua_setiuservalue(L, -2, UV_SCOPES);

    if (parent != NULL) {
        /* Making h can run a finaliser that closes the parent. */
        if (parent->closed)
            luaL_error(L, "handler is closed");
        h->page_size = parent->page_size;
        h->max_bytes = parent->max_bytes;
        lp = parent->lp;
        lua_getiuservalue(L, 4, UV_POOL);
    } else {
        h->page_size = lxb_opt_page_size(L, 1, 1);
        h->max_bytes = lxb_opt_max_bytes(L, 1, 1);
        lp = lxb_new_pool(L, 1, h->page_size);
    }
    lua_setiuservalue(L, -2, UV_POOL);
    h->lp = lp;
    lxb_pool_attach(lp);
    h->closed = 0;
    return 1;
}

static int h_active_arena(lua_State *L)
{
    LHandler *h = check_open(L);
    if (h->depth == 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_getiuservalue(L, 1, UV_SCOPES);
    lua_rawgeti(L, -1, (lua_Integer)h->depth);
    return 1;
}

static int h_depth(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_open(L)->depth);
    return 1;
}

static const char *const stat_names[] = {
    "scopes_entered", "scopes_exited", "depth", "page_size", "pages_live", "pages_pooled",
    "pool_pages", "pages_from_system", "pages_reused", "chunks_live", "chunks_pooled",
    "chunk_bytes_pooled", "chunks_from_system", "chunks_reused",
};
#define NSTATS (sizeof stat_names / sizeof stat_names[0])

static int h_stats(lua_State *L)
{
    const LHandler *h = check_any(L);
    static const lx_pool none; /* a handler whose construction failed has no pool */
    const lx_pool *p = h->lp != NULL ? &h->lp->pool : &none;
    /* Copied before the table is made: a finaliser may close h then. */
    const lua_Integer v[NSTATS] = {
        h->entered, h->exited, (lua_Integer)h->depth, (lua_Integer)h->page_size,
        (lua_Integer)p->pages_live, (lua_Integer)p->npages, (lua_Integer)p->max_pages,
        (lua_Integer)p->pages_from_system, (lua_Integer)p->pages_reused,
        (lua_Integer)p->chunks_live, (lua_Integer)p->nchunks, (lua_Integer)p->chunk_bytes,
        (lua_Integer)p->chunks_from_system, (lua_Integer)p->chunks_reused,
    };
    size_t i;
    lua_createtable(L, 0, (int)NSTATS);
    for (i = 0; i < NSTATS; i++) {
        lua_pushinteger(L, v[i]);
        lua_setfield(L, -2, stat_names[i]);
    }
    return 1;
}

static int h_close(lua_State *L)
{
    close_handler(L, check_any(L));
    return 0;
}

static int h_is_closed(lua_State *L)
{
    lua_pushboolean(L, check_any(L)->closed);
    return 1;
}

static int h_tostring(lua_State *L)
{
    LHandler *h = check_any(L);
    if (h->closed)
        lua_pushliteral(L, "lexrt.handler (closed)");
    else
        lua_pushfstring(L, "lexrt.handler(%I scopes open)", (lua_Integer)h->depth);
    return 1;
}

/*
 * handler_gate(v): the gate of handler v; nil and false when v is not a
 * handler, nil and true when it is closed. The one call into C of every
 * Lua method and of the gate itself (see the top of this file).
 */
static int l_handler_gate(lua_State *L)
{
    LHandler *h = test_handler(L, 1);
    if (h == NULL || h->closed) {
        lua_pushnil(L);
        lua_pushboolean(L, h != NULL);
        return 2;
    }
    lua_getiuservalue(L, 1, UV_GATE);
    return 1;
}

/* For isolates, at build (l_isobuild.c); the scope a call borrows is
 * l_scope.c's. */
int lxb_is_handler(lua_State *L, int idx, int *closed)
{
    const LHandler *h = test_handler(L, idx);
    *closed = h != NULL && h->closed;
    return h != NULL;
}

size_t lxb_handler_gate(lua_State *L, int idx)
{
    LHandler *h = test_handler(L, idx);
    idx = lua_absindex(L, idx);
    if (h->closed)
        luaL_error(L, "handler is closed");
    lua_getiuservalue(L, idx, UV_GATE);
    lua_getiuservalue(L, idx, UV_EFFECTS);
    return h->max_bytes;
}

static const luaL_Reg handler_methods[] = {
    {"enter_request_scope", lxb_h_enter},
    {"exit_request_scope", lxb_h_exit},
    {"active_arena", h_active_arena},
    {"arena_stack_depth", h_depth},
    {"with_scope", lxb_h_with_scope},
    {"stats", h_stats},
    {"close", h_close},
    {"is_closed", h_is_closed},
    {NULL, NULL},
};

static const luaL_Reg handler_meta[] = {
    {"__gc", h_close},
    {"__close", h_close},
    {"__tostring", h_tostring},
    {NULL, NULL},
};

/* What core._handler_front hands to handler.lua. */
static const luaL_Reg handler_front[] = {
    {"new_handler", l_new_handler},
    {"handler_gate", l_handler_gate},
    {NULL, NULL},
};

/*
 * core._handler_front(methods): handler.lua's one call. Adds its Lua
 * methods (dispatch, note_call_budget, spawn_for_worker) to the method
 * table every handler shares, and returns the functions it builds on
 * (new_handler, handler_gate), which core does not export.
 * Once per load of the module: later calls are refused, so no script can
 * add or replace a method of every handler.
 */
static int l_handler_front(lua_State *L)
{
    lxb_state *st = lxb_getstate(L);
    int i;
    lxb_checktable(L, 1);
    if (st->front_done)
        return luaL_error(L, "the handler's Lua methods are already registered");
    st->front_done = 1;
    lua_getfield(L, LX_UP_HANDLER_MT, "__index"); /* 2: the method table */
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TFUNCTION)
            return lxb_argerror(L, 1, "methods must map names to functions");
        lua_pushvalue(L, -2);
        if (lua_rawget(L, 2) != LUA_TNIL)
            return lxb_argerror(L, 1, lua_pushfstring(L, "method '%s' exists already", lua_tostring(L, -3)));
        lua_pop(L, 1);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, 2);
    }
    for (i = 1; i <= LX_NUPVALUES; i++)
        lua_pushvalue(L, lua_upvalueindex(i));
    lua_newtable(L);
    lxb_setfuncs(L, handler_front, lua_gettop(L) - LX_NUPVALUES);
    return 1;
}

static const luaL_Reg handler_funcs[] = {
    {"_handler_front", l_handler_front},
    {NULL, NULL},
};

void lxb_open_handler(lua_State *L, int up)
{
    /* The Lua methods join through core._handler_front, once. */
    lxb_set_metatable(L, up + LXB_HANDLER_MT, handler_methods, handler_meta, "lexrt.handler", up);
    lxb_open_scope_guard(L, up + LXB_GUARD_MT);
    lxb_setfuncs(L, handler_funcs, up);
}
