/*
 * The default effect handler's request path: the scope stack of arenas.
 *
 * enter_request_scope pushes a fresh arena (pages from the handler's pool),
 * exit_request_scope truncates the stack back past the given scope. The
 * effect gate, budgets, with_scope and spawn_for_worker live in Lua
 * (lua/lexrt/handler.lua), which adds them to the same method table.
 *
 * Ownership, and why finalisers run safely in any order Lua picks:
 *   pool userdata  <- user value 2 of every handler sharing it
 *   handler        <- user value 1 of each of its scope arenas
 *   scope arenas   <- user value 3 of the handler (a table, by depth)
 * An open scope's arena is always in its handler's table, and closing the
 * handler detaches every such arena (a = NULL) before the pool can go, so
 * no arena ever hands pages back to a pool that has been destroyed.
 */
#include <string.h>

#include "lexrt.h"
#include "sysmem.h"

#define UV_ENV 1
#define UV_POOL 2
#define UV_SCOPES 3

/* Pool bounds unless the handler says otherwise. */
#define POOL_BYTES ((size_t)16 * 1024 * 1024)

typedef struct LPool {
    lx_pool pool;
    int users; /* open handlers drawing from it */
    int live;  /* lx_pool_init succeeded and destroy has not run */
} LPool;

typedef struct LHandler {
    const void *tag; /* &handler_tag: see LArena in lexrt.h */
    LPool *lp;
    size_t page_size, max_bytes;
    lua_Integer last_id;
    lua_Integer *ids; /* ids[i] is the scope at depth i + 1 */
    size_t depth, cap;
    lua_Integer entered, exited;
    int closed;
} LHandler;

static int pool_gc(lua_State *L)
{
    LPool *lp = lua_touserdata(L, 1);
    if (lp->live) {
        lx_pool_destroy(&lp->pool);
        lp->live = 0;
    }
    return 0;
}

static const char handler_tag = 'H';

static LHandler *test_handler(lua_State *L, int idx)
{
    return lxb_test_object(L, idx, sizeof(LHandler), &handler_tag);
}

static LHandler *check_any(lua_State *L)
{
    LHandler *h = test_handler(L, 1);
    if (h == NULL)
        luaL_typeerror(L, 1, "lexrt.handler");
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
    }
}

static void close_handler(lua_State *L, LHandler *h)
{
    if (h->closed)
        return;
    lua_getiuservalue(L, 1, UV_SCOPES);
    if (lua_istable(L, -1))
        truncate_scopes(L, h, 0);
    lua_pop(L, 1);
    lx_sys_free(h->ids);
    h->ids = NULL;
    h->cap = 0;
    h->closed = 1;
    /* The last handler using the pool gives its cached pages back now
     * rather than whenever the collector gets to the pool. */
    if (h->lp != NULL && --h->lp->users == 0 && h->lp->live) {
        lx_pool_destroy(&h->lp->pool);
        h->lp->live = 0;
    }
}

static size_t opt_count(lua_State *L, int idx, const char *field, size_t def)
{
    lua_Integer v;
    int isint;
    if (lua_getfield(L, idx, field) == LUA_TNIL) {
        lua_pop(L, 1);
        return def;
    }
    v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < 0)
        luaL_argerror(L, 1, lua_pushfstring(L, "%s must be a non-negative integer", field));
    lua_pop(L, 1);
    return (size_t)v;
}

/*
 * core.new_handler(opts, env [, parent])
 * opts: page_size, max_bytes, pool_pages (validated by the Lua front for
 * unknown keys). env: the Lua side's table (policy, effects, budget).
 * With a parent, the new handler shares its pool, page size and budget.
 */
static int l_new_handler(lua_State *L)
{
    LHandler *h, *parent = NULL;
    LPool *lp;
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!lua_isnoneornil(L, 3) && (parent = test_handler(L, 3)) == NULL)
        luaL_typeerror(L, 3, "lexrt.handler");
    if (parent != NULL && parent->closed)
        luaL_error(L, "handler is closed");

    h = lua_newuserdatauv(L, sizeof *h, 3);
    memset(h, 0, sizeof *h);
    h->tag = &handler_tag;
    h->closed = 1; /* until everything below has succeeded */
    lua_pushvalue(L, LX_UP_HANDLER_MT);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, -2, UV_ENV);
    lua_newtable(L);
    lua_setiuservalue(L, -2, UV_SCOPES);

    if (parent != NULL) {
        h->page_size = parent->page_size;
        h->max_bytes = parent->max_bytes;
        lp = parent->lp;
        lua_getiuservalue(L, 3, UV_POOL);
    } else {
        size_t pool_pages, def_pages;
        h->page_size = lxb_opt_page_size(L, 1, 1);
        h->max_bytes = lxb_opt_max_bytes(L, 1, 1);
        def_pages = POOL_BYTES / h->page_size; /* 1 when pages are 16 MiB */
        pool_pages = opt_count(L, 1, "pool_pages", def_pages);
        lp = lua_newuserdatauv(L, sizeof *lp, 0);
        memset(lp, 0, sizeof *lp);
        if (luaL_newmetatable(L, "lexrt.pool")) {
            lua_pushcfunction(L, pool_gc);
            lua_setfield(L, -2, "__gc");
        }
        lua_setmetatable(L, -2);
        if (lx_pool_init(&lp->pool, h->page_size, pool_pages, POOL_BYTES) != 0)
            return lxb_nomem(L);
        lp->live = 1;
    }
    lua_setiuservalue(L, -2, UV_POOL);
    h->lp = lp;
    lp->users++;
    h->closed = 0;
    return 1;
}

/* Pushes a new scope's arena; its id is h->last_id. */
static void enter_scope(lua_State *L, LHandler *h)
{
    LArena *la;
    if (h->depth == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 8;
        lua_Integer *ids = lx_sys_realloc(h->ids, ncap * sizeof *ids);
        if (ids == NULL) {
            lxb_nomem(L);
            return; /* not reached: lxb_nomem raises */
        }
        h->ids = ids;
        h->cap = ncap;
    }
    la = lxb_new_arena_object(L, 1, LX_UP_SCOPE_MT);
    lua_pushvalue(L, 1);
    lua_setiuservalue(L, -2, 1);
    la->a = lx_arena_new(h->lp->live ? &h->lp->pool : NULL, h->page_size, h->max_bytes, lxb_next_key(L));
    if (la->a == NULL)
        lxb_nomem(L);
    lua_getiuservalue(L, 1, UV_SCOPES);
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)h->depth + 1);
    lua_pop(L, 1);
    h->ids[h->depth++] = ++h->last_id;
    h->entered++;
}

/* Exits scope `id` (and every later one); true if it was open. */
static int exit_scope(lua_State *L, LHandler *h, lua_Integer id)
{
    size_t k = h->depth;
    /* Ids grow with depth, so the scope is found from the top down. */
    while (k > 0 && h->ids[k - 1] > id)
        k--;
    if (h->closed || k == 0 || h->ids[k - 1] != id)
        return 0;
    lua_getiuservalue(L, 1, UV_SCOPES);
    truncate_scopes(L, h, k - 1);
    lua_pop(L, 1);
    return 1;
}

static int h_enter(lua_State *L)
{
    LHandler *h = check_open(L);
    enter_scope(L, h);
    lua_pushinteger(L, h->last_id);
    return 1;
}

/* Where with_scope resumes after fn: directly, or after fn yielded. */
static int with_scope_done(lua_State *L, int status, lua_KContext id)
{
    exit_scope(L, lua_touserdata(L, 1), (lua_Integer)id);
    if (status != LUA_OK && status != LUA_YIELD)
        return lua_error(L); /* fn's error value, unchanged */
    return lua_gettop(L) - 1;
}

/*
 * h:with_scope(fn, ...): fn(arena, id, ...) inside a scope that is exited
 * however fn ends. lua_pcallk, so that fn may yield (a coroutine server).
 */
static int h_with_scope(lua_State *L)
{
    LHandler *h = check_open(L);
    int nargs = lua_gettop(L) - 2;
    lua_Integer id;
    if (lua_type(L, 2) != LUA_TFUNCTION) {
        if (!luaL_getmetafield(L, 2, "__call"))
            luaL_typeerror(L, 2, "function");
        lua_pop(L, 1);
    }
    enter_scope(L, h); /* h fn args... arena */
    id = h->last_id;
    lua_insert(L, 3); /* h fn arena args... */
    lua_pushinteger(L, id);
    lua_insert(L, 4); /* h fn arena id args... */
    return with_scope_done(L, lua_pcallk(L, nargs + 2, LUA_MULTRET, 0, (lua_KContext)id, with_scope_done),
                           (lua_KContext)id);
}

static int h_exit(lua_State *L)
{
    LHandler *h = check_any(L);
    lua_pushboolean(L, exit_scope(L, h, lxb_checkint(L, 2)));
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

#define SET_INT(L, name, v) (lua_pushinteger((L), (lua_Integer)(v)), lua_setfield((L), -2, (name)))

static int h_stats(lua_State *L)
{
    LHandler *h = check_any(L);
    const lx_pool *p = &h->lp->pool;
    lua_createtable(L, 0, 14);
    SET_INT(L, "scopes_entered", h->entered);
    SET_INT(L, "scopes_exited", h->exited);
    SET_INT(L, "depth", h->depth);
    SET_INT(L, "page_size", h->page_size);
    SET_INT(L, "pages_live", p->pages_live);
    SET_INT(L, "pages_pooled", p->npages);
    SET_INT(L, "pool_pages", p->max_pages);
    SET_INT(L, "pages_from_system", p->pages_from_system);
    SET_INT(L, "pages_reused", p->pages_reused);
    SET_INT(L, "chunks_live", p->chunks_live);
    SET_INT(L, "chunks_pooled", p->nchunks);
    SET_INT(L, "chunk_bytes_pooled", p->chunk_bytes);
    SET_INT(L, "chunks_from_system", p->chunks_from_system);
    SET_INT(L, "chunks_reused", p->chunks_reused);
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

/* core.handler_env(h): the Lua side's table for this handler. */
static int l_handler_env(lua_State *L)
{
    check_any(L);
    lua_getiuservalue(L, 1, UV_ENV);
    return 1;
}

/* core.is_handler(v) */
static int l_is_handler(lua_State *L)
{
    lua_pushboolean(L, test_handler(L, 1) != NULL);
    return 1;
}

const luaL_Reg lxb_handler_methods[] = {
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

const luaL_Reg lxb_handler_meta[] = {
    {"__gc", h_close},
    {"__close", h_close},
    {"__tostring", h_tostring},
    {NULL, NULL},
};

const luaL_Reg lxb_handler_funcs[] = {
    {"new_handler", l_new_handler},
    {"handler_env", l_handler_env},
    {"is_handler", l_is_handler},
    {NULL, NULL},
};
