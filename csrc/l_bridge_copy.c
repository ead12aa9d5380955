/*
 * Deep copies between two Lua states (see l_bridge.h for what crosses):
 * the value copier half of the bridge. It is apart from l_bridge.c (the
 * effects and errors, which call it) because it is a walk of its own,
 * with its own cost model, that knows nothing of isolates or handlers;
 * l_bridge.h stays the one interface of both.
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
