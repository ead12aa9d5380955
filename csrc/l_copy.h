/*
 * Copying Lua values from one state to another (an isolate and its host).
 *
 * What crosses: nil, booleans, numbers (integer or float kept), strings,
 * and tables of these (keys: strings, numbers, booleans), copied deeply;
 * a table reached twice is copied once and shared in the copy.
 * Metatables are not copied. A function, userdata, thread, cyclic table,
 * a table used as a key, or nesting deeper than LXC_MAX_DEPTH raises an
 * error naming where it was found:
 *   cannot copy a function (argument 1 .cb)
 * The walk keeps its place on the two states' own stacks (no C
 * recursion), and remembers every table copied in a memo table in the
 * destination state, keyed by the source table's address.
 */
#ifndef LEXRT_L_COPY_H
#define LEXRT_L_COPY_H

#include <lua.h>

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define LXC_MAX_DEPTH 1000

/* Where a value was found: "<what> <n><link><kind>.<op>", e.g.
 * "argument 2", "result 1 of io.read", "error value". */
typedef struct lxc_where {
    const char *what;
    int n;             /* 0: no number */
    const char *link;  /* NULL, or " to " / " of " before kind.op */
    const char *kind, *op;
} lxc_where;

/*
 * Pushes onto `to` a copy of the value at `from`[idx]. Copy errors are
 * raised in `err` (one of the two states: the isolate's side). Either
 * state may raise "not enough memory" or a stack overflow while copying;
 * the caller must be ready for both (see l_isolate.c). Values may be left
 * on both stacks after an error: the caller resets their tops.
 */
void lxc_copy(lua_State *from, int idx, lua_State *to, lua_State *err, const lxc_where *w);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
