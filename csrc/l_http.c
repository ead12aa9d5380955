/*
 * lexrt.http_core: an HTTP/1.1 server on h2o's event loop, for
 * lua/lexrt/http.lua, which decides what a request runs (a function in a
 * request scope, or an isolate call) and hands the server one function,
 * the runner: runner(req) -> status, headers, body.
 *
 *   core.server(host, port, opts)  a listening socket (opts: reuseport,
 *                                  listen, backlog and the limits)
 *   server:run(runner, on_done, trap, threads)  the loop, until stopped: by
 *                                  server:stop(), max_requests, or SIGINT
 *                                  or SIGTERM when `trap`
 *   server:port(), :stop(), :close()
 *   core.fork(), core.wait(block), core.kill(pid, sig), core.trap(on),
 *   core.signalled(), core.sleep(s)  for workers = N (http.lua)
 *
 * The loop: each turn reads the clock once, resumes the requests whose
 * wait is over and applies timeouts (l_httpconn.c, lxh_tick), then waits
 * in h2o for at most the time to the next of those, or 100 ms, so that a
 * signal or server:stop() from a request is seen promptly. A stop closes
 * the listening socket, lets every request in flight finish and answers
 * it with "connection: close", closes idle connections, and returns.
 */
#define _DEFAULT_SOURCE /* SO_REUSEPORT, SOCK_CLOEXEC */
#define _POSIX_C_SOURCE 200809L
#include "l_http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lauxlib.h>

#define MAX_WAIT_MS 100

static const char server_tag = 'S';
static volatile sig_atomic_t stop_signal;
static int trapping;
static struct sigaction old_int, old_term, old_pipe;

static LServer *check_server(lua_State *L)
{
    LServer *srv = luaL_checkudata(L, 1, "lexrt.http_server");
    if (srv->tag != &server_tag)
        luaL_typeerror(L, 1, "lexrt.http_server");
    return srv;
}

static LServer *check_open(lua_State *L)
{
    LServer *srv = check_server(L);
    if (srv->closed)
        luaL_error(L, "server is closed");
    return srv;
}

/* ------------------------------------------------------------------ signals */

static void on_signal(int sig)
{
    stop_signal = sig;
}

static void trap(int on)
{
    struct sigaction sa;
    if (on == trapping)
        return;
    if (on) {
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        stop_signal = 0;
    } else {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    trapping = on;
}

/* ------------------------------------------------------------------ the server */

static lua_Integer opt_int(lua_State *L, int t, const char *key, lua_Integer dflt)
{
    lua_Integer v = dflt;
    if (lua_getfield(L, t, key) != LUA_TNIL) {
        if (!lua_isinteger(L, -1))
            luaL_error(L, "%s must be an integer", key);
        v = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static int opt_bool(lua_State *L, int t, const char *key, int dflt)
{
    int v = dflt;
    if (lua_getfield(L, t, key) != LUA_TNIL)
        v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* A socket bound to host:port (and listening, when `listen`); -1 and
 * the reason pushed, on failure. */
static int open_socket(lua_State *L, const char *host, const char *port, int reuseport, int listening, int backlog)
{
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1, one = 1, rc;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        lua_pushfstring(L, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
            (!reuseport || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0) &&
            bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && (!listening || listen(fd, backlog) == 0) &&
            fcntl(fd, F_SETFL, O_NONBLOCK) == 0)
            break;
        rc = errno;
        close(fd);
        fd = -1;
        errno = rc;
    }
    if (fd < 0)
        lua_pushfstring(L, "cannot listen on %s:%s: %s", host, port, strerror(errno));
    freeaddrinfo(res);
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* core.server(host, port, opts) */
static int l_server(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    lua_Integer port = luaL_checkinteger(L, 2);
    char portbuf[16];
    LServer *srv;
    int fd;
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_argcheck(L, port >= 0 && port <= 65535, 2, "port must be in 0..65535");
    srv = lua_newuserdatauv(L, sizeof *srv, SNUV);
    memset(srv, 0, sizeof *srv);
    srv->tag = &server_tag;
    srv->fd = -1;
    srv->closed = 1; /* until the socket is there */
    luaL_setmetatable(L, "lexrt.http_server");
    lua_newtable(L);
    lua_setiuservalue(L, -2, SUV_THREADS);
    srv->lim.max_header_bytes = (size_t)opt_int(L, 3, "max_header_bytes", 8192);
    srv->lim.max_headers = (size_t)opt_int(L, 3, "max_headers", 100);
    srv->lim.max_body_bytes = (size_t)opt_int(L, 3, "max_body_bytes", 1 << 20);
    srv->request_ms = opt_int(L, 3, "request_timeout_ms", 10000);
    srv->idle_ms = opt_int(L, 3, "idle_timeout_ms", 60000);
    srv->max_requests = opt_int(L, 3, "max_requests", 0);
    if (srv->lim.max_headers > LX_HTTP_HEADERS_LIMIT)
        return luaL_error(L, "max_headers must be at most %d", LX_HTTP_HEADERS_LIMIT);
    (void)snprintf(portbuf, sizeof portbuf, "%d", (int)port);
    fd = open_socket(L, host, portbuf, opt_bool(L, 3, "reuseport", 0), opt_bool(L, 3, "listen", 1),
                     (int)opt_int(L, 3, "backlog", 511));
    if (fd < 0)
        return lua_error(L);
    srv->fd = fd;
    srv->port = bound_port(fd);
    srv->closed = 0;
    return 1;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    LServer *srv = listener->data;
    int i;
    if (err != NULL)
        return;
    srv->now = lxh_now_ms();
    for (i = 0; i < 16; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        lxh_accept(srv, sock);
    }
}

static void stop_accepting(LServer *srv)
{
    if (srv->listener != NULL) {
        h2o_socket_close(srv->listener);
        srv->listener = NULL;
        srv->fd = -1; /* h2o closed it */
    } else if (srv->fd >= 0 && srv->loop == NULL) {
        close(srv->fd);
        srv->fd = -1;
    }
}

/* server:run(runner, on_done, trap) -> requests served, why it stopped */
static int s_run(lua_State *L)
{
    LServer *srv = check_open(L);
    int trapped;
    if (srv->running)
        return luaL_error(L, "server is running");
    if (srv->fd < 0)
        return luaL_error(L, "server has stopped accepting: make a new one");
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (!lua_isnoneornil(L, 3))
        luaL_checktype(L, 3, LUA_TFUNCTION);
    trapped = lua_toboolean(L, 4);
    srv->threads = lua_toboolean(L, 5);
    lua_settop(L, 3);
    lua_setiuservalue(L, 1, SUV_DONE);
    lua_setiuservalue(L, 1, SUV_RUNNER);
    if (srv->loop == NULL) {
        srv->loop = h2o_evloop_create();
        srv->listener = h2o_evloop_socket_create(srv->loop, srv->fd, H2O_SOCKET_FLAG_DONT_READ);
        srv->listener->data = srv;
        h2o_socket_read_start(srv->listener, on_accept);
    }
    if (trapped)
        trap(1);
    /* A client gone mid-response must be an EPIPE, not the end of the
     * process, whichever way h2o writes. */
    {
        struct sigaction ign;
        memset(&ign, 0, sizeof ign);
        ign.sa_handler = SIG_IGN;
        sigemptyset(&ign.sa_mask);
        sigaction(SIGPIPE, &ign, &old_pipe);
    }
    srv->L = L;
    srv->running = 1;
    srv->served = 0;
    for (;;) {
        long long wait;
        srv->now = lxh_now_ms();
        if (trapped && stop_signal)
            srv->stopping = 1;
        if (srv->stopping)
            stop_accepting(srv);
        lxh_tick(srv);
        if (srv->stopping && srv->conns == NULL && srv->in_flight == 0)
            break;
        wait = lxh_next_event(srv);
        if (wait < 0 || wait > MAX_WAIT_MS)
            wait = MAX_WAIT_MS;
        h2o_evloop_run(srv->loop, (int32_t)wait);
    }
    srv->running = 0;
    srv->L = NULL;
    sigaction(SIGPIPE, &old_pipe, NULL);
    if (trapped)
        trap(0);
    lua_pushinteger(L, srv->served);
    if (trapped && stop_signal)
        lua_pushstring(L, stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    else if (srv->max_requests > 0 && srv->served >= srv->max_requests)
        lua_pushliteral(L, "max_requests");
    else
        lua_pushliteral(L, "stopped");
    return 2;
}

static int s_stop(lua_State *L)
{
    LServer *srv = check_server(L);
    srv->stopping = 1;
    return 0;
}

static int s_port(lua_State *L)
{
    lua_pushinteger(L, check_server(L)->port);
    return 1;
}

static int s_close(lua_State *L)
{
    LServer *srv = check_server(L);
    if (srv->running)
        return luaL_error(L, "server is running: stop it first");
    stop_accepting(srv);
    if (srv->loop != NULL) {
        h2o_evloop_run(srv->loop, 0); /* lets h2o finish closing */
        h2o_evloop_destroy(srv->loop);
        srv->loop = NULL;
    }
    srv->closed = 1;
    return 0;
}

static int s_gc(lua_State *L)
{
    LServer *srv = check_server(L);
    if (!srv->running)
        s_close(L);
    return 0;
}

/* ------------------------------------------------------------------ workers */

static int l_fork(lua_State *L)
{
    pid_t pid = fork();
    if (pid < 0)
        return luaL_error(L, "fork: %s", strerror(errno));
    if (pid == 0) {
        trap(0);
        stop_signal = 0;
    }
    lua_pushinteger(L, pid);
    return 1;
}

/* core.wait(block) -> pid, "exit"|"signal", code | nil */
static int l_wait(lua_State *L)
{
    int status;
    pid_t pid = waitpid(-1, &status, lua_toboolean(L, 1) ? 0 : WNOHANG);
    if (pid <= 0)
        return 0;
    lua_pushinteger(L, pid);
    if (WIFEXITED(status)) {
        lua_pushliteral(L, "exit");
        lua_pushinteger(L, WEXITSTATUS(status));
    } else {
        lua_pushliteral(L, "signal");
        lua_pushinteger(L, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    return 3;
}

static int l_kill(lua_State *L)
{
    static const char *const names[] = {"TERM", "KILL", "INT", NULL};
    static const int sigs[] = {SIGTERM, SIGKILL, SIGINT};
    lua_Integer pid = luaL_checkinteger(L, 1);
    int which = luaL_checkoption(L, 2, "TERM", names);
    luaL_argcheck(L, pid > 0, 1, "pid must be positive");
    lua_pushboolean(L, kill((pid_t)pid, sigs[which]) == 0);
    return 1;
}

static int l_trap(lua_State *L)
{
    trap(lua_toboolean(L, 1));
    return 0;
}

static int l_signalled(lua_State *L)
{
    if (!stop_signal)
        return 0;
    lua_pushstring(L, stop_signal == SIGINT ? "SIGINT" : "SIGTERM");
    return 1;
}

static int l_sleep(lua_State *L)
{
    lua_Number s = luaL_checknumber(L, 1);
    struct timespec ts;
    luaL_argcheck(L, s >= 0 && s <= 3600, 1, "seconds must be in 0..3600");
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (lua_Number)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL); /* a signal cuts it short: the caller looks */
    return 0;
}

static const luaL_Reg server_methods[] = {
    {"run", s_run},
    {"stop", s_stop},
    {"port", s_port},
    {"close", s_close},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"server", l_server},
    {"fork", l_fork},
    {"wait", l_wait},
    {"kill", l_kill},
    {"trap", l_trap},
    {"signalled", l_signalled},
    {"sleep", l_sleep},
    {NULL, NULL},
};

__attribute__((visibility("default"))) int luaopen_lexrt_http_core(lua_State *L);

int luaopen_lexrt_http_core(lua_State *L)
{
    luaL_newmetatable(L, "lexrt.http_server");
    luaL_newlib(L, server_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, s_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, s_close);
    lua_setfield(L, -2, "__close");
    lua_pushliteral(L, "lexrt.http_server");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
