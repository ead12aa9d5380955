/*
 * The isolate's string.find, match, gmatch and gsub (l_strmatch.h).
 *
 * They behave as Lua 5.4.4's: the same arguments (checked with the same
 * luaL_* calls, so the same messages), the same results, the same
 * errors. Only the matching is lexrt's (pattern.c), and it stops every
 * LXS_CHUNK steps to charge them to the call's budget; lxb_iso_charge
 * raises the budget's stop from inside, and nothing here holds anything
 * that an error unwinding through these frames could leak: the matcher
 * lives on the C stack, the result buffer is a luaL_Buffer on the Lua
 * stack, and the subject and pattern are strings held at stack slots (or
 * upvalues, for gmatch) for as long as the function runs.
 */
#include "l_strmatch.h"

#include <ctype.h>
#include <string.h>

#include <lauxlib.h>

#include "l_isolate.h"
#include "pattern.h"

/* Lua's reading of an initial position: negative counts from the end,
 * the result is clipped to [1, inf). */
static size_t start_pos(lua_Integer pos, size_t len)
{
    if (pos > 0)
        return (size_t)pos;
    if (pos == 0 || pos < -(lua_Integer)len)
        return 1;
    return len - (size_t)(-(pos + 1)); /* len + pos + 1 without overflow */
}

/* Runs the search begun on m to its end, a chunk at a time, charging
 * each chunk; raises the pattern's error as Lua words it. */
static int search(lua_State *L, lxp_matcher *m)
{
    int r;
    do {
        r = lxp_run(m, LXS_CHUNK);
        lxb_iso_charge(L, (lua_Integer)m->used);
    } while (r == LXP_LIMIT);
    if (r == LXP_ERROR) {
        char buf[64];
        luaL_error(L, "%s", lxp_message(m, buf, sizeof buf));
    }
    return r;
}

/* Capture i of the match m (0: the whole match when there is none):
 * pushes a position capture and returns LXP_CAP_POSITION, else returns
 * the text's length with *text pointing at it. */
static ptrdiff_t get_capture(lua_State *L, const lxp_matcher *m, int i, const char **text)
{
    ptrdiff_t len;
    if (i >= m->level) {
        if (i != 0)
            luaL_error(L, "invalid capture index %%%d", i + 1);
        *text = (const char *)m->src + m->start;
        return (ptrdiff_t)(m->end - m->start);
    }
    len = m->capture[i].len;
    *text = (const char *)m->src + m->capture[i].init;
    if (len == LXP_CAP_UNFINISHED)
        luaL_error(L, "unfinished capture");
    else if (len == LXP_CAP_POSITION)
        lua_pushinteger(L, (lua_Integer)m->capture[i].init + 1);
    return len;
}

static void push_capture(lua_State *L, const lxp_matcher *m, int i)
{
    const char *text;
    ptrdiff_t len = get_capture(L, m, i, &text);
    if (len != LXP_CAP_POSITION)
        lua_pushlstring(L, text, (size_t)len);
}

/* Pushes the captures, or (with `whole`, when there are none) the whole
 * match; returns how many. */
static int push_captures(lua_State *L, const lxp_matcher *m, int whole)
{
    int i, n = (m->level == 0 && whole) ? 1 : m->level;
    luaL_checkstack(L, n, "too many captures");
    for (i = 0; i < n; i++)
        push_capture(L, m, i);
    return n;
}

/* ------------------------------------------------------------------ find, match */

static int find_aux(lua_State *L, int find)
{
    size_t ls, lp, init;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    init = start_pos(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || lxp_nospecials(p, lp))) {
        lxp_plain f;
        int r;
        lxp_plain_init(&f, s, ls, init, p, lp);
        do {
            r = lxp_plain_run(&f, LXS_CHUNK);
            lxb_iso_charge(L, (lua_Integer)f.used);
        } while (r == LXP_LIMIT);
        if (r == LXP_MATCH) {
            lua_pushinteger(L, (lua_Integer)f.at + 1);
            lua_pushinteger(L, (lua_Integer)f.at + (lua_Integer)lp);
            return 2;
        }
    } else {
        lxp_matcher m;
        int anchor = *p == '^'; /* p[lp] is '\0': safe when lp is 0 */
        lxp_init(&m, s, ls, p + anchor, lp - (size_t)anchor);
        lxp_begin(&m, init, anchor);
        if (search(L, &m) == LXP_MATCH) {
            if (!find)
                return push_captures(L, &m, 1);
            lua_pushinteger(L, (lua_Integer)m.start + 1);
            lua_pushinteger(L, (lua_Integer)m.end);
            return push_captures(L, &m, 0) + 2;
        }
    }
    luaL_pushfail(L);
    return 1;
}

static int str_find(lua_State *L)
{
    return find_aux(L, 1);
}

static int str_match(lua_State *L)
{
    return find_aux(L, 0);
}

/* ------------------------------------------------------------------ gmatch */

/* Where a gmatch iteration goes on from (upvalue 3). */
typedef struct gm_state {
    size_t at;
    size_t lastmatch; /* end of the last match; valid when matched */
    int matched;
} gm_state;

static int gmatch_next(lua_State *L)
{
    size_t ls, lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
    gm_state *g = lua_touserdata(L, lua_upvalueindex(3));
    lxp_matcher m;
    size_t at = g->at;
    lxp_init(&m, s, ls, p, lp);
    while (at <= ls) {
        lxp_begin(&m, at, 0);
        if (search(L, &m) != LXP_MATCH)
            return 0;
        if (g->matched && m.end == g->lastmatch) {
            /* The empty match right where the last one ended: skipped. */
            at = m.start + 1;
            continue;
        }
        g->at = g->lastmatch = m.end;
        g->matched = 1;
        return push_captures(L, &m, 1);
    }
    return 0;
}

static int str_gmatch(lua_State *L)
{
    size_t ls, lp, init;
    gm_state *g;
    luaL_checklstring(L, 1, &ls);
    luaL_checklstring(L, 2, &lp);
    init = start_pos(luaL_optinteger(L, 3, 1), ls) - 1;
    lua_settop(L, 2);
    g = lua_newuserdatauv(L, sizeof *g, 0);
    g->at = init > ls ? ls + 1 : init;
    g->lastmatch = 0;
    g->matched = 0;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* ------------------------------------------------------------------ gsub */

/* Appends the replacement string (argument 3) for match m. */
static void add_string(lua_State *L, const lxp_matcher *m, luaL_Buffer *b)
{
    size_t l;
    const char *r = lua_tolstring(L, 3, &l), *end = r + l, *esc;
    lxb_iso_charge(L, 1 + (lua_Integer)(l / 16));
    while ((esc = memchr(r, '%', (size_t)(end - r))) != NULL) {
        int c = (unsigned char)esc[1]; /* at the end, the string's '\0' */
        luaL_addlstring(b, r, (size_t)(esc - r));
        if (c == '%') {
            luaL_addchar(b, '%');
        } else if (c == '0') {
            luaL_addlstring(b, (const char *)m->src + m->start, m->end - m->start);
        } else if (isdigit(c)) {
            const char *text;
            ptrdiff_t len = get_capture(L, m, c - '1', &text);
            if (len == LXP_CAP_POSITION)
                luaL_addvalue(b);
            else
                luaL_addlstring(b, text, (size_t)len);
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", '%');
        }
        r = esc + 2;
    }
    luaL_addlstring(b, r, (size_t)(end - r));
}

/* Appends what replaces match m; 1 when that changed something. */
static int add_value(lua_State *L, const lxp_matcher *m, luaL_Buffer *b, int tr)
{
    if (tr == LUA_TFUNCTION) {
        int n;
        lxb_iso_charge(L, 1);
        lua_pushvalue(L, 3);
        n = push_captures(L, m, 1);
        lua_call(L, n, 1);
    } else if (tr == LUA_TTABLE) {
        lxb_iso_charge(L, 1);
        push_capture(L, m, 0);
        lua_gettable(L, 3);
    } else {
        add_string(L, m, b);
        return 1;
    }
    if (!lua_toboolean(L, -1)) { /* nil or false: keep the match */
        lua_pop(L, 1);
        luaL_addlstring(b, (const char *)m->src + m->start, m->end - m->start);
        return 0;
    }
    if (!lua_isstring(L, -1))
        return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

static int str_gsub(lua_State *L)
{
    size_t ls, lp, at = 0, lastmatch = 0;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int tr = lua_type(L, 3);
    lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)ls + 1), n = 0;
    int anchor = *p == '^', changed = 0, matched = 0;
    lxp_matcher m;
    luaL_Buffer b;
    luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE,
                     3, "string/function/table");
    luaL_buffinit(L, &b);
    lxp_init(&m, s, ls, p + anchor, lp - (size_t)anchor);
    /* Each round: the first match from `at` on (only at `at` when
     * anchored); the bytes before it are copied as they are. */
    while (n < max_n) {
        int r;
        lxp_begin(&m, at, anchor);
        r = search(L, &m);
        if (r != LXP_MATCH)
            break; /* the rest is copied below */
        luaL_addlstring(&b, s + at, m.start - at);
        at = m.start;
        if (!matched || m.end != lastmatch) {
            n++;
            changed |= add_value(L, &m, &b, tr);
            at = lastmatch = m.end;
            matched = 1;
        } else if (at < ls) {
            /* The empty match right where the last one ended: skip a byte. */
            luaL_addchar(&b, s[at]);
            at++;
        } else {
            break;
        }
        if (anchor)
            break;
    }
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, s + at, ls - at);
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

void lxb_strmatch_install(lua_State *S)
{
    static const luaL_Reg fns[] = {
        {"find", str_find},
        {"match", str_match},
        {"gmatch", str_gmatch},
        {"gsub", str_gsub},
        {NULL, NULL},
    };
    luaL_setfuncs(S, fns, 0);
}
