/*
 * The recorder behind bench/trace/run.sh: one ordered stream of the C
 * functions lexrt.core enters and leaves (gcc's -finstrument-functions
 * hooks, below) and of the host's Lua calls and returns (a debug hook),
 * so that a request's path through files can be read in order. Linked
 * into a separate copy of core.so (build/trace/lexrt/core.so), never
 * into the real one; built without -finstrument-functions itself.
 *
 * Calls into another Lua state (an isolate's) are invisible to the host's
 * hook, and an isolate's own hook is its instruction budget, which this
 * must not replace: run.sh links with -Wl,--wrap for lua_callk,
 * lua_pcallk and lua_resume, and a call into a state whose allocator is
 * not the host's is recorded as entering and leaving "[isolate]".
 *
 * Only addresses are recorded (as offsets into this .so); driver.lua maps
 * them to files with addr2line afterwards, outside the recording.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

#include "lua.h"
#include "lauxlib.h"

#define NOTRACE __attribute__((no_instrument_function))
#define EXPORT __attribute__((visibility("default")))

enum { EV_ENTER, EV_EXIT, EV_LCALL, EV_LTAIL, EV_LRET, EV_ISO_IN, EV_ISO_OUT };
static const char *const EV_NAME[] = { "enter", "exit", "lcall", "ltail", "lret", "iso_in", "iso_out" };

typedef struct {
    uintptr_t addr; /* C: the function; Lua: index into sources */
    int line;       /* Lua: linedefined */
    unsigned char kind;
} Event;

#define MAX_EVENTS (1 << 18)
#define MAX_SOURCES 128
static Event events[MAX_EVENTS];
static size_t nevents, dropped;
static int recording;
static lua_State *host;
static lua_Alloc host_alloc;
static void *host_ud;
/* Lua keeps a source string alive only while its function lives: copied. */
static char sources[MAX_SOURCES][256];
static int nsources;

NOTRACE static void record(int kind, uintptr_t addr, int line)
{
    if (nevents == MAX_EVENTS) {
        dropped++;
        return;
    }
    events[nevents].kind = (unsigned char)kind;
    events[nevents].addr = addr;
    events[nevents].line = line;
    nevents++;
}

/* Hidden: glibc has no-op ones of its own, which an exported pair would
 * lose to, the executable's libc coming first in the lookup order. */
#define HIDDEN __attribute__((visibility("hidden")))
NOTRACE HIDDEN void __cyg_profile_func_enter(void *fn, void *site);
NOTRACE HIDDEN void __cyg_profile_func_exit(void *fn, void *site);

void __cyg_profile_func_enter(void *fn, void *site)
{
    (void)site;
    if (recording)
        record(EV_ENTER, (uintptr_t)fn, 0);
}

void __cyg_profile_func_exit(void *fn, void *site)
{
    (void)site;
    if (recording)
        record(EV_EXIT, (uintptr_t)fn, 0);
}

NOTRACE static int source_index(const char *src)
{
    int i;
    for (i = 0; i < nsources; i++)
        if (strncmp(sources[i], src, sizeof sources[i] - 1) == 0)
            return i;
    if (nsources == MAX_SOURCES)
        return MAX_SOURCES - 1;
    strncpy(sources[nsources], src, sizeof sources[nsources] - 1);
    return nsources++;
}

/* C functions are left to the instrumentation: lexrt's are seen there,
 * Lua's own (pcall, type, ...) belong to no file of the project. */
NOTRACE static void host_hook(lua_State *L, lua_Debug *ar)
{
    int kind;
    if (!recording || !lua_getinfo(L, "S", ar) || strcmp(ar->what, "C") == 0)
        return;
    kind = ar->event == LUA_HOOKCALL ? EV_LCALL : ar->event == LUA_HOOKTAILCALL ? EV_LTAIL : EV_LRET;
    record(kind, (uintptr_t)source_index(ar->source), ar->linedefined);
}

NOTRACE static int in_isolate(lua_State *L)
{
    void *ud;
    lua_Alloc f = lua_getallocf(L, &ud);
    return recording && (f != host_alloc || ud != host_ud);
}

/* The --wrap targets; the __real_ ones are liblua's. */
NOTRACE void __real_lua_callk(lua_State *L, int nargs, int nresults, lua_KContext ctx, lua_KFunction k);
NOTRACE int __real_lua_pcallk(lua_State *L, int nargs, int nresults, int errfunc, lua_KContext ctx,
                                     lua_KFunction k);
NOTRACE int __real_lua_resume(lua_State *L, lua_State *from, int narg, int *nres);
NOTRACE HIDDEN void __wrap_lua_callk(lua_State *L, int nargs, int nresults, lua_KContext ctx, lua_KFunction k);
NOTRACE HIDDEN int __wrap_lua_pcallk(lua_State *L, int nargs, int nresults, int errfunc, lua_KContext ctx,
                                     lua_KFunction k);
NOTRACE HIDDEN int __wrap_lua_resume(lua_State *L, lua_State *from, int narg, int *nres);

/* An error out of lua_callk skips iso_out: driver.lua pops to the
 * matching frame at the next exit. */
void __wrap_lua_callk(lua_State *L, int nargs, int nresults, lua_KContext ctx, lua_KFunction k)
{
    int iso = in_isolate(L);
    if (iso)
        record(EV_ISO_IN, 0, 0);
    __real_lua_callk(L, nargs, nresults, ctx, k);
    if (iso && recording)
        record(EV_ISO_OUT, 0, 0);
}

int __wrap_lua_pcallk(lua_State *L, int nargs, int nresults, int errfunc, lua_KContext ctx, lua_KFunction k)
{
    int iso = in_isolate(L), st;
    if (iso)
        record(EV_ISO_IN, 0, 0);
    st = __real_lua_pcallk(L, nargs, nresults, errfunc, ctx, k);
    if (iso && recording)
        record(EV_ISO_OUT, 0, 0);
    return st;
}

int __wrap_lua_resume(lua_State *L, lua_State *from, int narg, int *nres)
{
    int iso = in_isolate(L), st;
    if (iso)
        record(EV_ISO_IN, 0, 0);
    st = __real_lua_resume(L, from, narg, nres);
    if (iso && recording)
        record(EV_ISO_OUT, 0, 0);
    return st;
}

/* trace.start(): records from here, in the calling thread only. */
NOTRACE static int t_start(lua_State *L)
{
    nevents = dropped = 0;
    host = L;
    host_alloc = lua_getallocf(L, &host_ud);
    lua_sethook(L, host_hook, LUA_MASKCALL | LUA_MASKRET, 0);
    recording = 1;
    return 0;
}

NOTRACE static int t_stop(lua_State *L)
{
    (void)L;
    recording = 0;
    if (host)
        lua_sethook(host, NULL, 0, 0);
    host = NULL;
    return 0;
}

/* trace.events() -> list of {kind, offset or source, line}, dropped count,
 * the path of the .so the offsets are into. */
NOTRACE static int t_events(lua_State *L)
{
    Dl_info info;
    size_t i;
    const char *so = NULL;
    uintptr_t base = 0;
    memset(&info, 0, sizeof info);
    if (dladdr(&nevents, &info) && info.dli_fbase) {
        base = (uintptr_t)info.dli_fbase;
        so = info.dli_fname;
    }
    lua_createtable(L, (int)nevents, 0);
    for (i = 0; i < nevents; i++) {
        const Event *e = &events[i];
        lua_createtable(L, 3, 0);
        lua_pushstring(L, EV_NAME[e->kind]);
        lua_rawseti(L, -2, 1);
        if (e->kind == EV_ENTER || e->kind == EV_EXIT)
            lua_pushinteger(L, (lua_Integer)(e->addr - base));
        else if (e->kind == EV_ISO_IN || e->kind == EV_ISO_OUT)
            lua_pushliteral(L, "[isolate]");
        else
            lua_pushstring(L, sources[e->addr]);
        lua_rawseti(L, -2, 2);
        lua_pushinteger(L, e->line);
        lua_rawseti(L, -2, 3);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_pushinteger(L, (lua_Integer)dropped);
    if (so)
        lua_pushstring(L, so);
    else
        lua_pushnil(L);
    return 3;
}

NOTRACE EXPORT int luaopen_lexrt_trace(lua_State *L);

int luaopen_lexrt_trace(lua_State *L)
{
    static const luaL_Reg fns[] = {
        { "start", t_start }, { "stop", t_stop }, { "events", t_events }, { NULL, NULL }
    };
    luaL_newlib(L, fns);
    return 1;
}
