/* The isolate object (l_isolate.c): what lexrt.c needs to assemble it. */
#ifndef LEXRT_L_ISOLATE_H
#define LEXRT_L_ISOLATE_H

#include "l_bridge.h"
#include "lbind.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* Makes the isolate metatable and adds core.new_isolate and
 * core.is_isolate to the module table at the top (upvalues at `up`). */
void lxb_open_isolate(lua_State *L, int up);

/*
 * Charges `n` (>= 0) instructions of library work to the running call of
 * the isolate that thread T belongs to, and raises the instruction stop
 * in T when that passes max_instructions (or when the call is already
 * stopped). A library function calls this *before* the work it counts,
 * so that no call does more than the budget allows. Without a budget
 * (max_instructions unset) it only checks that nothing was stopped.
 * T must be a thread of an isolate's state.
 */
void lxb_iso_charge(lua_State *T, lua_Integer n);

/* Whether the running call of T's isolate is stopped (it passed
 * max_instructions), and the stop's error value, pushed (it allocates
 * nothing: the value is made at build). */
int lxb_iso_stopped(lua_State *T);
void lxb_iso_push_stop(lua_State *T);

/* The bridge's view of T's isolate (l_bridge.h). */
lxc_link *lxb_iso_link(lua_State *T);
/* Whether the handler of the isolate at idx (on the host L) is closed. */
int lxb_iso_handler_closed(lua_State *L, int idx);

/* The nesting of coroutine.close in the running call (l_isolib.c keeps
 * it; every call and the build start it at 0). */
int *lxb_iso_close_depth(lua_State *T);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
