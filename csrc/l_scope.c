/*
 * A handler's request scopes: entering and exiting them, h:with_scope
 * and the scope guard that exits a scope its coroutine abandoned, the
 * scopes lent to isolate calls (lxb_handler_borrow / lxb_handler_return)
 * and the doomed scopes those calls hold back (defer_exit). This is the
 * request path of l_handler.c's map, apart from the handler object
 * itself (construction, close, stats, the gate), which only creates and
 * frees the scope stack; the two share LHandler (l_handler_impl.h).
 */
#include "l_handler_impl.h"

#include "l_arena.h"
#include "sysmem.h"

/* Closes the scopes at depth > keep, innermost first. Expects the scopes
 * table on top of the stack. */
void lxb_truncate_scopes(lua_State *L, LHandler *h, size_t keep)
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
    h->scopes[h->depth].pinned = 0;
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
    lxb_truncate_scopes(L, h, k - 1);
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

int lxb_h_enter(lua_State *L)
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
int lxb_h_with_scope(lua_State *L)
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

int lxb_h_exit(lua_State *L)
{
    LHandler *h = check_any(L);
    lua_pushboolean(L, exit_scope(L, 1, h, lxb_checkint(L, 2)));
    return 1;
}

/*
 * For isolates (l_isolate.c). A pinned scope, and every scope below it,
 * cannot be exited and the handler cannot be closed until the pin is
 * lifted: an isolate's Lua state lives in that scope's arena for the
 * length of a call. Several calls may be in flight (each suspended in an
 * effect), so pins are per scope and h->pinned is the innermost one.
 */
lx_arena *lxb_handler_borrow(lua_State *L, int idx, lxb_loan *loan)
{
    LHandler *h = test_handler(L, idx);
    idx = lua_absindex(L, idx);
    if (h->closed)
        luaL_error(L, "handler is closed");
    enter_scope(L, h, idx);
    loan->la = lua_touserdata(L, -1);
    lua_pop(L, 1); /* the handler's scope table keeps it */
    loan->id = h->last_id;
    h->scopes[h->depth - 1].pinned = 1;
    h->pinned = loan->id; /* the newest scope is the innermost */
    loan->la->pinned++;
    return loan->la->a;
}

/* The innermost pinned scope's id, or 0. */
static lua_Integer innermost_pin(const LHandler *h)
{
    size_t k = h->depth;
    while (k > 0 && !h->scopes[k - 1].pinned)
        k--;
    return k > 0 ? h->scopes[k - 1].id : 0;
}

/*
 * Exits the scope at depth k alone, leaving the scopes above it open: a
 * call that finished under another call still in flight. The scopes
 * above move down one place in the stack and the table (rawseti over
 * slots that exist, and nil: nothing allocates).
 */
static void exit_one(lua_State *L, int hidx, LHandler *h, size_t k)
{
    LArena *la;
    size_t j;
    lua_getiuservalue(L, hidx, UV_SCOPES);
    lua_rawgeti(L, -1, (lua_Integer)k);
    la = lua_touserdata(L, -1);
    if (la != NULL && la->a != NULL) {
        lx_arena_free(la->a);
        la->a = NULL;
    }
    lua_pop(L, 1);
    if (h->scopes[k - 1].doomed)
        h->ndoomed--;
    for (j = k; j < h->depth; j++) {
        lua_rawgeti(L, -1, (lua_Integer)j + 1);
        lua_rawseti(L, -2, (lua_Integer)j);
        h->scopes[j - 1] = h->scopes[j];
    }
    lua_pushnil(L);
    lua_rawseti(L, -2, (lua_Integer)h->depth);
    lua_pop(L, 1);
    h->depth--;
    h->exited++;
}

void lxb_handler_return(lua_State *L, int hidx, const lxb_loan *loan)
{
    LHandler *h = test_handler(L, hidx);
    size_t k = depth_of(h, loan->id);
    loan->la->pinned--;
    if (k != 0)
        h->scopes[k - 1].pinned = 0;
    h->pinned = innermost_pin(h);
    if (h->pinned < loan->id)
        exit_scope(L, hidx, h, loan->id);
    else if (k != 0)
        exit_one(L, hidx, h, k);
    exit_doomed(L, hidx, h); /* what the call's pin held back, if anything */
}

static const luaL_Reg guard_meta[] = {
    {"__close", guard_close},
    {"__gc", guard_gc},
    {NULL, NULL},
};

void lxb_open_scope_guard(lua_State *L, int guard_mt)
{
    lua_pushvalue(L, guard_mt);
    luaL_setfuncs(L, guard_meta, 0);
    lua_pushliteral(L, "lexrt.scope_guard");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
}
