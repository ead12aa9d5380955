/*
 * string.find, string.match, string.gmatch and string.gsub for isolates
 * (l_strmatch.c): Lua 5.4's, on lexrt's own matcher (pattern.h), with the
 * work charged to the running call's instruction budget.
 */
#ifndef LEXRT_L_STRMATCH_H
#define LEXRT_L_STRMATCH_H

#include <lua.h>

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* Matcher steps run between two charges (pattern.h says what a step is). */
#define LXS_CHUNK 1000

/*
 * Replaces find, match, gmatch and gsub in the string library table at
 * the top of S's stack. S must be an isolate's state: the functions
 * charge their work through lxb_iso_charge (l_isolate.h), as follows.
 *   - A pattern search runs LXS_CHUNK matcher steps at a time and
 *     charges each chunk's steps (one instruction per step) when it
 *     ends; the budget's stop is raised there, so a call runs on at most
 *     one chunk past max_instructions and then stops.
 *   - A plain find (plain = true, or a pattern with no special
 *     character) charges the plain search's steps the same way: one per
 *     32 subject bytes skipped, one plus one per 32 needle bytes for each
 *     place compared.
 *   - gsub charges, for each replacement by a string, one instruction
 *     plus one per 16 bytes of the replacement string; a replacement
 *     function's own instructions count as the isolate's always do.
 */
void lxb_strmatch_install(lua_State *S);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
