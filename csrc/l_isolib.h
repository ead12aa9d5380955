/* The libraries an isolate offers (l_isolib.c): what an isolate's build
 * (l_isobuild.c) needs. */
#ifndef LEXRT_L_ISOLIB_H
#define LEXRT_L_ISOLIB_H

#include "lbind.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/*
 * Opens, in the isolate's state S, the safe base library and the
 * libraries named in the host's list at `list` (on L), and reserves what
 * the error path needs. With `budget` (max_instructions is set), every
 * library function whose work is not bounded by max_bytes is replaced by
 * a wrapper that charges that work to the call (lxb_iso_charge) before
 * doing it, and every function that catches errors re-raises the
 * instruction stop. Raises in S (a bad library name).
 */
void lxb_isolib_open(lua_State *S, lua_State *L, int list, int budget);

/* core._isolate_libs(): a fresh list of the libraries an isolate may
 * open, in their order; the front's check, default and message. */
int lxb_isolib_names(lua_State *L);

/* Gives the table at idx (a copy of a host policy violation) the
 * isolate's violation metatable, so that it prints as the host's does. */
void lxb_isolib_mark_violation(lua_State *T, int idx);

/* Nesting of coroutine.close (and of the error path of coroutine.wrap,
 * which closes too) allowed inside one call: each level runs to-be-closed
 * handlers on a fresh C-call count, so without a bound the C stack
 * overflows. */
#define LXB_CLOSE_DEPTH 16

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
