/*
 * The default effect handler: the object, its request scopes and pool.
 *
 * What is C and what is Lua. The handler is one object, a userdata of
 * this file: its type check, its closed state, the scope stack of arenas
 * and the pool they draw pages from (l_pool.c), and so the whole request
 * path (enter_request_scope, exit_request_scope, with_scope,
 * active_arena), are here and never call Lua. What is about effects, not
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
 *   iso:call                     lxb_handler_borrow / lxb_handler_return:
 *                                one scope, entered and pinned, then exited
 * handler.lua's methods join the C method table, once, through
 * core._handler_front, and each crosses into C once: handler_gate(self)
 * checks self and returns its gate, or nil and whether the handler is
 * closed, so that handler.lua words and places the error.
 *
 * The request path, for a reader: h:with_scope (h_with_scope) enters a
 * scope (enter_scope: a new arena object, lx_arena_new from the pool),
 * calls fn under lua_pcallk, and exits the scope (exit_scope ->
 * truncate_scopes -> lx_arena_free, pages back to the pool) however fn
 * ends; in a coroutine a scope guard does the exit if the frame never
 * resumes (or, when an isolate call holds the scope then, as soon as the
 * call ends: defer_exit). The arena's own fast path is csrc/arena.h.
 *
 * Ownership, and why finalisers run safely in any order Lua picks:
 *   pool userdata  <- user value 2 of every handler sharing it
 *   handler        <- user value 1 of each of its scope arenas
 *   scope arenas   <- user value 3 of the handler (a table, by depth)
 * An open scope's arena is always in its handler's table, and closing the
 * handler detaches every such arena (a = NULL) before the pool can go, so
 * no arena ever hands pages back to a pool that has been destroyed.
 */
#include "l_handler.h"

#include <string.h>

#include "l_arena.h"
#include "l_pool.h"
#include "sysmem.h"

#define UV_GATE 1    /* handler.lua's gate: policy, effects, budget */
#define UV_POOL 2
#define UV_SCOPES 3
#define UV_GUARD 4   /* a spare scope guard for with_scope, or nil */
#define UV_EFFECTS 5 /* the effects table the gate serves, for isolates' globals */
#define NUV 5

/* An open scope. `doomed`: its guard fired while an isolate call pinned
 * it, so it is exited as soon as no pin holds it (see defer_exit). */
typedef struct Scope {
    lua_Integer id;
    int doomed;
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
    lua_Integer pinned; /* innermost scope a running isolate call uses; 0: none */
    int closed;
} LHandler;

static const char handler_tag = 'H';

static LHandler *test_handler(lua_State *L, int idx)
{
    return lxb_test_object(L, idx, sizeof(LHandler), &handler_tag);
}

static LHandler *check_any(lua_State *L)
{
    LHandler *h = test_handler(L, 1);
    if (h == NULL)
        lxb_typeerror(L, 1, "lexrt.handler");
    return h;
}

static LHandler *check_open(lua_State *L)
{
    LHandler *h = check_any(L);
    if (h->closed)
        luaL_error(L, "handler is closed");
    return h;
}

/* Closes the scopes at depth > keep, innermost first. Expects the scopes
 * table on top of the stack. */
static void truncate_scopes(lua_State *L, LHandler *h, size_t keep)
{
    while (h->depth > keep) {
        LArena *la;
        lua_rawgeti(L, -1, (lua_Integer)h->depth);
        la = lua_touserdata(L, -1);
        /* A script may have closed the scope's arena itself already. */
        if (la != NULL && la->a != NULL) {
            lx_arena_free(la->a);
            la->a = NULL;
        }
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_rawseti(L, -2, (lua_Integer)h->depth);
        h->depth--;
        h->exited++;
        if (h->scopes[h->depth].doomed) {
            h->scopes[h->depth].doomed = 0;
            h->ndoomed--;
        }
    }
}

static void close_handler(lua_State *L, LHandler *h)
{
    if (h->closed)
        return;
    if (h->pinned != 0)
        luaL_error(L, "isolate busy: an isolate call is using scope %I of this handler", h->pinned);
    lua_getiuservalue(L, 1, UV_SCOPES);
    if (lua_istable(L, -1))
        truncate_scopes(L, h, 0);
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
    h->tag = &handler_tag;
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

/* Room for one more scope. */
static void reserve_id(lua_State *L, LHandler *h)
{
    size_t ncap;
    Scope *scopes;
    if (h->depth < h->cap)
        return;
    if (h->cap > SIZE_MAX / 2 / sizeof *scopes)
        lxb_nomem(L);
    ncap = h->cap ? h->cap * 2 : 8;
    scopes = lx_sys_realloc(h->scopes, ncap * sizeof *scopes);
    if (scopes == NULL)
        lxb_nomem(L);
    h->scopes = scopes;
    h->cap = ncap;
}

/*
 * Pushes a new scope's arena (handler at index idx); its id is h->last_id.
 * The arena object is made first: making it can run a finaliser that
 * closes h or enters and exits its scopes, so h is checked only after.
 * From there on nothing runs Lua code: rawseti into the scopes table can
 * only fail for memory (raising before the arena holds anything), and the
 * rest is C.
 */
static void enter_scope(lua_State *L, LHandler *h, int idx)
{
    LArena *la = lxb_new_arena_object(L, 1, LX_UP_SCOPE_MT);
    lua_pushvalue(L, idx);
    lua_setiuservalue(L, -2, 1);
    if (h->closed)
        luaL_error(L, "handler is closed");
    if (h->last_id == LUA_MAXINTEGER)
        luaL_error(L, "no scope ids left in this handler");
    /* In the table before it owns pages, so an error leaves no orphan. */
    lua_getiuservalue(L, idx, UV_SCOPES);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)h->depth + 1);
    lua_pop(L, 1);
    reserve_id(L, h);
    la->a = lx_arena_new(lxb_pool_of(h->lp), h->page_size, h->max_bytes, lxb_next_key(L));
    if (la->a == NULL)
        lxb_nomem(L);
    h->scopes[h->depth].id = ++h->last_id;
    h->scopes[h->depth].doomed = 0;
    h->depth++;
    h->entered++;
}

/* The depth of open scope `id`, or 0. Ids grow with depth, so the scope
 * is found from the top down. */
static size_t depth_of(const LHandler *h, lua_Integer id)
{
    size_t k = h->depth;
    while (k > 0 && h->scopes[k - 1].id > id)
        k--;
    return k > 0 && h->scopes[k - 1].id == id ? k : 0;
}

/* Exits scope `id` (and every later one) of the handler h at stack index
 * hidx; true if it was open. */
static int exit_scope(lua_State *L, int hidx, LHandler *h, lua_Integer id)
{
    size_t k;
    if (h->closed || (k = depth_of(h, id)) == 0)
        return 0;
    if (h->pinned >= id)
        luaL_error(L, "isolate busy: an isolate call is using scope %I of this handler", h->pinned);
    lua_getiuservalue(L, hidx, UV_SCOPES);
    truncate_scopes(L, h, k - 1);
    lua_pop(L, 1);
    return 1;
}

/*
 * A scope whose guard fires while an isolate call pins it (the guard's
 * coroutine collected or closed from inside the call: by an effect, or
 * by any host allocation the call makes) cannot be exited then: exiting
 * it truncates every scope above it, the call's own among them, and
 * raising "isolate busy" from __gc would only leak it. It is marked
 * doomed instead, and exit_doomed exits it once no pin holds it: when
 * the call has returned its scope (lxb_handler_return), or, when an outer
 * call holds it too, when that one has.
 */
static void defer_exit(LHandler *h, lua_Integer id)
{
    size_t k = depth_of(h, id);
    if (k != 0 && !h->scopes[k - 1].doomed) {
        h->scopes[k - 1].doomed = 1;
        h->ndoomed++;
    }
}

/* Exits the lowest doomed scope that no pin holds any more, and with it
 * every scope above it (a stack: nothing above can outlive it). */
static void exit_doomed(lua_State *L, int hidx, LHandler *h)
{
    size_t k;
    if (h->closed || h->ndoomed == 0)
        return;
    for (k = 0; k < h->depth; k++) {
        if (h->scopes[k].doomed && h->scopes[k].id > h->pinned) {
            exit_scope(L, hidx, h, h->scopes[k].id);
            return;
        }
    }
}

static int h_enter(lua_State *L)
{
    LHandler *h = check_open(L);
    enter_scope(L, h, 1);
    lua_pushinteger(L, h->last_id);
    return 1;
}

/*
 * with_scope in a coroutine: fn may yield, and the coroutine may then be
 * closed (coroutine.close) or dropped, so with_scope's frame never
 * resumes. A scope guard, marked to-be-closed in that frame, exits the
 * scope when the coroutine is closed (__close) or collected (__gc).
 * Its user value 1 is the handler; `id` is the scope to exit, 0 once it
 * has nothing left to do. A guard whose slot has been closed goes back to
 * its handler (UV_GUARD) for the next with_scope: one allocation per
 * handler, not per call, unless calls overlap.
 */
typedef struct LGuard {
    const void *tag; /* &guard_tag */
    lua_Integer id;
} LGuard;

static const char guard_tag = 'G';

/* Exits the scope of the guard at index 1 if it still has one, and pushes
 * its handler (its user value: always a handler). NULL if index 1 is not
 * a guard, which only debug.getmetatable could arrange. */
static LHandler *guard_fire(lua_State *L)
{
    LGuard *g = lxb_test_object(L, 1, sizeof(LGuard), &guard_tag);
    lua_Integer id;
    LHandler *h;
    if (g == NULL)
        return NULL;
    id = g->id;
    g->id = 0;
    lua_getiuservalue(L, 1, 1);
    h = lua_touserdata(L, -1);
    if (id != 0 && !h->closed && h->pinned >= id)
        defer_exit(h, id); /* a call holds it: exited when the call ends */
    else if (id != 0)
        exit_scope(L, lua_gettop(L), h, id);
    return h;
}

/* __close: the slot is done with; the guard may serve again. */
static int guard_close(lua_State *L)
{
    LHandler *h = guard_fire(L);
    int hidx = lua_gettop(L);
    if (h != NULL && !h->closed && lua_getiuservalue(L, hidx, UV_GUARD) == LUA_TNIL) {
        lua_pushvalue(L, 1);
        lua_setiuservalue(L, hidx, UV_GUARD);
    }
    return 0;
}

/* __gc: the coroutine holding the guard was collected. */
static int guard_gc(lua_State *L)
{
    guard_fire(L);
    return 0;
}

/* Pushes a guard of handler h (at index 1): its spare one, or a new one. */
static LGuard *push_guard(lua_State *L)
{
    LGuard *g;
    if (lua_getiuservalue(L, 1, UV_GUARD) == LUA_TUSERDATA) {
        lua_pushnil(L);
        lua_setiuservalue(L, 1, UV_GUARD); /* ours alone until its slot closes */
        return lua_touserdata(L, -1);
    }
    lua_pop(L, 1);
    g = lua_newuserdatauv(L, sizeof *g, 1);
    g->tag = &guard_tag;
    g->id = 0;
    lua_pushvalue(L, LX_UP_GUARD_MT);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    return g;
}

/* Where with_scope resumes after fn: directly, or after fn yielded. */
static int with_scope_done(lua_State *L, int status, lua_KContext id)
{
    exit_scope(L, 1, lua_touserdata(L, 1), (lua_Integer)id);
    if (status != LUA_OK && status != LUA_YIELD)
        return lua_error(L); /* fn's error value, unchanged */
    return lua_gettop(L) - 1;
}

/* The same, with a guard at index 3. On success the guard's __close exits
 * the scope as the results are returned. On an error the scope is exited
 * here: when nothing in the coroutine catches the error, it dies with the
 * guard's slot still open, and the scope must not wait for its collection. */
static int guarded_done(lua_State *L, int status, lua_KContext id)
{
    if (status != LUA_OK && status != LUA_YIELD) {
        ((LGuard *)lua_touserdata(L, 3))->id = 0;
        exit_scope(L, 1, lua_touserdata(L, 1), (lua_Integer)id);
        return lua_error(L); /* fn's error value, unchanged */
    }
    return lua_gettop(L) - 3;
}

/*
 * h:with_scope(fn, ...): fn(arena, id, ...) inside a scope that is exited
 * however fn ends. lua_pcallk, so that fn may yield (a coroutine server).
 * Where fn cannot yield across this call (the main thread, or a C call
 * without continuation in between), nothing can abandon this frame, and a
 * plain protected call is enough: the request path pays for no guard.
 */
static int h_with_scope(lua_State *L)
{
    LHandler *h = check_open(L);
    int nargs = lua_gettop(L) - 2;
    lua_Integer id;
    LGuard *g;
    if (lua_type(L, 2) != LUA_TFUNCTION) {
        if (!luaL_getmetafield(L, 2, "__call"))
            lxb_typeerror(L, 2, "function");
        lua_pop(L, 1);
    }
    if (!lua_isyieldable(L)) {
        enter_scope(L, h, 1); /* h fn args... arena */
        id = h->last_id;
        lua_pushinteger(L, id);
        if (nargs > 0) { /* without args, arena and id are in place already */
            lua_insert(L, 3); /* h fn id args... arena */
            lua_insert(L, 3); /* h fn arena id args... */
        }
        return with_scope_done(L, lua_pcallk(L, nargs + 2, LUA_MULTRET, 0, (lua_KContext)id, with_scope_done),
                               (lua_KContext)id);
    }
    g = push_guard(L); /* may allocate: enter_scope checks h afterwards */
    lua_insert(L, 3);  /* h fn guard args... */
    lua_pushvalue(L, 2);
    lua_insert(L, 4);  /* h fn guard fn args... */
    enter_scope(L, h, 1); /* h fn guard fn args... arena */
    id = h->last_id;
    lua_insert(L, 5); /* h fn guard fn arena args... */
    lua_pushinteger(L, id);
    lua_insert(L, 6); /* h fn guard fn arena id args... */
    g->id = id;
    lua_toclose(L, 3);
    return guarded_done(L, lua_pcallk(L, nargs + 2, LUA_MULTRET, 0, (lua_KContext)id, guarded_done),
                        (lua_KContext)id);
}

static int h_exit(lua_State *L)
{
    LHandler *h = check_any(L);
    lua_pushboolean(L, exit_scope(L, 1, h, lxb_checkint(L, 2)));
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

/*
 * For isolates (l_isolate.c). A pinned scope, and every scope below it,
 * cannot be exited and the handler cannot be closed until the pin is
 * lifted: an isolate's Lua state lives in that scope's arena for the
 * length of a call.
 */
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

lx_arena *lxb_handler_borrow(lua_State *L, int idx, lxb_loan *loan)
{
    LHandler *h = test_handler(L, idx);
    idx = lua_absindex(L, idx);
    if (h->closed)
        luaL_error(L, "handler is closed");
    enter_scope(L, h, idx);
    loan->la = lua_touserdata(L, -1);
    lua_pop(L, 1); /* the handler's scope table keeps it */
    loan->handler = idx;
    loan->id = h->last_id;
    loan->prev = h->pinned;
    h->pinned = loan->id;
    loan->la->pinned++;
    return loan->la->a;
}

void lxb_handler_return(lua_State *L, const lxb_loan *loan)
{
    LHandler *h = test_handler(L, loan->handler);
    loan->la->pinned--;
    h->pinned = loan->prev;
    exit_scope(L, loan->handler, h, loan->id);
    exit_doomed(L, loan->handler, h); /* what the call's pin held back, if anything */
}

static const luaL_Reg handler_methods[] = {
    {"enter_request_scope", h_enter},
    {"exit_request_scope", h_exit},
    {"active_arena", h_active_arena},
    {"arena_stack_depth", h_depth},
    {"with_scope", h_with_scope},
    {"stats", h_stats},
    {"close", h_close},
    {"is_closed", h_is_closed},
    {NULL, NULL},
};

static const luaL_Reg guard_meta[] = {
    {"__close", guard_close},
    {"__gc", guard_gc},
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
    int guard_mt = up + LXB_GUARD_MT;
    /* The Lua methods join through core._handler_front, once. */
    lxb_set_metatable(L, up + LXB_HANDLER_MT, handler_methods, handler_meta, "lexrt.handler", up);
    lua_pushvalue(L, guard_mt);
    luaL_setfuncs(L, guard_meta, 0);
    lua_pushliteral(L, "lexrt.scope_guard");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    lxb_setfuncs(L, handler_funcs, up);
}
