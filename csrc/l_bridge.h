/*
 * Everything that crosses between an isolate's Lua state and its host:
 * values (copies), effects (calls from the isolate into the host's gate)
 * and errors (a host error kept in the host, raised again there).
 *
 * Copies.
 * What crosses: nil, booleans, numbers (integer or float kept), strings,
 * and tables of these (keys: strings, numbers, booleans), copied deeply;
 * a table reached twice is copied once and shared in the copy, and so is
 * a long string (Lua strings are immutable, so sharing one is invisible).
 * Metatables are not copied. A function, userdata, thread, cyclic table,
 * a table used as a key, or nesting deeper than LXC_MAX_DEPTH raises an
 * error naming where it was found:
 *   cannot copy a function (argument 1 .cb)
 * The walk keeps its place on the two states' own stacks (no C
 * recursion), and remembers every table and long string copied in a memo
 * table in the destination state, keyed by the source object's address.
 *
 * A copy may be given a byte budget (lxc_budget): an estimate of what it
 * allocates in the destination (tables with their slots, long strings) is
 * charged against it before each allocation, and a copy that would pass
 * it raises instead:
 *   cannot copy result 1: more than 1048576 bytes to copy (max_copy_bytes)
 * One budget may be shared by several copies (all the results of a call),
 * so that the bound holds for all of them together.
 */
#ifndef LEXRT_L_BRIDGE_H
#define LEXRT_L_BRIDGE_H

#include <stddef.h>

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

/* What copies may still allocate in the destination, in bytes. `max` and
 * `option` (the option that sets it) are for the message. */
typedef struct lxc_budget {
    size_t left, max;
    const char *option;
} lxc_budget;

/*
 * Pushes onto `to` a copy of the value at `from`[idx]. Copy errors are
 * raised in `err` (one of the two states: the isolate's side). Either
 * state may raise "not enough memory" or a stack overflow while copying;
 * the caller must be ready for both (see l_isolate.c). Values may be left
 * on both stacks after an error: the caller resets their tops.
 */
void lxc_copy(lua_State *from, int idx, lua_State *to, lua_State *err, const lxc_where *w);

/* The same, charging what it allocates in `to` to `b` (NULL: no bound). */
void lxc_copy_bounded(lua_State *from, int idx, lua_State *to, lua_State *err, const lxc_where *w,
                      lxc_budget *b);

/*
 * Effects and errors. An isolate instance keeps an lxc_link (lxb_iso_link
 * finds it from any thread of the instance's state); `host` is set while
 * a call or the build runs. Then stack index 1 of the host's running C
 * function is the isolate, whose user values LXC_UV_GATE (the handler's
 * gate, gate(kind, op, ...), from lxb_handler_gate) and LXC_UV_PENDING
 * (instance slot -> marker address -> the host error an effect raised)
 * are the bridge's.
 *
 * An effect called from the request thread itself, where it may yield,
 * does not call the gate: it leaves the gate and its arguments on the
 * host above `effect_base`, sets `effect` and yields the request thread;
 * the isolate's driver (l_isocall.c) calls the gate, where the host may
 * suspend, leaves its results (or error, `effect_status`) there and
 * resumes the request thread, which takes them. Anywhere else (a
 * coroutine inside the isolate, a C function in between, the build) the
 * effect calls the gate itself, and a yield there is refused.
 */
typedef struct lxc_link {
    lua_State *host;       /* the host thread of the running call or build; NULL between */
    lua_State *request;    /* the instance's request thread */
    size_t max_copy_bytes; /* what copying into the host may allocate, per crossing */
    int slot;              /* the instance's key in the pending table */
    int effect;            /* the request thread yielded for an effect */
    int effect_base;       /* the host's top below that effect's gate */
    int effect_status;     /* how the host's call of the gate ended */
} lxc_link;

#define LXC_UV_GATE 2
#define LXC_UV_PENDING 3

/* Sets in S a global table per effect kind of the effects table at
 * L[effects] (kind -> op -> function), a function per operation, each
 * calling the gate; raises in S if a kind would hide a global. */
void lxc_set_effects(lua_State *S, lua_State *L, int effects);

/* Raises in the host L the error value on S's top: the original host
 * value when it is an effect's marker, else a copy (or why it cannot be
 * copied). */
int lxc_raise_error(lua_State *L, lua_State *S);

/* Drops the host errors kept for the instance of `link` (its call is
 * over); the isolate at host index idx. Allocates nothing. */
void lxc_drop_pending(lua_State *L, int idx, const lxc_link *link);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
