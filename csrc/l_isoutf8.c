/*
 * The isolate's utf8 library under max_instructions (l_isocharge.c has
 * the cost model): the scans charge as they go, a block at a time, as a
 * run of continuation bytes has no bound to charge in advance; for that
 * utf8.offset is reimplemented and the utf8.codes iterators wrapped.
 */
#include "l_isocharge.h"

#include <lauxlib.h>
#include <lualib.h>

#include "l_isolate.h"

/* Bytes scanned between two charges. */
#define SCAN_BLOCK 256

#define iscont(c) (((unsigned char)(c)&0xC0) == 0x80)

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
    lxb_iso_charge(T, lxb_isocharge_elements(i, j));
    return lxb_isocharge_original(T)(T);
}

static int w_len(lua_State *T)
{
    size_t len;
    lua_Integer i, j;
    (void)luaL_checklstring(T, 1, &len);
    i = u_posrelat(luaL_optinteger(T, 2, 1), len);
    j = u_posrelat(luaL_optinteger(T, 3, -1), len);
    if (j >= i)
        lxb_iso_charge(T, (j - i + 1) / BYTES_SCANNED);
    return lxb_isocharge_original(T)(T);
}

/* One more byte scanned: a charge every SCAN_BLOCK bytes. */
static void scanned(lua_State *T, lua_Integer *count)
{
    if (++*count == SCAN_BLOCK) {
        lxb_iso_charge(T, SCAN_BLOCK / BYTES_SCANNED);
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
    return lxb_isocharge_original(T)(T);
}

/* utf8.codes; upvalues: lutf8lib's codes, then the wrapped strict and
 * lax iterators, which replace the one it returns. */
static int w_codes(lua_State *T)
{
    int lax = lua_toboolean(T, 2), n = lxb_isocharge_original(T)(T);
    lua_pushvalue(T, lua_upvalueindex(lax ? 3 : 2));
    lua_replace(T, -n - 1);
    return n;
}

static const lxb_libfn utf8_fns[] = {
    {LUA_UTF8LIBNAME, "codepoint", w_codepoint, LXB_WRAPS},
    {LUA_UTF8LIBNAME, "len", w_len, LXB_WRAPS},
    {LUA_UTF8LIBNAME, "offset", w_offset, 0},
    {NULL, NULL, NULL, 0},
};

void lxb_isoutf8_install(lua_State *S)
{
    int i;
    lxb_isocharge_set(S, utf8_fns, 1);
    if (lua_getglobal(S, LUA_UTF8LIBNAME) != LUA_TTABLE) {
        lua_pop(S, 1);
        return;
    }
    lua_getfield(S, -1, "codes");
    for (i = 0; i < 2; i++) { /* the strict iterator, then the lax one */
        lua_pushvalue(S, -1 - i);
        lua_pushliteral(S, "");
        lua_pushboolean(S, i);
        lua_call(S, 2, 1);
        lxb_isocharge_wrap(S, w_codes_iter, 0);
    }
    lua_rotate(S, -3, 2); /* strict lax codes */
    lxb_isocharge_wrap(S, w_codes, 2);
    lua_setfield(S, -2, "codes");
    lua_pop(S, 1);
}
