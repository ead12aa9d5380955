/*
 * The arena object as Lua sees it: lexrt.arena([opts]) and its methods.
 *
 * Blocks are never Lua objects: alloc returns the core's integer handle
 * and every other method resolves it with lx_arena_lookup, which can only
 * ever yield one of this arena's live blocks. All bounds are checked here
 * before a byte is copied, so no Lua value can steer a read or a write
 * outside the block it names.
 */
#include "l_arena.h"

#include <string.h>
#include <time.h>

const char lxb_arena_tag = 'A';

/* Inlined into every method: a call here would cost more than the test. */
#if defined(__GNUC__)
#define LX_INLINE static inline __attribute__((always_inline))
#else
#define LX_INLINE static inline
#endif

LX_INLINE LArena *check_any(lua_State *L)
{
    LArena *la = lxb_test_object(L, 1, sizeof(LArena), &lxb_arena_tag);
    if (la == NULL)
        lxb_typeerror(L, 1, "lexrt.arena");
    return la;
}

/* The arena behind la, or "arena is closed". Asked again after anything
 * that can run a finaliser (see the rule in lbind.h). */
LX_INLINE lx_arena *open_arena(lua_State *L, const LArena *la)
{
    if (la->a == NULL)
        luaL_error(L, "arena is closed");
    return la->a;
}

/* The one-line check every method starts with (cf. liolib's tofile). */
LX_INLINE lx_arena *check_open(lua_State *L)
{
    return open_arena(L, check_any(L));
}

LX_INLINE lx_block *check_block(lua_State *L, const lx_arena *a, int arg)
{
    lx_block *b = lx_arena_lookup(a, lxb_checkint(L, arg));
    if (b == NULL)
        lxb_argerror(L, arg, "stale or foreign arena handle");
    return b;
}

/* Raises the arena's last allocation error (a->err) as a Lua error. */
static int alloc_error(lua_State *L, const lx_arena *a, size_t n)
{
    switch (a->err) {
    case LX_EBUDGET:
        return luaL_error(L, "arena budget exceeded: %I more bytes would pass max_bytes (%I, %I in use)",
                          (lua_Integer)n, (lua_Integer)a->max_bytes, (lua_Integer)lx_arena_bytes(a));
    case LX_ETOOMANY:
        return luaL_error(L, "too many blocks in one arena (at most %I between resets)",
                          (lua_Integer)LX_MAX_BLOCKS);
    default:
        return lxb_nomem(L);
    }
}

LArena *lxb_new_arena_object(lua_State *L, int nuv, int mt)
{
    /* Closed from birth: if anything below fails, __gc has nothing to do. */
    LArena *la = lua_newuserdatauv(L, sizeof *la, nuv);
    la->tag = &lxb_arena_tag;
    la->a = NULL;
    la->pinned = 0;
    lua_pushvalue(L, mt);
    lua_setmetatable(L, -2);
    return la;
}

uint64_t lxb_next_key(lua_State *L)
{
    return lx_next_key(&lxb_getstate(L)->key_seed);
}

size_t lxb_opt_page_size(lua_State *L, int idx, int arg)
{
    lua_Integer v = (lua_Integer)LX_PAGE_BYTES;
    lxb_opt_integer(L, idx, "page_size", arg, &v);
    if (v < 0 || !lx_valid_page_size((size_t)v))
        lxb_argerror(L, arg, lua_pushfstring(L, "page_size must be a power of two from %I to %I, got %I",
                                             (lua_Integer)LX_MIN_PAGE, (lua_Integer)LX_MAX_PAGE, v));
    return (size_t)v;
}

size_t lxb_opt_max_bytes(lua_State *L, int idx, int arg)
{
    lua_Integer v;
    if (!lxb_opt_integer(L, idx, "max_bytes", arg, &v))
        return LX_NO_BUDGET;
    if (v < 0)
        lxb_argerror(L, arg, lua_pushfstring(L, "max_bytes must be a non-negative integer, got %I", v));
    return (size_t)v;
}

/* lexrt.arena([opts]) */
static int l_arena(lua_State *L)
{
    size_t page_size = LX_PAGE_BYTES, max_bytes = LX_NO_BUDGET;
    LArena *la;
    if (!lua_isnoneornil(L, 1)) {
        lxb_checktable(L, 1);
        lua_pushnil(L);
        while (lua_next(L, 1)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            if (k == NULL || (strcmp(k, "page_size") != 0 && strcmp(k, "max_bytes") != 0)) {
                lua_pushvalue(L, -2);
                lxb_argerror(L, 1, lua_pushfstring(L, "unknown option '%s'", luaL_tolstring(L, -1, NULL)));
            }
            lua_pop(L, 1);
        }
        page_size = lxb_opt_page_size(L, 1, 1);
        max_bytes = lxb_opt_max_bytes(L, 1, 1);
    }
    la = lxb_new_arena_object(L, 0, LX_UP_ARENA_MT);
    la->a = lx_arena_new(NULL, page_size, max_bytes, lxb_next_key(L));
    if (la->a == NULL)
        return lxb_nomem(L);
    return 1;
}

static size_t check_align(lua_State *L, int arg)
{
    lua_Integer align = lxb_optint(L, arg, (lua_Integer)LX_DEFAULT_ALIGN);
    if (align == (lua_Integer)LX_DEFAULT_ALIGN)
        return LX_DEFAULT_ALIGN;
    if (align < 1 || align > (lua_Integer)LX_MAX_ALIGN || (align & (align - 1)) != 0)
        lxb_argerror(L, arg, lua_pushfstring(L, "power of two from 1 to %I expected, got %I",
                                             (lua_Integer)LX_MAX_ALIGN, align));
    return (size_t)align;
}

/*
 * Arguments `narg` (size) and `narg + 1` (align) of an allocation, as
 * a:alloc and a bound allocator take them. Sizes follow Lua's own
 * convention ("24" is 24), as string.rep's do: one API call on the hottest
 * path. Neither conversion makes a Lua object unless it raises, so no
 * finaliser runs between opening the arena and allocating in it.
 */
LX_INLINE size_t check_size_align(lua_State *L, int narg, size_t *align)
{
    int isint;
    lua_Integer n = lua_tointegerx(L, narg, &isint);
    if (!isint)
        lxb_interror(L, narg);
    *align = lua_gettop(L) <= narg ? LX_DEFAULT_ALIGN : check_align(L, narg + 1);
    if (n < 0)
        lxb_argerror(L, narg, lua_pushfstring(L, "non-negative integer expected, got %I", n));
    return (size_t)n;
}

/* Allocates n zeroed bytes in `a` and pushes the handle. */
LX_INLINE int push_block(lua_State *L, lx_arena *a, size_t n, size_t align)
{
    /* A constant alignment folds into the fast path's mask. */
    lx_newblock b = align == LX_DEFAULT_ALIGN ? lx_arena_new_block(a, n, LX_DEFAULT_ALIGN)
                                              : lx_arena_new_block(a, n, align);
    if (b.p == NULL)
        return alloc_error(L, a, n);
    /* Recycled pages hold an earlier request's bytes: never show them. */
    lx_zero(b.p, n);
    lua_pushinteger(L, (lua_Integer)b.h);
    return 1;
}

static int a_alloc(lua_State *L)
{
    lx_arena *a = check_open(L);
    size_t align, n = check_size_align(L, 2, &align);
    return push_block(L, a, n, align);
}

/* alloc(n [, align]) from a:allocator(): the arena is upvalue 1, put
 * there by allocator, so there is no self argument to check, and no
 * method lookup in the caller. */
static int bound_alloc(lua_State *L)
{
    lx_arena *a = open_arena(L, lua_touserdata(L, lua_upvalueindex(1)));
    size_t align, n = check_size_align(L, 1, &align);
    return push_block(L, a, n, align);
}

/* a:allocator(): a function alloc(n [, align]) that does a:alloc(n, align). */
static int a_allocator(lua_State *L)
{
    check_open(L);
    lua_settop(L, 1);
    lua_pushcclosure(L, bound_alloc, 1);
    return 1;
}

static int a_put(lua_State *L)
{
    LArena *la = check_any(L);
    lx_arena *a;
    size_t n;
    const char *s;
    int64_t h;
    void *p;
    open_arena(L, la); /* a closed arena says so before any argument error */
    /* A number becomes a new string here: a finaliser may run. */
    s = lxb_checklstring(L, 2, &n);
    a = open_arena(L, la);
    p = lx_arena_alloc_h(a, n, 1, &h);
    if (p == NULL)
        return alloc_error(L, a, n);
    memcpy(p, s, n);
    lua_pushinteger(L, (lua_Integer)h);
    return 1;
}

/* The piece at list[i]: a string (*s set) or a live block of `a`. */
static size_t piece_len(lua_State *L, const lx_arena *a, lua_Integer i, const char **s)
{
    size_t n;
    int isint;
    lua_Integer h;
    switch (lua_rawgeti(L, 2, i)) {
    case LUA_TSTRING:
        *s = lua_tolstring(L, -1, &n);
        lua_pop(L, 1); /* still anchored in the list */
        return n;
    case LUA_TNUMBER:
        h = lua_tointegerx(L, -1, &isint);
        lua_pop(L, 1);
        if (isint) {
            const lx_block *b = lx_arena_lookup(a, h);
            if (b == NULL)
                return (size_t)lxb_argerror(
                    L, 2, lua_pushfstring(L, "stale or foreign arena handle at index %I", i));
            *s = NULL;
            return b->len;
        }
        break;
    default:
        lua_pop(L, 1);
        break;
    }
    return (size_t)lxb_argerror(L, 2, lua_pushfstring(L, "handle or string expected at index %I", i));
}

/*
 * a:concat(list): a new block holding the pieces of `list` in order, each
 * a handle of this arena or a string (cf. table.concat). Copies block to
 * block in C, so building a response from pieces makes no Lua garbage.
 * Nothing between the two passes can allocate (raw reads of the list,
 * strings already made), so no finaliser can change the arena there; an
 * argument error allocates, but raises before `a` is used again.
 */
static int a_concat(lua_State *L)
{
    lx_arena *a = check_open(L);
    lua_Integer i, n;
    size_t total = 0, len;
    const char *s = NULL;
    unsigned char *dst;
    int64_t h;
    lxb_checktable(L, 2);
    n = (lua_Integer)lua_rawlen(L, 2);
    for (i = 1; i <= n; i++) {
        len = piece_len(L, a, i, &s);
        if (len > SIZE_MAX - total)
            return lxb_nomem(L);
        total += len;
    }
    dst = lx_arena_alloc_h(a, total, 1, &h);
    if (dst == NULL)
        return alloc_error(L, a, total);
    /* Blocks never move, but the block table may have: look up again. */
    for (i = 1; i <= n; i++) {
        len = piece_len(L, a, i, &s);
        if (s == NULL) {
            lua_rawgeti(L, 2, i);
            s = (const char *)lx_arena_lookup(a, lua_tointeger(L, -1))->ptr;
            lua_pop(L, 1);
        }
        if (len > 0)
            memcpy(dst, s, len);
        dst += len;
    }
    lua_pushinteger(L, (lua_Integer)h);
    return 1;
}

static int a_size(lua_State *L)
{
    lx_arena *a = check_open(L);
    lua_pushinteger(L, (lua_Integer)check_block(L, a, 2)->len);
    return 1;
}

static int a_write(lua_State *L)
{
    LArena *la = check_any(L);
    lx_block *b;
    lua_Integer pos;
    size_t n;
    const char *s;
    open_arena(L, la); /* a closed arena says so before any argument error */
    lxb_checkint(L, 2);
    pos = lxb_checkint(L, 3);
    if (pos < 1)
        lxb_argerror(L, 3, lua_pushfstring(L, "position must be at least 1, got %I", pos));
    /* A number becomes a new string here: a finaliser may run, so the
     * arena and the block are looked up only afterwards. */
    s = lxb_checklstring(L, 4, &n);
    b = check_block(L, open_arena(L, la), 2);
    /* pos - 1 <= len and n <= len - (pos - 1): no overflow either way. */
    if ((size_t)(pos - 1) > b->len || n > b->len - (size_t)(pos - 1))
        lxb_argerror(L, 4, lua_pushfstring(L, "%I bytes at position %I cross the end of a %I-byte block",
                                           (lua_Integer)n, pos, (lua_Integer)b->len));
    memcpy(b->ptr + (pos - 1), s, n);
    return 0;
}

/* string.sub's index rules (lstrlib.c's posrelatI and getendpos). */
static size_t start_pos(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 1;
    return len + (size_t)pos + 1;
}

static size_t end_pos(lua_Integer pos, size_t len)
{
    if (pos > (lua_Integer)len)
        return len;
    if (pos >= 0)
        return (size_t)pos;
    if (pos < -(lua_Integer)len)
        return 0;
    return len + (size_t)pos + 1;
}

/* lua_pushlstring copies the bytes before it can run the collector. */
static int a_read(lua_State *L)
{
    lx_arena *a = check_open(L);
    lx_block *b = check_block(L, a, 2);
    size_t i = start_pos(lxb_optint(L, 3, 1), b->len);
    size_t j = end_pos(lxb_optint(L, 4, -1), b->len);
    if (i <= j)
        lua_pushlstring(L, (const char *)b->ptr + (i - 1), j - i + 1);
    else
        lua_pushliteral(L, "");
    return 1;
}

static int a_bytes_allocated(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lx_arena_bytes(check_open(L)));
    return 1;
}

static int a_page_count(lua_State *L)
{
    lx_stats s;
    lx_arena_stats(check_open(L), &s);
    lua_pushinteger(L, (lua_Integer)s.page_count);
    return 1;
}

static int a_stats(lua_State *L)
{
    lx_arena *a = check_open(L);
    lx_stats s;
    /* Copied before the table is made: a finaliser may close `a` then. */
    size_t page_size = a->page_size, max_bytes = a->max_bytes;
    lx_arena_stats(a, &s);
    lua_createtable(L, 0, 13);
    lxb_setint(L, "bytes_allocated", (lua_Integer)s.bytes_allocated);
    lxb_setint(L, "wasted", (lua_Integer)s.wasted);
    lxb_setint(L, "page_count", (lua_Integer)s.page_count);
    lxb_setint(L, "pages", (lua_Integer)s.pages);
    lxb_setint(L, "chunks", (lua_Integer)s.chunks);
    lxb_setint(L, "allocs", (lua_Integer)s.allocs);
    lxb_setint(L, "large_allocs", (lua_Integer)s.large_allocs);
    lxb_setint(L, "capacity", (lua_Integer)s.capacity);
    lxb_setint(L, "peak_bytes", (lua_Integer)s.peak_bytes);
    lxb_setint(L, "resets", (lua_Integer)s.resets);
    lxb_setint(L, "page_size", (lua_Integer)page_size);
    if (max_bytes != LX_NO_BUDGET)
        lxb_setint(L, "max_bytes", (lua_Integer)max_bytes);
    return 1;
}

/* A running isolate call lives in this arena: its memory must stay. */
static int busy_error(lua_State *L)
{
    return luaL_error(L, "isolate busy: a running isolate call is using this arena");
}

static int a_reset(lua_State *L)
{
    LArena *la = check_any(L);
    lx_arena *a = open_arena(L, la);
    if (la->pinned)
        return busy_error(L);
    lx_arena_reset(a);
    return 0;
}

static int a_close(lua_State *L)
{
    LArena *la = check_any(L);
    if (la->a != NULL && la->pinned)
        return busy_error(L);
    if (la->a != NULL) {
        lx_arena_free(la->a);
        la->a = NULL;
    }
    return 0;
}

static int a_is_closed(lua_State *L)
{
    lua_pushboolean(L, check_any(L)->a == NULL);
    return 1;
}

static int a_tostring(lua_State *L)
{
    LArena *la = check_any(L);
    lx_stats s;
    if (la->a == NULL) {
        lua_pushliteral(L, "lexrt.arena (closed)");
        return 1;
    }
    lx_arena_stats(la->a, &s); /* copied before the string is made */
    lua_pushfstring(L, "lexrt.arena(%I pages, %I bytes)", (lua_Integer)s.page_count,
                    (lua_Integer)s.bytes_allocated);
    return 1;
}

static const luaL_Reg arena_methods[] = {
    {"alloc", a_alloc},
    {"allocator", a_allocator},
    {"put", a_put},
    {"concat", a_concat},
    {"size", a_size},
    {"write", a_write},
    {"read", a_read},
    {"bytes_allocated", a_bytes_allocated},
    {"page_count", a_page_count},
    {"stats", a_stats},
    {"reset", a_reset},
    {"close", a_close},
    {"is_closed", a_is_closed},
    {NULL, NULL},
};

static const luaL_Reg arena_meta[] = {
    {"__close", a_close},
    {"__tostring", a_tostring},
    {"__gc", a_close},
    {NULL, NULL},
};

static const luaL_Reg arena_funcs[] = {
    {"arena", l_arena},
    {NULL, NULL},
};

void lxb_open_arena(lua_State *L, int up)
{
    int mt = up + LXB_ARENA_MT, scope_mt = up + LXB_SCOPE_MT;
    lxb_state *st = lua_touserdata(L, up + LXB_STATE);
    /* Keys need only differ between arenas, not be secret: any varying
     * seed will do. */
    st->key_seed = (uint64_t)(uintptr_t)L ^ ((uint64_t)time(NULL) << 20) ^ (uint64_t)clock();
    lxb_set_metatable(L, mt, arena_methods, arena_meta, "lexrt.arena", up);
    /* A scope's arena: the same methods (the same __index table), no __gc,
     * and the arena's name in type errors. */
    lua_getfield(L, mt, "__index");
    lua_setfield(L, scope_mt, "__index");
    lua_pushvalue(L, scope_mt);
    lxb_setfuncs(L, arena_meta, up);
    lua_pushnil(L);
    lua_setfield(L, -2, "__gc");
    lua_pushliteral(L, "lexrt.arena");
    lua_setfield(L, -2, "__name");
    lua_pushliteral(L, "lexrt.arena");
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);
    lxb_setfuncs(L, arena_funcs, up);
}
