/*
 * Deep copies between two Lua states (see l_bridge.h for what crosses).
 *
 * The walk is a loop over an explicit stack kept on the Lua stacks
 * themselves. For the table at depth k:
 *   from: fbase + 1 + 2k  the source table,  fbase + 2 + 2k  its lua_next key
 *   to:   tbase + 2 + 2k  the copy,          tbase + 3 + 2k  the copied key
 * (tbase + 1 holds the memo). Descending pushes two slots on each side,
 * finishing a table pops them and stores the copy in its parent. Only
 * raw access is used (lua_next, lua_rawset): no metamethod runs, so no
 * code of either state runs while a copy is under way, and reading the
 * source allocates nothing in the source state.
 *
 * The memo maps a source object's address (lua_topointer) to its copy:
 * tables (false while under way: meeting one again then is a cycle) and
 * long strings. The addresses are stable for the whole walk: every source
 * object is reachable from the value being copied, which nothing changes
 * while the walk runs, and the source state's collector cannot run (the
 * walk allocates nothing there). Short strings are not memoised: Lua
 * interns them, so pushing one again makes nothing new.
 *
 * The budget. What the walk allocates in `to` is charged before it is
 * allocated: a table, with its array slots and hash nodes as
 * lua_createtable sizes them, and a long string, once (a memo hit costs
 * nothing). Short strings are not charged: each distinct one in the copy
 * is a distinct one in the source, which paid for it, so what they add
 * is bounded by the source's own size, and charging every use of an
 * interned key ("name" in ten thousand records) would count what is
 * never allocated. The memo's own entries are not charged: they are
 * temporary and fewer than the tables and long strings they stand for.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "l_bridge.h"
#include "l_isolate.h"
#include "l_isolib.h"

/* What Lua 5.4 allocates on a 64-bit machine (lobject.h: sizeof(Table),
 * sizeof(TValue), sizeof(Node), sizeof(TString) + the terminating NUL):
 * the charges against a budget. */
#define COST_TABLE 56
#define COST_ARRAY_SLOT 16
#define COST_NODE 24
#define COST_STRING 25
/* Longer strings are not interned (LUAI_MAXSHORTLEN): each push of one
 * makes a new string, so they go through the memo. */
#define SHORT_STRING 40

/* One walk. */
typedef struct Copy {
    lua_State *from, *to, *err;
    const lxc_where *w;
    lxc_budget *b; /* NULL: no bound */
    int fbase;     /* from's top before the walk */
    int memo;      /* the memo's index in `to`; 0 while there is none */
} Copy;

static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

static size_t mul_sat(size_t a, size_t b)
{
    return b != 0 && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

/* "result 1", "argument 2 to io.write", "error value". */
static void add_where(luaL_Buffer *b, const lxc_where *w)
{
    luaL_addstring(b, w->what);
    if (w->n > 0) {
        char num[32];
        (void)snprintf(num, sizeof num, " %d", w->n);
        luaL_addstring(b, num);
    }
    if (w->link != NULL) {
        luaL_addstring(b, w->link);
        luaL_addstring(b, w->kind);
        luaL_addchar(b, '.');
        luaL_addstring(b, w->op);
    }
}

/* Raises "cannot copy <where>: more than <max> bytes to copy (<option>)". */
static void over_budget(const Copy *c)
{
    luaL_Buffer b;
    char num[64];
    luaL_buffinit(c->err, &b);
    luaL_addstring(&b, "cannot copy ");
    add_where(&b, c->w);
    (void)snprintf(num, sizeof num, ": more than %.0f bytes to copy (", (double)c->b->max);
    luaL_addstring(&b, num);
    luaL_addstring(&b, c->b->option);
    luaL_addchar(&b, ')');
    luaL_pushresult(&b);
    lua_error(c->err);
}

/* Charges n bytes, or raises before anything is allocated. */
static void charge(const Copy *c, size_t n)
{
    if (c->b == NULL)
        return;
    if (n > c->b->left)
        over_budget(c);
    c->b->left -= n;
}

/* What lua_createtable(narr, nrec) allocates: the hash part is rounded up
 * to a power of two. */
static size_t table_cost(size_t narr, size_t nrec)
{
    size_t nodes = 0;
    if (nrec > 0)
        for (nodes = 1; nodes < nrec; nodes *= 2)
            ;
    return add_sat(add_sat(COST_TABLE, mul_sat(narr, COST_ARRAY_SLOT)), mul_sat(nodes, COST_NODE));
}

/* Copies a value that is not a table; 0 if it cannot cross. */
static int push_scalar(const Copy *c, int i, int t)
{
    lua_State *from = c->from, *to = c->to;
    size_t n;
    const char *s;
    const void *p;
    switch (t) {
    case LUA_TNIL:
        lua_pushnil(to);
        return 1;
    case LUA_TBOOLEAN:
        lua_pushboolean(to, lua_toboolean(from, i));
        return 1;
    case LUA_TNUMBER:
        if (lua_isinteger(from, i))
            lua_pushinteger(to, lua_tointeger(from, i));
        else
            lua_pushnumber(to, lua_tonumber(from, i));
        return 1;
    case LUA_TSTRING:
        /* The source string stays anchored on its own stack, and an
         * allocation in `to` can never collect anything in `from`. */
        s = lua_tolstring(from, i, &n);
        if (n <= SHORT_STRING) {
            lua_pushlstring(to, s, n);
            return 1;
        }
        p = lua_topointer(from, i);
        if (c->memo != 0) {
            if (lua_rawgetp(to, c->memo, p) == LUA_TSTRING)
                return 1; /* copied already: share the copy */
            lua_pop(to, 1);
        }
        charge(c, add_sat(n, COST_STRING));
        lua_pushlstring(to, s, n);
        if (c->memo != 0) {
            lua_pushvalue(to, -1);
            lua_rawsetp(to, c->memo, p);
        }
        return 1;
    default:
        return 0;
    }
}

static int is_name(const char *s, size_t n)
{
    size_t i;
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

/* One step of a path: .name, ["other key"], [3], [1.5], [true]. */
static void add_key(luaL_Buffer *b, lua_State *from, int i)
{
    char num[64];
    size_t n;
    const char *s;
    switch (lua_type(from, i)) {
    case LUA_TSTRING:
        s = lua_tolstring(from, i, &n);
        if (is_name(s, n)) {
            luaL_addchar(b, '.');
            luaL_addlstring(b, s, n);
        } else {
            luaL_addstring(b, "[\"");
            luaL_addlstring(b, s, n > 40 ? 40 : n);
            luaL_addstring(b, n > 40 ? "...\"]" : "\"]");
        }
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(from, i))
            (void)snprintf(num, sizeof num, "[" LUA_INTEGER_FMT "]", (LUAI_UACINT)lua_tointeger(from, i));
        else
            (void)snprintf(num, sizeof num, "[%.14g]", (double)lua_tonumber(from, i));
        luaL_addstring(b, num);
        break;
    case LUA_TBOOLEAN:
        luaL_addstring(b, lua_toboolean(from, i) ? "[true]" : "[false]");
        break;
    default:
        luaL_addstring(b, "[?]");
        break;
    }
}

/* Path steps shown at most; a deeper path ends in "...". */
#define PATH_STEPS 16

/*
 * Raises "cannot copy <what> (<where> <path>)" in `err`. The path is the
 * keys of the first `steps` levels of the walk (read from `from`'s stack).
 */
static void fail(const Copy *c, int steps, const char *what)
{
    luaL_Buffer b;
    int k;
    luaL_buffinit(c->err, &b);
    luaL_addstring(&b, "cannot copy ");
    luaL_addstring(&b, what);
    luaL_addstring(&b, " (");
    add_where(&b, c->w);
    if (steps > 0)
        luaL_addchar(&b, ' ');
    for (k = 0; k < steps && k < PATH_STEPS; k++)
        add_key(&b, c->from, c->fbase + 2 + 2 * k);
    if (steps > PATH_STEPS)
        luaL_addstring(&b, "...");
    luaL_addchar(&b, ')');
    luaL_pushresult(&b);
    lua_error(c->err);
}

static const char *a_type(lua_State *L, int t)
{
    switch (t) {
    case LUA_TFUNCTION:
        return "a function";
    case LUA_TUSERDATA:
    case LUA_TLIGHTUSERDATA:
        return "a userdata";
    case LUA_TTHREAD:
        return "a thread";
    default:
        return lua_typename(L, t);
    }
}

/* Copies a table key (strings, numbers, booleans); 0 if it cannot cross. */
static int push_key(const Copy *c, int i, int t)
{
    return t != LUA_TNIL && push_scalar(c, i, t);
}

/* Starts the copy of the table at from's top: an empty table on `to`
 * sized like the source (and charged as such), marked "under way" in the
 * memo (a cycle is a table met again while it is under way). */
static void open_table(const Copy *c)
{
    lua_State *from = c->from, *to = c->to;
    int ft = lua_gettop(from);
    lua_Integer n = 0;
    size_t len = lua_rawlen(from, ft);
    lua_pushnil(from);
    while (lua_next(from, ft)) {
        n++;
        lua_pop(from, 1);
    }
    if (len > (size_t)n)
        len = (size_t)n;
    if (len > 0x7fffffff)
        len = 0x7fffffff;
    if (n - (lua_Integer)len > 0x7fffffff)
        n = (lua_Integer)len + 0x7fffffff;
    charge(c, table_cost(len, (size_t)(n - (lua_Integer)len)));
    lua_pushboolean(to, 0);
    lua_rawsetp(to, c->memo, lua_topointer(from, ft));
    lua_createtable(to, (int)len, (int)(n - (lua_Integer)len));
    lua_pushnil(from); /* the first lua_next key */
}

void lxc_copy_bounded(lua_State *from, int idx, lua_State *to, lua_State *err, const lxc_where *w,
                      lxc_budget *b)
{
    Copy c;
    int tbase, depth = 0, t;
    c.from = from;
    c.to = to;
    c.err = err;
    c.w = w;
    c.b = b;
    c.memo = 0;
    idx = lua_absindex(from, idx);
    c.fbase = lua_gettop(from);
    t = lua_type(from, idx);
    luaL_checkstack(to, 4, "copying a value");
    if (t != LUA_TTABLE) {
        if (!push_scalar(&c, idx, t))
            fail(&c, 0, a_type(err, t));
        return;
    }
    luaL_checkstack(from, 6, "copying a table");
    tbase = lua_gettop(to);
    lua_newtable(to); /* the memo: source address -> copy, or false while under way */
    c.memo = tbase + 1;
    lua_pushvalue(from, idx);
    open_table(&c);
    for (;;) {
        int ft = c.fbase + 1 + 2 * depth, tt = tbase + 2 + 2 * depth;
        if (lua_next(from, ft)) { /* from: ... table key value */
            int kt = lua_type(from, -2), vt = lua_type(from, -1);
            luaL_checkstack(to, 6, "copying a table");
            if (!push_key(&c, -2, kt)) {
                lua_pushfstring(err, "%s used as a key", kt == LUA_TTABLE ? "a table" : a_type(err, kt));
                fail(&c, depth, lua_tostring(err, -1));
            }
            if (vt != LUA_TTABLE) {
                if (!push_scalar(&c, -1, vt))
                    fail(&c, depth + 1, a_type(err, vt));
                lua_rawset(to, tt);
                lua_pop(from, 1);
                continue;
            }
            switch (lua_rawgetp(to, c.memo, lua_topointer(from, -1))) {
            case LUA_TTABLE: /* copied already: share the copy */
                lua_rawset(to, tt);
                lua_pop(from, 1);
                continue;
            case LUA_TBOOLEAN:
                fail(&c, depth + 1, "a cyclic table");
                break;
            default:
                lua_pop(to, 1);
                break;
            }
            if (depth + 1 >= LXC_MAX_DEPTH) {
                lua_pushfstring(err, "a table nested more than %d levels deep", LXC_MAX_DEPTH);
                fail(&c, depth + 1, lua_tostring(err, -1));
            }
            luaL_checkstack(from, 6, "copying a table");
            open_table(&c); /* the value is the next level's table */
            depth++;
        } else { /* from: ... table; to: ... copy */
            lua_pushvalue(to, tt);
            lua_rawsetp(to, c.memo, lua_topointer(from, ft));
            lua_pop(from, 1);
            if (depth == 0)
                break;
            depth--;
            lua_rawset(to, tbase + 2 + 2 * depth); /* parent[key] = copy */
        }
    }
    lua_remove(to, c.memo);
}

void lxc_copy(lua_State *from, int idx, lua_State *to, lua_State *err, const lxc_where *w)
{
    lxc_copy_bounded(from, idx, to, err, w, NULL);
}

/* ================================================== effects and errors
 *
 * An effect: the closure in the isolate (iso_effect) runs effect_body
 * under a pcall of the isolate's, which copies the arguments onto the
 * host, calls the handler's gate there under the host's pcall, and copies
 * the results back. A host error is kept in the host (LXC_UV_PENDING,
 * keyed by the address of the marker raised in the isolate, a copy of
 * the error when it can cross); when that marker ends the call,
 * lxc_raise_error raises the original value.
 */

/* Whether the host value at idx is a policy violation: its metatable is
 * lua/lexrt/policy.lua's Violation, the only one named lexrt.violation. */
static int is_violation(lua_State *L, int idx)
{
    int yes = 0, t = luaL_getmetafield(L, idx, "__name");
    if (t == LUA_TSTRING)
        yes = strcmp(lua_tostring(L, -1), "lexrt.violation") == 0;
    if (t != LUA_TNIL) /* getmetafield pushed the field */
        lua_pop(L, 1);
    return yes;
}

/* Raised inside the isolate when an effect's host error cannot be copied. */
static int effect_marker_fallback(lua_State *T, const char *kind, const char *op, int type)
{
    lua_pushfstring(T, "%s.%s raised an error (a %s) that cannot enter the isolate", kind, op,
                    lua_typename(T, type));
    return 1;
}

/* isolate: copy_marker(index): a copy of the host value at that index. */
static int copy_marker(lua_State *T)
{
    lxc_where w = {"error value", 0, NULL, NULL, NULL};
    lxc_copy(lxb_iso_link(T)->host, (int)lua_tointeger(T, 1), T, T, &w);
    return 1;
}

/*
 * An effect's host error (on the host's top): keep it in the host and
 * raise a marker in the isolate, a copy of it when it can cross. Code in
 * the isolate can catch the marker like any error; if it reaches
 * iso_call, the original host value is raised there.
 */
static int effect_failed(lua_State *T, lua_State *L, const char *kind, const char *op)
{
    int err = lua_gettop(L), st;
    const void *marker;
    lua_pushcfunction(T, copy_marker);
    lua_pushinteger(T, err);
    st = lua_pcall(T, 1, 1, 0);
    if (st == LUA_ERRMEM)
        return lua_error(T);
    if (st != LUA_OK) {
        lua_pop(T, 1);
        effect_marker_fallback(T, kind, op, lua_type(L, err));
    } else if (lua_type(T, -1) == LUA_TTABLE && is_violation(L, err)) {
        lxb_isolib_mark_violation(T, -1);
    }
    marker = lua_topointer(T, -1);
    if (marker != NULL) { /* a table or string; other values are their own copies */
        if (lua_getiuservalue(L, 1, LXC_UV_PENDING) != LUA_TTABLE) {
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushvalue(L, -1);
            lua_setiuservalue(L, 1, LXC_UV_PENDING);
        }
        lua_pushvalue(L, err);
        lua_rawsetp(L, -2, marker);
    }
    return lua_error(T);
}

/* isolate: effect_body(kind, op, args...), under iso_effect's pcall. */
static int effect_body(lua_State *T)
{
    const lxc_link *link = lxb_iso_link(T);
    lua_State *L = link->host;
    int n = lua_gettop(T) - 2, i, base, nres;
    const char *kind = lua_tostring(T, 1), *op = lua_tostring(T, 2);
    lxc_where w = {"argument", 0, " to ", kind, op};
    lxc_budget b = {link->max_copy_bytes, link->max_copy_bytes, "max_copy_bytes"};
    luaL_checkstack(L, n + 8, "too many effect arguments");
    base = lua_gettop(L);
    lua_getiuservalue(L, 1, LXC_UV_GATE); /* gate(kind, op, args...) */
    lua_pushstring(L, kind);
    lua_pushstring(L, op);
    for (i = 1; i <= n; i++) {
        w.n = i;
        lxc_copy_bounded(T, i + 2, L, T, &w, &b);
    }
    /* Not lua_pcallk: an effect that yields raises, as nothing may
     * yield across iso:call. */
    if (lua_pcall(L, n + 2, LUA_MULTRET, 0) != LUA_OK)
        return effect_failed(T, L, kind, op);
    nres = lua_gettop(L) - base;
    luaL_checkstack(T, nres + LUA_MINSTACK, "too many effect results");
    w.what = "result";
    w.link = " of ";
    for (i = 1; i <= nres; i++) {
        w.n = i;
        lxc_copy(L, base + i, T, T, &w);
    }
    return nres;
}

/*
 * The function behind every effect in the isolate; upvalues: kind, op.
 * The work runs under a pcall of the isolate's so that, whatever
 * happens, the host's stack is put back before the isolate goes on.
 */
static int iso_effect(lua_State *T)
{
    lua_State *L = lxb_iso_link(T)->host;
    int base, st;
    if (L == NULL)
        return luaL_error(T, "effects are available only while the isolate runs");
    luaL_checkstack(T, 3, "calling an effect");
    base = lua_gettop(L);
    lua_pushcfunction(T, effect_body);
    lua_pushvalue(T, lua_upvalueindex(1));
    lua_pushvalue(T, lua_upvalueindex(2));
    lua_rotate(T, 1, 3);
    st = lua_pcall(T, lua_gettop(T) - 1, LUA_MULTRET, 0);
    lua_settop(L, base);
    if (st != LUA_OK)
        return lua_error(T);
    return lua_gettop(T);
}

void lxc_set_effects(lua_State *S, lua_State *L, int effects)
{
    lua_pushnil(L);
    while (lua_next(L, effects)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE) {
            const char *kind = lua_tostring(L, -2);
            if (lua_getglobal(S, kind) != LUA_TNIL)
                luaL_error(S, "effect kind '%s' would hide the isolate's global of that name", kind);
            lua_pop(S, 1);
            lua_newtable(S);
            lua_pushnil(L);
            while (lua_next(L, -2)) {
                if (lua_type(L, -2) == LUA_TSTRING) {
                    lua_pushstring(S, kind);
                    lua_pushstring(S, lua_tostring(L, -2));
                    lua_pushcclosure(S, iso_effect, 2);
                    lua_setfield(S, -2, lua_tostring(L, -2));
                }
                lua_pop(L, 1);
            }
            lua_setglobal(S, kind);
        }
        lua_pop(L, 1);
    }
}

/* isolate: copy_error(err): the error value, copied onto the host. */
static int copy_error(lua_State *S)
{
    const lxc_link *link = lxb_iso_link(S);
    lxc_where w = {"error value", 0, NULL, NULL, NULL};
    lxc_budget b = {link->max_copy_bytes, link->max_copy_bytes, "max_copy_bytes"};
    lxc_copy_bounded(S, 1, link->host, S, &w, &b);
    return 0;
}


int lxc_raise_error(lua_State *L, lua_State *S)
{
    const void *marker = lua_topointer(S, -1);
    int top = lua_gettop(L), t;
    if (marker != NULL && lua_getiuservalue(L, 1, LXC_UV_PENDING) == LUA_TTABLE &&
        lua_rawgetp(L, -1, marker) != LUA_TNIL)
        return lua_error(L);
    lua_settop(L, top);
    t = lua_type(S, -1);
    if (t == LUA_TNIL || t == LUA_TBOOLEAN || t == LUA_TNUMBER || t == LUA_TSTRING) {
        /* A plain value crosses without touching the isolate's state. */
        lxc_where w = {"error value", 0, NULL, NULL, NULL};
        luaL_checkstack(L, 2, NULL);
        lxc_copy(S, -1, L, S, &w);
        return lua_error(L);
    }
    lua_pushcfunction(S, copy_error);
    lua_insert(S, -2);
    if (lua_pcall(S, 1, 0, 0) != LUA_OK) {
        lua_settop(L, top);
        if (lua_type(S, -1) == LUA_TSTRING)
            lua_pushstring(L, lua_tostring(S, -1));
        else
            lua_pushliteral(L, "the isolate's error value cannot be copied");
    }
    return lua_error(L);
}
