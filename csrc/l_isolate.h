/* The isolate object (l_isolate.c): what lexrt.c needs to assemble it. */
#ifndef LEXRT_L_ISOLATE_H
#define LEXRT_L_ISOLATE_H

#include "lbind.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* Makes the isolate metatable and adds core.new_isolate and
 * core.is_isolate to the module table at the top (upvalues at `up`). */
void lxb_open_isolate(lua_State *L, int up);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
