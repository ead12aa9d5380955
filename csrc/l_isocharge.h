/*
 * Between the files of an isolate's libraries: l_isolib.c opens them,
 * l_isocharge.c and l_isoutf8.c wrap their functions to charge their
 * work to max_instructions (l_isocharge.c's opening comment gives the
 * cost model).
 */
#ifndef LEXRT_L_ISOCHARGE_H
#define LEXRT_L_ISOCHARGE_H

#include <lua.h>

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* The charges' units (l_isocharge.c says what each pays for). */
#define PER_ELEMENT 2
#define PER_SORT_STEP 10
#define BYTES_SCANNED 2
#define BYTES_COPIED 32

/* lxb_libfn.how */
#define LXB_WRAPS 1  /* fn wraps the C function there (lxb_isocharge_original) */
#define LXB_ALWAYS 2 /* installed without max_instructions too */

/* A library function to install; lists end with a NULL lib. */
typedef struct lxb_libfn {
    const char *lib; /* the global holding the library; LUA_GNAME for base */
    const char *name;
    lua_CFunction fn;
    int how;
} lxb_libfn;

/* Installs in S, for each entry whose library S has, fn as lib.name:
 * those marked LXB_ALWAYS always, the others only with `budget`. */
void lxb_isocharge_set(lua_State *S, const lxb_libfn *fns, int budget);

/* Pushes a wrapper closure `wrap` of the C function at the top (popped),
 * with `extra` more upvalues below it on the stack (popped too). Raises
 * in S if that function has upvalues. */
void lxb_isocharge_wrap(lua_State *S, lua_CFunction wrap, int extra);

/* In a wrapper: the function it wraps, to be called directly on the
 * wrapper's frame. */
lua_CFunction lxb_isocharge_original(lua_State *T);

/* PER_ELEMENT for each of the elements from..to, saturating. */
lua_Integer lxb_isocharge_elements(lua_Integer from, lua_Integer to);

/* Install in S (its libraries open) the charging wrappers: the base,
 * string and table libraries' (l_isocharge.c), utf8's (l_isoutf8.c). */
void lxb_isocharge_install(lua_State *S);
void lxb_isoutf8_install(lua_State *S);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
