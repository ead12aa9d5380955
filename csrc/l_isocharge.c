/*
 * The wrappers that make an isolate's max_instructions a hard bound on
 * the whole call, installed by l_isolib.c when the isolate has one; the
 * utf8 library's are in l_isoutf8.c, string.find, match, gmatch and
 * gsub in l_strmatch.c.
 *
 * What one instruction is. The count hook counts VM instructions. A
 * library function is one instruction (its OP_CALL) plus its charge,
 * paid through lxb_iso_charge BEFORE the work it stands for, in units
 * measured to cost about what a VM instruction costs (docs/API.md has
 * the table; bench/isolate_bench.lua the figures):
 *   - O(1) work, or work proportional to bytes the function allocates
 *     (the arena never frees, so max_bytes bounds it): no charge;
 *   - elements moved, read or pushed (table.move, insert, remove,
 *     concat, unpack, select, string.byte, utf8.codepoint): PER_ELEMENT
 *     each;
 *   - table.sort: PER_SORT_STEP * n * ceil(log2 n);
 *   - bytes scanned one by one (utf8.len, utf8.offset, the utf8.codes
 *     iterator, tonumber of a string, pack formats, load's source):
 *     one per BYTES_SCANNED bytes;
 *   - bytes scanned or copied a word at a time (string.format's strlen
 *     of '%s' arguments, string.rep's copies, unpack's 'z'): one per
 *     BYTES_COPIED bytes.
 *
 * Wrappers call the original lua_CFunction directly (no lua_call), on the
 * wrapper's own frame, so argument errors name the function as before;
 * that is sound only for originals without upvalues, which
 * lxb_isocharge_wrap checks.
 *
 * Reimplemented, to call __len once only (a second call could answer a
 * larger length than the one charged): table.insert, table.remove,
 * table.concat.
 */
#include "l_isocharge.h"

#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "l_isolate.h"

/* A wrapper's upvalue 1: the original function. A full userdata, as ISO C
 * has no conversion between function and object pointers. */
typedef struct orig_fn {
    lua_CFunction f;
} orig_fn;

lua_CFunction lxb_isocharge_original(lua_State *T)
{
    const orig_fn *o = lua_touserdata(T, lua_upvalueindex(1));
    return o->f;
}

void lxb_isocharge_wrap(lua_State *S, lua_CFunction wrap, int extra)
{
    orig_fn *o;
    lua_CFunction f = lua_tocfunction(S, -1);
    if (f == NULL || lua_getupvalue(S, -1, 1) != NULL)
        luaL_error(S, "isolate set-up: cannot wrap a function with upvalues");
    lua_pop(S, 1);
    o = lua_newuserdatauv(S, sizeof *o, 0);
    o->f = f;
    lua_insert(S, -1 - extra);
    lua_pushcclosure(S, wrap, 1 + extra);
}

/* Bytes to charge units; never negative. */
static lua_Integer per_bytes(size_t n, size_t k)
{
    return (lua_Integer)(n / k);
}

/* ------------------------------------------------------------------ base */

/* Functions that scan their first argument byte by byte when it is a
 * string: tonumber's conversion, string.packsize's format. */
static int w_scan_first(lua_State *T)
{
    size_t len;
    if (lua_type(T, 1) == LUA_TSTRING) {
        (void)lua_tolstring(T, 1, &len);
        lxb_iso_charge(T, per_bytes(len, BYTES_SCANNED));
    }
    return lxb_isocharge_original(T)(T);
}

/* select: the '#' test is lbaselib's (any other string is converted to
 * an index, "1" as 1); a negative index is capped at the argument count
 * (-i would overflow for math.mininteger; lbaselib refuses it anyway). */
static int w_select(lua_State *T)
{
    lua_Integer n = lua_gettop(T), i;
    if (!(lua_type(T, 1) == LUA_TSTRING && *lua_tostring(T, 1) == '#') && (i = lua_tointeger(T, 1)) != 0) {
        lua_Integer results = i < 0 ? (i < -n ? n : -i) : n - i;
        if (results > 0)
            lxb_iso_charge(T, PER_ELEMENT * results);
    }
    return lxb_isocharge_original(T)(T);
}

static int w_rawequal(lua_State *T)
{
    size_t l1, l2;
    if (lua_type(T, 1) == LUA_TSTRING && lua_type(T, 2) == LUA_TSTRING) {
        (void)lua_tolstring(T, 1, &l1);
        (void)lua_tolstring(T, 2, &l2);
        if (l1 == l2)
            lxb_iso_charge(T, per_bytes(l1, BYTES_COPIED));
    }
    return lxb_isocharge_original(T)(T);
}

/* ------------------------------------------------------------------ string */

/* string.byte's range, as lstrlib reads it: the number of results. */
static lua_Integer byte_count(lua_State *T, size_t l)
{
    lua_Integer pi = luaL_optinteger(T, 2, 1), pe = luaL_optinteger(T, 3, pi), len = (lua_Integer)l;
    if (pi <= 0)
        pi = pi == 0 || pi < -len ? 1 : len + pi + 1;
    if (pe > len)
        pe = len;
    else if (pe < 0)
        pe = pe < -len ? 0 : len + pe + 1;
    return pi > pe ? 0 : pe - pi + 1;
}

static int w_byte(lua_State *T)
{
    size_t l;
    (void)luaL_checklstring(T, 1, &l);
    lxb_iso_charge(T, PER_ELEMENT * byte_count(T, l));
    return lxb_isocharge_original(T)(T);
}

/* string.rep: an empty piece makes "" at once (lstrlib would loop n
 * times copying nothing); otherwise the result is allocated first, so
 * max_bytes bounds it, and the copies are charged. */
static int w_rep(lua_State *T)
{
    size_t l, lsep;
    (void)luaL_checklstring(T, 1, &l);
    lua_Integer n = luaL_checkinteger(T, 2);
    (void)luaL_optlstring(T, 3, "", &lsep);
    if (n > 0 && l + lsep == 0) {
        lua_pushliteral(T, "");
        return 1;
    }
    if (n > 0 && l + lsep >= l && l + lsep <= (size_t)LUA_MAXINTEGER / (lua_Unsigned)n)
        lxb_iso_charge(T, (lua_Integer)((size_t)n * (l + lsep) / BYTES_COPIED));
    return lxb_isocharge_original(T)(T);
}

/* string.format: the format is scanned, and '%s' arguments are measured
 * (strlen) even when a precision copies little of them. */
static int w_format(lua_State *T)
{
    int i, n = lua_gettop(T);
    size_t len, total = 0;
    if (lua_type(T, 1) == LUA_TSTRING) {
        (void)lua_tolstring(T, 1, &len);
        total = len;
    }
    for (i = 2; i <= n; i++)
        if (lua_type(T, i) == LUA_TSTRING) {
            (void)lua_tolstring(T, i, &len);
            total += len / (BYTES_COPIED / BYTES_SCANNED);
        }
    lxb_iso_charge(T, per_bytes(total, BYTES_SCANNED));
    return lxb_isocharge_original(T)(T);
}

/* string.pack: the format is scanned, and each 'z' argument is measured
 * (strlen) before it is copied, so an argument with a zero near its end
 * costs its length and allocates nothing ("string contains zeros"). */
static int w_pack(lua_State *T)
{
    size_t lf;
    const char *fmt = lua_type(T, 1) == LUA_TSTRING ? lua_tolstring(T, 1, &lf) : NULL;
    if (fmt != NULL) {
        lxb_iso_charge(T, per_bytes(lf, BYTES_SCANNED));
        if (memchr(fmt, 'z', lf) != NULL) {
            size_t len, total = 0;
            int a, n = lua_gettop(T);
            for (a = 2; a <= n; a++)
                if (lua_type(T, a) == LUA_TSTRING) {
                    (void)lua_tolstring(T, a, &len);
                    total += len / BYTES_COPIED;
                }
            lxb_iso_charge(T, (lua_Integer)total);
        }
    }
    return lxb_isocharge_original(T)(T);
}

/* string.unpack: the format is scanned; each 'z' may measure the rest of
 * the data (strlen). */
static int w_unpack(lua_State *T)
{
    size_t lf, ld;
    const char *fmt = lua_type(T, 1) == LUA_TSTRING ? lua_tolstring(T, 1, &lf) : NULL;
    if (fmt != NULL) {
        size_t i, zs = 0;
        for (i = 0; i < lf; i++)
            zs += fmt[i] == 'z';
        lxb_iso_charge(T, per_bytes(lf, BYTES_SCANNED));
        if (zs > 0 && lua_type(T, 2) == LUA_TSTRING) {
            (void)lua_tolstring(T, 2, &ld);
            lua_Integer each = per_bytes(ld, BYTES_COPIED);
            lxb_iso_charge(T, each > 0 && (lua_Integer)zs > LUA_MAXINTEGER / each ? LUA_MAXINTEGER
                                                                              : (lua_Integer)zs * each);
        }
    }
    return lxb_isocharge_original(T)(T);
}

/* The string metatable's arithmetic (lstrlib's __add and the rest):
 * converting a string operand scans it (lua_stringtonumber), behind one
 * VM instruction. */
static int w_strarith(lua_State *T)
{
    size_t len, total = 0;
    int i;
    for (i = 1; i <= 2; i++)
        if (lua_type(T, i) == LUA_TSTRING) {
            (void)lua_tolstring(T, i, &len);
            total += len;
        }
    lxb_iso_charge(T, per_bytes(total, BYTES_SCANNED));
    return lxb_isocharge_original(T)(T);
}

static void wrap_strarith(lua_State *S)
{
    static const char *const events[] = {"__add", "__sub", "__mul", "__mod", "__pow",
                                         "__div", "__idiv", "__unm", NULL};
    int i;
    lua_pushliteral(S, "");
    if (!lua_getmetatable(S, -1)) {
        lua_pop(S, 1);
        return;
    }
    for (i = 0; events[i] != NULL; i++) {
        if (lua_getfield(S, -1, events[i]) != LUA_TFUNCTION || !lua_iscfunction(S, -1)) {
            lua_pop(S, 1);
            continue;
        }
        lxb_isocharge_wrap(S, w_strarith, 0);
        lua_setfield(S, -2, events[i]);
    }
    lua_pop(S, 2);
}

/* ------------------------------------------------------------------ table */

lua_Integer lxb_isocharge_elements(lua_Integer from, lua_Integer to)
{
    lua_Unsigned d;
    if (to < from)
        return 0;
    d = (lua_Unsigned)to - (lua_Unsigned)from;
    return d >= (lua_Unsigned)LUA_MAXINTEGER / PER_ELEMENT ? LUA_MAXINTEGER : PER_ELEMENT * (lua_Integer)(d + 1);
}

static int w_move(lua_State *T)
{
    lua_Integer f = luaL_checkinteger(T, 2), e = luaL_checkinteger(T, 3);
    lxb_iso_charge(T, lxb_isocharge_elements(f, e));
    return lxb_isocharge_original(T)(T);
}

/* table.insert(t, [pos,] v), charging the elements it shifts. */
static int w_insert(lua_State *T)
{
    lua_Integer pos, e, i;
    luaL_checktype(T, 1, LUA_TTABLE);
    e = luaL_len(T, 1);
    e = (lua_Integer)((lua_Unsigned)e + 1u); /* first empty element */
    switch (lua_gettop(T)) {
    case 2:
        pos = e;
        break;
    case 3:
        pos = luaL_checkinteger(T, 2);
        luaL_argcheck(T, (lua_Unsigned)pos - 1u < (lua_Unsigned)e, 2, "position out of bounds");
        lxb_iso_charge(T, lxb_isocharge_elements(pos + 1, e));
        for (i = e; i > pos; i--) {
            lua_geti(T, 1, i - 1);
            lua_seti(T, 1, i);
        }
        break;
    default:
        return luaL_error(T, "wrong number of arguments to 'insert'");
    }
    lua_seti(T, 1, pos);
    return 0;
}

/* table.remove(t [, pos]), charging the elements it shifts. */
static int w_remove(lua_State *T)
{
    lua_Integer size, pos;
    luaL_checktype(T, 1, LUA_TTABLE);
    size = luaL_len(T, 1);
    pos = luaL_optinteger(T, 2, size);
    if (pos != size)
        luaL_argcheck(T, (lua_Unsigned)pos - 1u <= (lua_Unsigned)size, 2, "position out of bounds");
    lxb_iso_charge(T, lxb_isocharge_elements(pos + 1, size));
    lua_geti(T, 1, pos);
    for (; pos < size; pos++) {
        lua_geti(T, 1, pos + 1);
        lua_seti(T, 1, pos);
    }
    lua_pushnil(T);
    lua_seti(T, 1, pos);
    return 1;
}

static void concat_field(lua_State *T, luaL_Buffer *b, lua_Integer i)
{
    lua_geti(T, 1, i);
    if (!lua_isstring(T, -1))
        luaL_error(T, "invalid value (%s) at index %I in table for 'concat'", luaL_typename(T, -1), i);
    luaL_addvalue(b);
}

/* table.concat, charging every element, empty strings included (they
 * allocate nothing). */
static int w_concat(lua_State *T)
{
    luaL_Buffer b;
    size_t lsep;
    const char *sep;
    lua_Integer i, last;
    luaL_checktype(T, 1, LUA_TTABLE);
    last = luaL_len(T, 1);
    sep = luaL_optlstring(T, 2, "", &lsep);
    i = luaL_optinteger(T, 3, 1);
    last = luaL_optinteger(T, 4, last);
    lxb_iso_charge(T, lxb_isocharge_elements(i, last));
    luaL_buffinit(T, &b);
    for (; i < last; i++) {
        concat_field(T, &b, i);
        luaL_addlstring(&b, sep, lsep);
    }
    if (i == last)
        concat_field(T, &b, i);
    luaL_pushresult(&b);
    return 1;
}

/* table.unpack: __len is read here and passed on as the explicit end. */
static int w_tunpack(lua_State *T)
{
    lua_Integer i = luaL_optinteger(T, 2, 1), e;
    if (lua_isnoneornil(T, 3)) {
        e = luaL_len(T, 1);
        lua_settop(T, 2);
        lua_pushinteger(T, e);
    } else {
        e = luaL_checkinteger(T, 3);
    }
    lxb_iso_charge(T, lxb_isocharge_elements(i, e));
    return lxb_isocharge_original(T)(T);
}

/* table.sort: n * ceil(log2 n) steps (each a read, a comparison and a
 * write). Its reads past what the table holds go through __index, which
 * is hooked or charged itself, so a __len that answers more the second
 * time (lsort reads it again) buys nothing uncharged. */
static int w_sort(lua_State *T)
{
    lua_Integer n, lg = 0;
    luaL_checktype(T, 1, LUA_TTABLE);
    n = luaL_len(T, 1);
    if (n > 1) {
        while (lg < 63 && ((lua_Integer)1 << lg) < n)
            lg++;
        lxb_iso_charge(T, n > LUA_MAXINTEGER / PER_SORT_STEP / lg ? LUA_MAXINTEGER : PER_SORT_STEP * n * lg);
    }
    return lxb_isocharge_original(T)(T);
}

/* ------------------------------------------------------------------ set-up */

/* Every function not listed (here or in l_isoutf8.c) is O(1) or bounded
 * by what it allocates (see docs/API.md for the whole table); the string
 * metatable's arithmetic is set up by hand below. */
static const lxb_libfn charged[] = {
    {LUA_GNAME, "tonumber", w_scan_first, LXB_WRAPS},
    {LUA_GNAME, "select", w_select, LXB_WRAPS},
    {LUA_GNAME, "rawequal", w_rawequal, LXB_WRAPS},
    {LUA_STRLIBNAME, "byte", w_byte, LXB_WRAPS},
    {LUA_STRLIBNAME, "rep", w_rep, LXB_WRAPS},
    {LUA_STRLIBNAME, "format", w_format, LXB_WRAPS},
    {LUA_STRLIBNAME, "pack", w_pack, LXB_WRAPS},
    {LUA_STRLIBNAME, "packsize", w_scan_first, LXB_WRAPS},
    {LUA_STRLIBNAME, "unpack", w_unpack, LXB_WRAPS},
    {LUA_TABLIBNAME, "move", w_move, LXB_WRAPS},
    {LUA_TABLIBNAME, "unpack", w_tunpack, LXB_WRAPS},
    {LUA_TABLIBNAME, "sort", w_sort, LXB_WRAPS},
    {LUA_TABLIBNAME, "insert", w_insert, 0},
    {LUA_TABLIBNAME, "remove", w_remove, 0},
    {LUA_TABLIBNAME, "concat", w_concat, 0},
    {NULL, NULL, NULL, 0},
};

/* Pushes the library table named `lib` (the globals for base), or
 * nothing and returns 0 when the isolate does not have it. */
static int push_lib(lua_State *S, const char *lib)
{
    if (strcmp(lib, LUA_GNAME) == 0) {
        lua_pushglobaltable(S);
        return 1;
    }
    if (lua_getglobal(S, lib) == LUA_TTABLE)
        return 1;
    lua_pop(S, 1);
    return 0;
}

void lxb_isocharge_set(lua_State *S, const lxb_libfn *fns, int budget)
{
    const lxb_libfn *f;
    for (f = fns; f->lib != NULL; f++) {
        if (!(budget || (f->how & LXB_ALWAYS)) || !push_lib(S, f->lib))
            continue;
        if (f->how & LXB_WRAPS) {
            lua_getfield(S, -1, f->name);
            lxb_isocharge_wrap(S, f->fn, 0);
        } else {
            lua_pushcfunction(S, f->fn);
        }
        lua_setfield(S, -2, f->name);
        lua_pop(S, 1);
    }
}

void lxb_isocharge_install(lua_State *S)
{
    lxb_isocharge_set(S, charged, 1);
    if (push_lib(S, LUA_STRLIBNAME)) {
        lua_pop(S, 1);
        wrap_strarith(S);
    }
}
