/*
 * The libraries an isolate offers: a safe base library (no dofile,
 * loadfile, collectgarbage, print; text chunks only), the standard string
 * (less dump), table, math, utf8 and coroutine libraries, and, when the
 * isolate has max_instructions, the wrappers that make that budget a hard
 * bound on the whole call.
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
 * Functions that catch errors (pcall, xpcall, load, coroutine.resume,
 * wrap and close) re-raise the instruction stop, and xpcall's message
 * handler is skipped once the call is stopped: the stop is sticky.
 *
 * Wrappers call the original lua_CFunction directly (no lua_call), on the
 * wrapper's own frame, so argument errors name the function as before;
 * that is sound only for originals without upvalues, which wrap_lib
 * checks. Without max_instructions no wrapper is installed but
 * coroutine.close and coroutine.wrap (their nesting bound) and load.
 *
 * Reimplemented, to call __len once only (a second call could answer a
 * larger length than the one charged): table.insert, table.remove,
 * table.concat. utf8.offset is reimplemented to charge as it scans (its
 * scan has no bound to charge in advance), coroutine.wrap to keep a
 * stopped coroutine's to-be-closed handlers from running unhooked.
 */
#include "l_isolib.h"

#include <limits.h>
#include <string.h>

#include <lualib.h>

#include "l_isolate.h"
#include "l_strmatch.h"

#define PER_ELEMENT 2
#define PER_SORT_STEP 10
#define BYTES_SCANNED 2
#define BYTES_COPIED 32
/* The utf8 scans charge as they go, a block at a time. */
#define SCAN_BLOCK 256

/* Registry keys inside the isolate. */
static const char errerr_key = 'E';
static const char violation_key = 'V';
static const char guards_key = 'G';

/* A wrapper's upvalue 1: the original function. A full userdata, as ISO C
 * has no conversion between function and object pointers. */
typedef struct orig_fn {
    lua_CFunction f;
} orig_fn;

static lua_CFunction original(lua_State *T)
{
    const orig_fn *o = lua_touserdata(T, lua_upvalueindex(1));
    return o->f;
}

static void charge(lua_State *T, lua_Integer n)
{
    lxb_iso_charge(T, n);
}

/* Bytes to charge units; never negative. */
static lua_Integer per_bytes(size_t n, size_t k)
{
    return (lua_Integer)(n / k);
}

#define iscont(c) (((unsigned char)(c)&0xC0) == 0x80)

/* ------------------------------------------------------------------ base */

/* The chunk's reader, charged by the length of each piece it returns;
 * upvalue 1: the user's reader. */
static int load_piece(lua_State *T)
{
    size_t len = 0;
    lua_settop(T, 0);
    lua_pushvalue(T, lua_upvalueindex(1));
    lua_call(T, 0, 1);
    if (lua_type(T, 1) == LUA_TSTRING)
        (void)lua_tolstring(T, 1, &len);
    charge(T, 1 + per_bytes(len, BYTES_SCANNED));
    return 1;
}

/* load, text chunks only: the mode argument is always "t". Upvalue 1:
 * the original load. Charges the source's length, or each piece a
 * reader returns, and re-raises a stop that load itself would catch. */
static int safe_load(lua_State *T)
{
    int nargs = lua_gettop(T) >= 4 ? 4 : 3; /* an absent env must stay absent */
    size_t len;
    lua_settop(T, nargs);
    lua_pushliteral(T, "t");
    lua_replace(T, 3);
    if (lua_type(T, 1) == LUA_TSTRING) {
        (void)lua_tolstring(T, 1, &len);
        charge(T, per_bytes(len, BYTES_SCANNED));
    } else if (lua_type(T, 1) == LUA_TFUNCTION) {
        lua_pushvalue(T, 1);
        lua_pushcclosure(T, load_piece, 1);
        lua_replace(T, 1);
    }
    lua_pushvalue(T, lua_upvalueindex(1));
    lua_insert(T, 1);
    lua_call(T, nargs, LUA_MULTRET);
    charge(T, 0); /* a stop inside the reader comes back as load's message */
    return lua_gettop(T);
}

static int finish_pcall(lua_State *T, int st, lua_KContext extra)
{
    charge(T, 0); /* the stop is sticky */
    if (st != LUA_OK && st != LUA_YIELD) {
        lua_pushboolean(T, 0);
        lua_pushvalue(T, -2);
        return 2;
    }
    return lua_gettop(T) - (int)extra;
}

static int w_pcall(lua_State *T)
{
    int st;
    luaL_checkany(T, 1);
    lua_pushboolean(T, 1);
    lua_insert(T, 1);
    st = lua_pcallk(T, lua_gettop(T) - 2, LUA_MULTRET, 0, 0, finish_pcall);
    return finish_pcall(T, st, 0);
}

/* xpcall's message handler; upvalue 1: the user's. Once the call is
 * stopped, the user's handler is not run: the stop raised from the hook
 * runs message handlers with hooks off. */
static int msgh_guard(lua_State *T)
{
    if (lxb_iso_stopped(T)) {
        lxb_iso_push_stop(T);
        return 1;
    }
    lua_pushvalue(T, lua_upvalueindex(1));
    lua_insert(T, 1);
    lua_call(T, lua_gettop(T) - 1, 1);
    return 1;
}

/* The guard of a handler, made once per handler function in a call (a
 * table in the registry, dropped with the call by the restore), so that
 * xpcall in a loop does not spend memory. */
static void push_guard(lua_State *T, int handler)
{
    if (lua_rawgetp(T, LUA_REGISTRYINDEX, &guards_key) != LUA_TTABLE) {
        lua_pop(T, 1);
        lua_newtable(T);
        lua_pushvalue(T, -1);
        lua_rawsetp(T, LUA_REGISTRYINDEX, &guards_key);
    }
    lua_pushvalue(T, handler);
    if (lua_rawget(T, -2) == LUA_TNIL) {
        lua_pop(T, 1);
        lua_pushvalue(T, handler);
        lua_pushcclosure(T, msgh_guard, 1);
        lua_pushvalue(T, handler);
        lua_pushvalue(T, -2);
        lua_rawset(T, -4);
    }
    lua_remove(T, -2);
}

static int w_xpcall(lua_State *T)
{
    int st, n = lua_gettop(T);
    luaL_checktype(T, 2, LUA_TFUNCTION);
    push_guard(T, 2);
    lua_replace(T, 2);
    lua_pushboolean(T, 1);
    lua_pushvalue(T, 1);
    lua_rotate(T, 3, 2); /* f guard true f args... */
    st = lua_pcallk(T, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
    return finish_pcall(T, st, 2);
}

/* Functions that scan their first argument byte by byte when it is a
 * string: tonumber's conversion, string.packsize's format. */
static int w_scan_first(lua_State *T)
{
    size_t len;
    if (lua_type(T, 1) == LUA_TSTRING) {
        (void)lua_tolstring(T, 1, &len);
        charge(T, per_bytes(len, BYTES_SCANNED));
    }
    return original(T)(T);
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
            charge(T, PER_ELEMENT * results);
    }
    return original(T)(T);
}

static int w_rawequal(lua_State *T)
{
    size_t l1, l2;
    if (lua_type(T, 1) == LUA_TSTRING && lua_type(T, 2) == LUA_TSTRING) {
        (void)lua_tolstring(T, 1, &l1);
        (void)lua_tolstring(T, 2, &l2);
        if (l1 == l2)
            charge(T, per_bytes(l1, BYTES_COPIED));
    }
    return original(T)(T);
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
    charge(T, PER_ELEMENT * byte_count(T, l));
    return original(T)(T);
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
        charge(T, (lua_Integer)((size_t)n * (l + lsep) / BYTES_COPIED));
    return original(T)(T);
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
    charge(T, per_bytes(total, BYTES_SCANNED));
    return original(T)(T);
}

/* string.pack: the format is scanned, and each 'z' argument is measured
 * (strlen) before it is copied, so an argument with a zero near its end
 * costs its length and allocates nothing ("string contains zeros"). */
static int w_pack(lua_State *T)
{
    size_t lf;
    const char *fmt = lua_type(T, 1) == LUA_TSTRING ? lua_tolstring(T, 1, &lf) : NULL;
    if (fmt != NULL) {
        charge(T, per_bytes(lf, BYTES_SCANNED));
        if (memchr(fmt, 'z', lf) != NULL) {
            size_t len, total = 0;
            int a, n = lua_gettop(T);
            for (a = 2; a <= n; a++)
                if (lua_type(T, a) == LUA_TSTRING) {
                    (void)lua_tolstring(T, a, &len);
                    total += len / BYTES_COPIED;
                }
            charge(T, (lua_Integer)total);
        }
    }
    return original(T)(T);
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
        charge(T, per_bytes(lf, BYTES_SCANNED));
        if (zs > 0 && lua_type(T, 2) == LUA_TSTRING) {
            (void)lua_tolstring(T, 2, &ld);
            lua_Integer each = per_bytes(ld, BYTES_COPIED);
            charge(T, each > 0 && (lua_Integer)zs > LUA_MAXINTEGER / each ? LUA_MAXINTEGER
                                                                          : (lua_Integer)zs * each);
        }
    }
    return original(T)(T);
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
    charge(T, per_bytes(total, BYTES_SCANNED));
    return original(T)(T);
}

static void push_wrapper(lua_State *S, lua_CFunction wrap, int extra);

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
        push_wrapper(S, w_strarith, 0);
        lua_setfield(S, -2, events[i]);
    }
    lua_pop(S, 2);
}

/* ------------------------------------------------------------------ table */

/* PER_ELEMENT for each of the elements from..to, saturating. */
static lua_Integer elements(lua_Integer from, lua_Integer to)
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
    charge(T, elements(f, e));
    return original(T)(T);
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
        charge(T, elements(pos + 1, e));
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
    charge(T, elements(pos + 1, size));
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
    charge(T, elements(i, last));
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
    charge(T, elements(i, e));
    return original(T)(T);
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
        charge(T, n > LUA_MAXINTEGER / PER_SORT_STEP / lg ? LUA_MAXINTEGER : PER_SORT_STEP * n * lg);
    }
    return original(T)(T);
}

/* ------------------------------------------------------------------ utf8 */

static lua_Integer u_posrelat(lua_Integer pos, size_t len)
{
    if (pos >= 0)
        return pos;
    if ((size_t)(-(pos + 1)) >= len) /* before the start */
        return 0;
    return (lua_Integer)len + pos + 1;
}

static int w_codepoint(lua_State *T)
{
    size_t len;
    lua_Integer i, j;
    (void)luaL_checklstring(T, 1, &len);
    i = u_posrelat(luaL_optinteger(T, 2, 1), len);
    j = u_posrelat(luaL_optinteger(T, 3, i), len);
    charge(T, elements(i, j));
    return original(T)(T);
}

static int w_len(lua_State *T)
{
    size_t len;
    lua_Integer i, j;
    (void)luaL_checklstring(T, 1, &len);
    i = u_posrelat(luaL_optinteger(T, 2, 1), len);
    j = u_posrelat(luaL_optinteger(T, 3, -1), len);
    if (j >= i)
        charge(T, (j - i + 1) / BYTES_SCANNED);
    return original(T)(T);
}

/* One more byte scanned: a charge every SCAN_BLOCK bytes. */
static void scanned(lua_State *T, lua_Integer *count)
{
    if (++*count == SCAN_BLOCK) {
        charge(T, SCAN_BLOCK / BYTES_SCANNED);
        *count = 0;
    }
}

/* utf8.offset(s, n [, i]), lutf8lib's semantics, charging as it scans:
 * a run of continuation bytes has no bound to charge in advance. */
static int w_offset(lua_State *T)
{
    size_t len;
    const char *s = luaL_checklstring(T, 1, &len);
    lua_Integer n = luaL_checkinteger(T, 2), count = 0;
    lua_Integer posi = n >= 0 ? 1 : (lua_Integer)len + 1;
    posi = u_posrelat(luaL_optinteger(T, 3, posi), len);
    luaL_argcheck(T, 1 <= posi && --posi <= (lua_Integer)len, 3, "position out of bounds");
    if (n == 0) {
        while (posi > 0 && iscont(s[posi])) {
            posi--;
            scanned(T, &count);
        }
    } else {
        if (iscont(s[posi]))
            return luaL_error(T, "initial position is a continuation byte");
        if (n < 0) {
            for (; n < 0 && posi > 0; n++) {
                do {
                    posi--;
                    scanned(T, &count);
                } while (posi > 0 && iscont(s[posi]));
            }
        } else {
            for (n--; n > 0 && posi < (lua_Integer)len; n--) {
                do {
                    posi++;
                    scanned(T, &count);
                } while (iscont(s[posi])); /* stops at the final '\0' */
            }
        }
    }
    if (n == 0)
        lua_pushinteger(T, posi + 1);
    else
        lua_pushnil(T);
    return 1;
}

/* The iterator utf8.codes returns; upvalue 1: lutf8lib's. It first skips
 * the continuation bytes from the control value on, unbounded: that scan
 * is charged here, ahead of it. */
static int w_codes_iter(lua_State *T)
{
    size_t len;
    const char *s = lua_type(T, 1) == LUA_TSTRING ? lua_tolstring(T, 1, &len) : NULL;
    if (s != NULL) {
        lua_Unsigned n = (lua_Unsigned)lua_tointeger(T, 2);
        lua_Integer count = 0;
        for (; n < len && iscont(s[n]); n++)
            scanned(T, &count);
    }
    return original(T)(T);
}

/* utf8.codes; upvalues: lutf8lib's codes, then the wrapped strict and
 * lax iterators, which replace the one it returns. */
static int w_codes(lua_State *T)
{
    int lax = lua_toboolean(T, 2), n = original(T)(T);
    lua_pushvalue(T, lua_upvalueindex(lax ? 3 : 2));
    lua_replace(T, -n - 1);
    return n;
}

/* ------------------------------------------------------------------ coroutine */

static int w_resume(lua_State *T)
{
    int n = original(T)(T);
    charge(T, 0); /* a stop inside the coroutine stops its resumer too */
    return n;
}

/* Runs lua_resetthread on co (its to-be-closed handlers) one level
 * deeper, refusing past LXB_CLOSE_DEPTH levels. */
static int reset_nested(lua_State *T, lua_State *co)
{
    int *depth = lxb_iso_close_depth(T), st;
    if (*depth >= LXB_CLOSE_DEPTH)
        return luaL_error(T, "coroutine.close nested too deeply");
    ++*depth;
    st = lua_resetthread(co); /* protected: never jumps over the decrement */
    --*depth;
    return st;
}

/* coroutine.close: never once the call is stopped (the handlers of a
 * coroutine stopped inside the hook would run with hooks off), and
 * never nested past LXB_CLOSE_DEPTH. */
static int w_close(lua_State *T)
{
    lua_State *co = lua_tothread(T, 1);
    int st;
    luaL_argexpected(T, co != NULL, 1, "coroutine");
    charge(T, 0);
    if (co == T)
        return luaL_error(T, "cannot close a running coroutine");
    if (lua_status(co) == LUA_OK) {
        lua_Debug ar;
        if (lua_getstack(co, 0, &ar)) /* it resumed the running one */
            return luaL_error(T, "cannot close a normal coroutine");
    }
    st = reset_nested(T, co);
    charge(T, 0);
    if (st == LUA_OK) {
        lua_pushboolean(T, 1);
        return 1;
    }
    lua_pushboolean(T, 0);
    lua_xmove(co, T, 1);
    return 2;
}

/* The function coroutine.wrap returns; upvalue 1: the coroutine. */
static int w_auxwrap(lua_State *T)
{
    lua_State *co = lua_tothread(T, lua_upvalueindex(1));
    int narg = lua_gettop(T), nres, st;
    if (!lua_checkstack(co, narg))
        return luaL_error(T, "too many arguments to resume");
    lua_xmove(T, co, narg);
    st = lua_resume(co, T, narg, &nres);
    charge(T, 0);
    if (st == LUA_OK || st == LUA_YIELD) {
        if (!lua_checkstack(T, nres + 1)) {
            lua_pop(co, nres);
            return luaL_error(T, "too many results to resume");
        }
        lua_xmove(co, T, nres);
        return nres;
    }
    st = lua_status(co);
    if (st != LUA_OK && st != LUA_YIELD) { /* an error in the coroutine: close it */
        st = reset_nested(T, co);
        charge(T, 0);
    }
    lua_xmove(co, T, 1);
    if (st != LUA_ERRMEM && lua_type(T, -1) == LUA_TSTRING) {
        luaL_where(T, 1);
        lua_insert(T, -2);
        lua_concat(T, 2);
    }
    return lua_error(T);
}

static int w_wrap(lua_State *T)
{
    lua_State *co;
    luaL_checktype(T, 1, LUA_TFUNCTION);
    co = lua_newthread(T);
    lua_pushvalue(T, 1);
    lua_xmove(T, co, 1);
    lua_pushcclosure(T, w_auxwrap, 1);
    return 1;
}

/* ------------------------------------------------------------------ set-up */

typedef struct wrap_reg {
    const char *lib; /* the global holding the library; "_G" for base */
    const char *name;
    lua_CFunction wrap;
    int always; /* installed without max_instructions too */
} wrap_reg;

/* Every function not listed is O(1) or bounded by what it allocates (see
 * docs/API.md for the whole table). coroutine.wrap and utf8.codes, and
 * the pcalls, are set up by hand below. */
static const wrap_reg wraps[] = {
    {LUA_GNAME, "tonumber", w_scan_first, 0},
    {LUA_GNAME, "select", w_select, 0},
    {LUA_GNAME, "rawequal", w_rawequal, 0},
    {LUA_STRLIBNAME, "byte", w_byte, 0},
    {LUA_STRLIBNAME, "rep", w_rep, 0},
    {LUA_STRLIBNAME, "format", w_format, 0},
    {LUA_STRLIBNAME, "pack", w_pack, 0},
    {LUA_STRLIBNAME, "packsize", w_scan_first, 0},
    {LUA_STRLIBNAME, "unpack", w_unpack, 0},
    {LUA_TABLIBNAME, "move", w_move, 0},
    {LUA_TABLIBNAME, "unpack", w_tunpack, 0},
    {LUA_TABLIBNAME, "sort", w_sort, 0},
    {LUA_UTF8LIBNAME, "codepoint", w_codepoint, 0},
    {LUA_UTF8LIBNAME, "len", w_len, 0},
    {LUA_COLIBNAME, "resume", w_resume, 0},
    {NULL, NULL, NULL, 0},
};

/* Functions replaced outright (no original needed). */
static const wrap_reg replaced[] = {
    {LUA_GNAME, "pcall", w_pcall, 0},
    {LUA_GNAME, "xpcall", w_xpcall, 0},
    {LUA_TABLIBNAME, "insert", w_insert, 0},
    {LUA_TABLIBNAME, "remove", w_remove, 0},
    {LUA_TABLIBNAME, "concat", w_concat, 0},
    {LUA_UTF8LIBNAME, "offset", w_offset, 0},
    {LUA_COLIBNAME, "close", w_close, 1},
    {LUA_COLIBNAME, "wrap", w_wrap, 1},
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

/* Pushes a wrapper closure of the C function at the top (popped), with
 * `extra` more upvalues below it on the stack (popped too). */
static void push_wrapper(lua_State *S, lua_CFunction wrap, int extra)
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

static void install(lua_State *S, int budget)
{
    const wrap_reg *w;
    for (w = wraps; budget && w->lib != NULL; w++) {
        if (!push_lib(S, w->lib))
            continue;
        lua_getfield(S, -1, w->name);
        push_wrapper(S, w->wrap, 0);
        lua_setfield(S, -2, w->name);
        lua_pop(S, 1);
    }
    for (w = replaced; w->lib != NULL; w++) {
        if (!(budget || w->always) || !push_lib(S, w->lib))
            continue;
        lua_pushcfunction(S, w->wrap);
        lua_setfield(S, -2, w->name);
        lua_pop(S, 1);
    }
    if (budget && push_lib(S, LUA_STRLIBNAME)) {
        lua_pop(S, 1);
        wrap_strarith(S);
    }
    if (budget && push_lib(S, LUA_UTF8LIBNAME)) {
        int i;
        lua_getfield(S, -1, "codes");
        for (i = 0; i < 2; i++) { /* the strict iterator, then the lax one */
            lua_pushvalue(S, -1 - i);
            lua_pushliteral(S, "");
            lua_pushboolean(S, i);
            lua_call(S, 2, 1);
            push_wrapper(S, w_codes_iter, 0);
        }
        lua_rotate(S, -3, 2); /* strict lax codes */
        push_wrapper(S, w_codes, 2);
        lua_setfield(S, -2, "codes");
        lua_pop(S, 1);
    }
}

static const luaL_Reg libs[] = {
    {LUA_STRLIBNAME, luaopen_string},
    {LUA_TABLIBNAME, luaopen_table},
    {LUA_MATHLIBNAME, luaopen_math},
    {LUA_UTF8LIBNAME, luaopen_utf8},
    {LUA_COLIBNAME, luaopen_coroutine},
    {NULL, NULL},
};

static void open_base(lua_State *S)
{
    static const char *const unsafe[] = {"dofile", "loadfile", "collectgarbage", "print", NULL};
    int i;
    luaL_requiref(S, LUA_GNAME, luaopen_base, 1);
    lua_pop(S, 1);
    for (i = 0; unsafe[i] != NULL; i++) {
        lua_pushnil(S);
        lua_setglobal(S, unsafe[i]);
    }
    lua_getglobal(S, "load");
    lua_pushcclosure(S, safe_load, 1);
    lua_setglobal(S, "load");
}

/* Opens the libraries named in the host's list (validated by the front). */
static void open_libs(lua_State *S, lua_State *L, int list)
{
    lua_Integer i, n = (lua_Integer)lua_rawlen(L, list);
    for (i = 1; i <= n; i++) {
        const luaL_Reg *lib;
        const char *name = NULL;
        /* Only strings: lua_tostring would convert a number in the host. */
        if (lua_rawgeti(L, list, i) == LUA_TSTRING)
            name = lua_tostring(L, -1);
        for (lib = libs; name != NULL && lib->name != NULL; lib++)
            if (strcmp(lib->name, name) == 0)
                break;
        if (name == NULL || lib->name == NULL) {
            lua_pop(L, 1);
            luaL_error(S, "library '%s' is not available in an isolate", name ? name : "?");
        }
        lua_pop(L, 1);
        luaL_requiref(S, lib->name, lib->func, 1);
        if (lib->func == luaopen_string) {
            /* Bytecode is of no use without binary load, and shows a
             * function's insides: left out. */
            lua_pushnil(S);
            lua_setfield(S, -2, "dump");
            lxb_strmatch_install(S); /* find, match, gmatch, gsub that charge their work */
        }
        lua_pop(S, 1);
    }
}

/* A violation's __tostring inside the isolate, worded as the host's
 * (lua/lexrt/policy.lua). */
static int violation_tostring(lua_State *T)
{
    lua_getfield(T, 1, "kind");
    lua_getfield(T, 1, "detail");
    lua_pushfstring(T, "policy violation: %s %s", luaL_tolstring(T, 2, NULL), luaL_tolstring(T, 3, NULL));
    return 1;
}

void lxb_isolib_mark_violation(lua_State *T, int idx)
{
    idx = lua_absindex(T, idx);
    lua_rawgetp(T, LUA_REGISTRYINDEX, &violation_key); /* allocates nothing */
    lua_setmetatable(T, idx);
}

void lxb_isolib_open(lua_State *S, lua_State *L, int list, int budget)
{
    /* Lua's error-in-error-handling path makes this string outside any
     * protection (luaD_seterrorobj); interned and anchored here, making
     * it again finds it and allocates nothing, even with memory full. */
    lua_pushliteral(S, "error in error handling");
    lua_rawsetp(S, LUA_REGISTRYINDEX, &errerr_key);
    lua_createtable(S, 0, 2);
    lua_pushcfunction(S, violation_tostring);
    lua_setfield(S, -2, "__tostring");
    lua_pushliteral(S, "lexrt.violation");
    lua_setfield(S, -2, "__name");
    lua_rawsetp(S, LUA_REGISTRYINDEX, &violation_key);
    open_base(S);
    open_libs(S, L, list);
    install(S, budget);
}
