/*
 * One HTTP/1.1 connection of lexrt.http: reading a request (head, then
 * its body by length or chunks), running it in a Lua thread of its own,
 * writing the response, then the next request on the same connection.
 *
 * One request at a time per connection: while one runs, reading stops,
 * so pipelined requests wait in the input buffer and their responses go
 * out in order, and what a client can make the server hold is bounded by
 * the limits. A request's thread may yield (an effect waiting, through
 * iso:call); it is resumed after the number of seconds it yielded, or at
 * the next turn of the loop. Every Lua call made from the loop's
 * callbacks runs under lua_pcall, so that no error ever unwinds through
 * h2o's frames; a request whose Lua side fails is answered 500.
 *
 * Refusals (http_wire.h's statuses, 408 for a request not read within
 * request_timeout) are answered with "connection: close"; the connection
 * then lingers, reading and dropping what the client still sends, until
 * it closes or a second passes, so that the client reads the answer
 * rather than a reset.
 */
#define _POSIX_C_SOURCE 200809L
#include "l_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <lauxlib.h>

#define LINGER_MS 1000
#define CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* Server index in the frame of server:run, where every callback runs. */
#define RUN_SERVER 1

long long lxh_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ output */

static int reserve_out(Conn *c, size_t more)
{
    size_t need = c->olen + more, cap = c->ocap ? c->ocap : 1024;
    char *p;
    if (need <= c->ocap)
        return 0;
    while (cap < need)
        cap *= 2;
    p = realloc(c->obuf, cap);
    if (p == NULL)
        return -1;
    c->obuf = p;
    c->ocap = cap;
    return 0;
}

static int put(Conn *c, const char *s, size_t n)
{
    if (reserve_out(c, n) != 0)
        return -1;
    memcpy(c->obuf + c->olen, s, n);
    c->olen += n;
    return 0;
}

static int puts_(Conn *c, const char *s)
{
    return put(c, s, strlen(s));
}

static void on_written(h2o_socket_t *sock, const char *err);

/* Starts writing what is queued, unless a write is in flight: its
 * callback comes back here. */
static void kick_write(Conn *c)
{
    h2o_iovec_t iov;
    char *t;
    size_t tc;
    if (c->writing || c->olen == 0)
        return;
    t = c->wbuf;
    c->wbuf = c->obuf;
    c->wlen = c->olen;
    c->obuf = t;
    tc = c->ocap;
    c->ocap = c->wcap;
    c->wcap = tc;
    c->olen = 0;
    c->writing = 1;
    iov.base = c->wbuf;
    iov.len = c->wlen;
    h2o_socket_write(c->sock, &iov, 1, on_written);
}

/* ------------------------------------------------------------------ lifetime */

static void on_read(h2o_socket_t *sock, const char *err);

static void close_conn(Conn *c)
{
    LServer *srv = c->srv;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->sock->data = NULL;
    h2o_socket_close(c->sock);
    free(c->wbuf);
    free(c->obuf);
    free(c->hdrs);
    free(c->path);
    free(c);
}

void lxh_accept(LServer *srv, h2o_socket_t *sock)
{
    Conn *c = calloc(1, sizeof *c);
    if (c != NULL)
        c->hdrs = calloc(srv->lim.max_headers + 1, sizeof *c->hdrs);
    if (c == NULL || c->hdrs == NULL) {
        free(c);
        h2o_socket_close(sock);
        return;
    }
    c->srv = srv;
    c->sock = sock;
    c->state = C_READ;
    c->deadline = srv->now + srv->idle_ms;
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    sock->data = c;
    h2o_socket_read_start(sock, on_read);
}

static void on_linger(h2o_socket_t *sock, const char *err)
{
    Conn *c = sock->data;
    if (err != NULL) {
        close_conn(c);
        return;
    }
    h2o_buffer_consume(&sock->input, sock->input->size);
}

/* After the last response on a connection is written: the half close
 * tells the client the answer is complete at once, the linger keeps its
 * late bytes from turning into a reset that could destroy the answer. */
static void finish_closing(Conn *c)
{
    int fd = h2o_socket_get_fd(c->sock);
    if (fd >= 0)
        (void)shutdown(fd, SHUT_WR);
    c->state = C_CLOSING;
    c->lingering = 1;
    c->deadline = c->srv->now + LINGER_MS;
    h2o_buffer_consume(&c->sock->input, c->sock->input->size);
    h2o_socket_read_start(c->sock, on_linger);
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    Conn *c = sock->data;
    c->writing = 0;
    if (err != NULL) {
        if (c->state == C_RUN || c->state == C_WAIT)
            c->lost = 1; /* the request goes on; its answer is dropped */
        else
            close_conn(c);
        return;
    }
    if (c->olen > 0) {
        kick_write(c);
        return;
    }
    if (c->state == C_CLOSING && !c->lingering)
        finish_closing(c);
}

/* ------------------------------------------------------------------ responses */

static int bodiless(int status)
{
    return status < 200 || status == 204 || status == 304;
}

/* The Date header HTTP requires of a server with a clock, made once a
 * second; by hand, since strftime's names follow the locale. */
static const char *date_line(LServer *srv)
{
    static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    time_t t = time(NULL);
    struct tm tm;
    if ((long long)t != srv->date_s && gmtime_r(&t, &tm) != NULL) {
        srv->date_s = (long long)t;
        (void)snprintf(srv->date, sizeof srv->date, "date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
    }
    return srv->date;
}

/* The status line, content-length, connection and the blank line. */
static int queue_status(Conn *c, int status)
{
    char line[96];
    (void)snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, lx_http_reason(status));
    if (puts_(c, line) != 0)
        return -1;
    return status < 200 ? 0 : puts_(c, date_line(c->srv));
}

static int queue_end(Conn *c, int status, const char *body, size_t blen)
{
    int head_only = strcmp(c->method, "HEAD") == 0;
    if (!bodiless(status)) {
        char line[64];
        (void)snprintf(line, sizeof line, "content-length: %zu\r\n", blen);
        if (puts_(c, line) != 0)
            return -1;
    }
    if (puts_(c, c->keep_alive ? "\r\n" : "connection: close\r\n\r\n") != 0)
        return -1;
    if (!bodiless(status) && !head_only && blen > 0 && put(c, body, blen) != 0)
        return -1;
    c->status = status;
    c->bytes = bodiless(status) ? 0 : blen;
    return 0;
}

/* After a response is queued: the next request, or the end. */
static void answered(Conn *c)
{
    LServer *srv = c->srv;
    h2o_buffer_consume(&c->sock->input, c->consumed);
    c->consumed = 0;
    c->have_head = 0;
    c->sent_continue = 0;
    c->prevlen = 0;
    c->reading = 0;
    c->body_len = 0;
    kick_write(c);
    if (!c->keep_alive) {
        c->state = C_CLOSING;
        if (!c->writing)
            finish_closing(c);
        return;
    }
    c->state = C_READ;
    c->deadline = srv->now + srv->idle_ms;
    h2o_socket_read_start(c->sock, on_read);
    if (c->sock->input->size > 0) { /* pipelined: read at the next turn, not recursively */
        c->pending = 1;
        srv->runnable++;
    }
}

static void call_hook(lua_State *L, Conn *c);

/* Answers a request the server refuses, or cannot run, and closes. The
 * hook sees it too (method and path when the head was read). */
static void refuse(Conn *c, int status)
{
    char body[96];
    int n = snprintf(body, sizeof body, "%d %s\n", status, lx_http_reason(status));
    h2o_socket_read_stop(c->sock);
    c->keep_alive = 0;
    c->olen = 0;
    if (queue_status(c, status) == 0)
        (void)queue_end(c, status, body, (size_t)n);
    c->consumed = c->sock->input->size;
    if (c->state == C_READ) { /* the head's bytes are still where the parser left them */
        size_t k = c->head.method != NULL && c->head.method_len < sizeof c->method ? c->head.method_len : 0;
        if (k > 0)
            memcpy(c->method, c->head.method, k);
        c->method[k] = '\0';
        free(c->path);
        c->path = NULL;
    }
    if (c->srv->L != NULL)
        call_hook(c->srv->L, c);
    answered(c);
}

/* Why the request thread's results are not a response (status, headers
 * table or nil, body string or nil), or NULL. */
static const char *bad_results(lua_State *co, int b, int nres)
{
    if (nres < 1 || !lua_isinteger(co, b + 1) || lua_tointeger(co, b + 1) < 100 || lua_tointeger(co, b + 1) > 599)
        return "the status must be an integer in 100..599";
    if (nres >= 2 && !lua_isnil(co, b + 2) && !lua_istable(co, b + 2))
        return "the headers must be a table";
    if (nres >= 3 && !lua_isnil(co, b + 3) && lua_type(co, b + 3) != LUA_TSTRING)
        return "the body must be a string";
    if (nres >= 2 && lua_istable(co, b + 2)) {
        lua_pushnil(co);
        while (lua_next(co, b + 2)) {
            size_t n, vn;
            const char *name, *value;
            if (lua_type(co, -2) != LUA_TSTRING || lua_type(co, -1) != LUA_TSTRING) {
                lua_pop(co, 2);
                return "header names and values must be strings";
            }
            name = lua_tolstring(co, -2, &n);
            value = lua_tolstring(co, -1, &vn);
            if (!lx_http_token(name, n) || !lx_http_field_value(value, vn)) {
                lua_pop(co, 2);
                return "a header name is not a token, or its value holds CR, LF or NUL";
            }
            lua_pop(co, 1);
        }
    }
    return NULL;
}

/* Headers the server writes itself. */
static int managed(const char *name, size_t n)
{
    return (n == 14 && strncasecmp(name, "content-length", n) == 0) ||
           (n == 17 && strncasecmp(name, "transfer-encoding", n) == 0) ||
           (n == 10 && strncasecmp(name, "connection", n) == 0);
}

/* Queues the response the runner returned (nres values above index b of
 * co); -1 (logged) when they are not one, or memory ran out. */
static int queue_response(Conn *c, lua_State *co, int b, int nres)
{
    const char *why = bad_results(co, b, nres), *body = NULL;
    size_t blen = 0;
    int status;
    if (why != NULL) {
        (void)fprintf(stderr, "lexrt.http: %s %s answered 500: %s\n", c->method, c->path ? c->path : "", why);
        return -1;
    }
    status = (int)lua_tointeger(co, b + 1);
    if (nres >= 3 && lua_type(co, b + 3) == LUA_TSTRING)
        body = lua_tolstring(co, b + 3, &blen);
    if (c->srv->stopping)
        c->keep_alive = 0;
    if (queue_status(c, status) != 0)
        return -1;
    if (nres >= 2 && lua_istable(co, b + 2)) {
        lua_pushnil(co);
        while (lua_next(co, b + 2)) {
            size_t n, vn;
            const char *name = lua_tolstring(co, -2, &n), *value = lua_tolstring(co, -1, &vn);
            if (!managed(name, n) &&
                (put(c, name, n) != 0 || put(c, ": ", 2) != 0 || put(c, value, vn) != 0 || put(c, "\r\n", 2) != 0)) {
                lua_pop(co, 2);
                return -1;
            }
            lua_pop(co, 1);
        }
    }
    return queue_end(c, status, body, blen);
}

/* ------------------------------------------------------------------ running */

/* Pushes the request table: method, path, query, headers, body, remote. */
static void push_request(lua_State *L, Conn *c, const char *body, size_t blen)
{
    const lx_http_head *h = &c->head;
    const char *q = memchr(h->target, '?', h->target_len);
    size_t plen = q ? (size_t)(q - h->target) : h->target_len, i;
    struct sockaddr_storage ss;
    socklen_t sl;
    char addr[INET6_ADDRSTRLEN] = "";
    lua_createtable(L, 0, 6);
    lua_pushlstring(L, h->method, h->method_len);
    lua_setfield(L, -2, "method");
    lua_pushlstring(L, h->target, plen);
    lua_setfield(L, -2, "path");
    if (q != NULL)
        lua_pushlstring(L, q + 1, h->target_len - plen - 1);
    else
        lua_pushliteral(L, "");
    lua_setfield(L, -2, "query");
    lua_pushlstring(L, body ? body : "", blen);
    lua_setfield(L, -2, "body");
    sl = h2o_socket_getpeername(c->sock, (struct sockaddr *)&ss);
    if (sl > 0 && ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof addr);
    else if (sl > 0 && ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof addr);
    lua_pushstring(L, addr);
    lua_setfield(L, -2, "remote");
    lua_createtable(L, 0, (int)h->nheaders);
    for (i = 0; i < h->nheaders; i++) {
        const struct phr_header *hd = &h->headers[i];
        luaL_Buffer b;
        size_t k;
        char *p = luaL_buffinitsize(L, &b, hd->name_len);
        for (k = 0; k < hd->name_len; k++) {
            char ch = hd->name[k];
            p[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
        }
        luaL_pushresultsize(&b, hd->name_len);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, -3) == LUA_TSTRING) { /* repeated: joined */
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, hd->value, hd->value_len);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushlstring(L, hd->value, hd->value_len);
        }
        lua_rawset(L, -3);
    }
    lua_setfield(L, -2, "headers");
}

/* Calls the after-response hook, if any: (method, path, status, bytes,
 * seconds); its errors are logged, never the request's. */
static void call_hook(lua_State *L, Conn *c)
{
    if (lua_getiuservalue(L, 1, SUV_DONE) == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pushstring(L, c->method);
    lua_pushstring(L, c->path ? c->path : "");
    lua_pushinteger(L, c->status);
    lua_pushinteger(L, (lua_Integer)c->bytes);
    lua_pushnumber(L, now_s() - c->t0);
    if (lua_pcall(L, 5, 0, 0) != LUA_OK) {
        (void)fprintf(stderr, "lexrt.http: on_request: %s\n", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error");
        lua_pop(L, 1);
    }
}

/* Whether the client has closed its end (or reset it), from what the
 * kernel holds: input is not read while a request runs, so a client that
 * left while its request waited is seen only here; the answer is then
 * for no one. */
static int client_gone(Conn *c)
{
    char b;
    int fd = h2o_socket_get_fd(c->sock);
    ssize_t n = fd < 0 ? 1 : recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* The request has run: queues its response (`ok`: its results, nres
 * above index b of S, can be answered), then the hook and the next. */
static void complete(lua_State *L, Conn *c, lua_State *S, int b, int nres, int ok)
{
    LServer *srv = c->srv;
    if (c->waited && !c->lost && client_gone(c))
        c->lost = 1;
    c->waited = 0;
    ok = ok && !c->lost && queue_response(c, S, b, nres) == 0;
    srv->in_flight--;
    srv->served++;
    if (srv->max_requests > 0 && srv->served >= srv->max_requests)
        srv->stopping = 1;
    if (c->lost) {
        /* nginx's 499: the client closed the connection first. */
        c->status = 499;
        c->bytes = 0;
        call_hook(L, c);
        close_conn(c);
        return;
    }
    if (!ok) {
        c->olen = 0;
        c->keep_alive = 0;
        if (queue_status(c, 500) == 0)
            (void)queue_end(c, 500, "500 Internal Server Error\n", 26);
    }
    call_hook(L, c);
    answered(c);
}

static void log_error(const Conn *c, lua_State *S)
{
    (void)fprintf(stderr, "lexrt.http: %s %s answered 500: %s\n", c->method, c->path ? c->path : "",
            lua_type(S, -1) == LUA_TSTRING ? lua_tostring(S, -1) : "(an error value that is not a string)");
}

/* A request's thread ran (resumed, nargs values given); it yielded,
 * returned or failed. host: the server at 1. */
static void step(lua_State *L, Conn *c, lua_State *co, int nargs)
{
    LServer *srv = c->srv;
    int nres = 0, st = lua_resume(co, L, nargs, &nres);
    if (st == LUA_YIELD) {
        /* yield(seconds), or yield("sleep", seconds) as the examples'
         * schedulers take it; anything else: the next turn. */
        int first = lua_gettop(co) - nres + 1;
        double secs = 0;
        if (nres >= 1 && lua_type(co, first) == LUA_TNUMBER)
            secs = lua_tonumber(co, first);
        else if (nres >= 2 && lua_type(co, first) == LUA_TSTRING && lua_type(co, first + 1) == LUA_TNUMBER &&
                 strcmp(lua_tostring(co, first), "sleep") == 0)
            secs = lua_tonumber(co, first + 1);
        if (!(secs < 3600)) /* NaN and huge: an hour at most */
            secs = 3600;
        lua_pop(co, nres);
        c->waited = 1;
        c->state = C_WAIT;
        c->wake = srv->now + (secs > 0 ? (long long)(secs * 1000 + 0.5) : 0);
        if (secs <= 0)
            srv->runnable++;
        return;
    }
    if (st != LUA_OK)
        log_error(c, co);
    /* The thread back: to the idle ones when it can run again. */
    lua_getiuservalue(L, 1, SUV_THREADS);
    if (st == LUA_OK) {
        lua_rawgeti(L, -1, c->thread);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    }
    lua_pushnil(L);
    lua_rawseti(L, -2, c->thread);
    lua_pop(L, 1);
    c->thread = 0;
    complete(L, c, co, 0, nres, st == LUA_OK);
    lua_settop(co, 0);
}

/* The next free key for a thread: the idle threads are 1..n, in-flight
 * ones are kept at negative keys, one per connection. */
static int next_key;

/* host: start_body(server, conn): runs a request whose bytes are all in. */
static int start_body(lua_State *L)
{
    Conn *c = lua_touserdata(L, 2);
    lua_State *co;
    const char *body = NULL;
    size_t blen = 0, n;
    char *buf = c->sock->input->bytes;
    lua_settop(L, 2);
    /* The head again: the buffer may have moved while the body came. */
    if (lx_http_parse_head(buf, c->sock->input->size, 0, &c->srv->lim, c->hdrs, c->srv->lim.max_headers + 1,
                           &c->head) != 1)
        return luaL_error(L, "the request's head changed");
    if (c->head.body == LX_BODY_LENGTH) {
        body = buf + c->head.head_len;
        blen = c->head.length;
    } else if (c->head.body == LX_BODY_CHUNKED) {
        body = buf + c->head.head_len;
        blen = c->body_len;
    }
    n = c->head.method_len < sizeof c->method - 1 ? c->head.method_len : sizeof c->method - 1;
    memcpy(c->method, c->head.method, n);
    c->method[n] = '\0';
    free(c->path);
    c->path = NULL;
    {
        const char *q = memchr(c->head.target, '?', c->head.target_len);
        size_t plen = q ? (size_t)(q - c->head.target) : c->head.target_len;
        c->path = malloc(plen + 1);
        if (c->path == NULL)
            return luaL_error(L, "not enough memory");
        memcpy(c->path, c->head.target, plen);
        c->path[plen] = '\0';
    }
    c->state = C_RUN;
    c->srv->in_flight++;
    if (!c->srv->threads) { /* runs to completion: nothing may yield */
        int st;
        lua_getiuservalue(L, 1, SUV_RUNNER);
        push_request(L, c, body, blen);
        st = lua_pcall(L, 1, 3, 0);
        if (st != LUA_OK)
            log_error(c, L);
        complete(L, c, L, lua_gettop(L) - 3, 3, st == LUA_OK);
        return 0;
    }
    lua_getiuservalue(L, 1, SUV_THREADS); /* 3 */
    if (lua_rawlen(L, 3) > 0) {
        lua_Integer top = (lua_Integer)lua_rawlen(L, 3);
        lua_rawgeti(L, 3, top);
        lua_pushnil(L);
        lua_rawseti(L, 3, top);
    } else {
        lua_newthread(L);
    }
    co = lua_tothread(L, 4);
    if (next_key <= INT32_MIN + 1)
        next_key = 0;
    c->thread = --next_key;
    lua_pushvalue(L, 4);
    lua_rawseti(L, 3, c->thread);
    if (!lua_checkstack(co, 3))
        return luaL_error(L, "not enough memory");
    lua_getiuservalue(L, 1, SUV_RUNNER);
    push_request(L, c, body, blen);
    lua_xmove(L, co, 2);
    step(L, c, co, 1);
    return 0;
}

/* host: resume_body(server, conn): a request whose wait is over. */
static int resume_body(lua_State *L)
{
    Conn *c = lua_touserdata(L, 2);
    lua_getiuservalue(L, 1, SUV_THREADS);
    lua_rawgeti(L, -1, c->thread);
    c->state = C_RUN;
    step(L, c, lua_tothread(L, -1), 0);
    return 0;
}

/* Runs fn(server, conn) protected; a failure before the request's
 * response is queued answers it 500. */
static void protected(LServer *srv, Conn *c, lua_CFunction fn)
{
    lua_State *L = srv->L;
    int top = lua_gettop(L);
    lua_pushcfunction(L, fn);
    lua_pushvalue(L, RUN_SERVER);
    lua_pushlightuserdata(L, c);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        (void)fprintf(stderr, "lexrt.http: %s\n", lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "error");
        if (c->state == C_RUN || c->state == C_WAIT || c->state == C_READ) {
            if (c->thread != 0) {
                lua_getiuservalue(L, RUN_SERVER, SUV_THREADS);
                lua_pushnil(L);
                lua_rawseti(L, -2, c->thread);
                c->thread = 0;
                srv->in_flight--;
            }
            refuse(c, 500);
        }
    }
    lua_settop(L, top);
}

/* ------------------------------------------------------------------ reading */

static void maybe_continue(Conn *c)
{
    if (c->head.expect_continue && !c->sent_continue) {
        c->sent_continue = 1;
        if (put(c, CONTINUE, sizeof CONTINUE - 1) == 0)
            kick_write(c);
    }
}

/* Reads what has arrived: a head, a body, then runs the request. */
static void process(Conn *c)
{
    LServer *srv = c->srv;
    h2o_buffer_t *in = c->sock->input;
    int r;
    if (c->state != C_READ)
        return;
    if (in->size == 0)
        return;
    if (!c->reading) {
        c->reading = 1;
        c->deadline = srv->now + srv->request_ms;
        c->t0 = now_s();
    }
    if (!c->have_head) {
        r = lx_http_parse_head(in->bytes, in->size, c->prevlen, &srv->lim, c->hdrs, srv->lim.max_headers + 1,
                               &c->head);
        c->prevlen = in->size;
        if (r == 0)
            return;
        if (r != 1) {
            refuse(c, r);
            return;
        }
        c->have_head = 1;
        c->keep_alive = c->head.keep_alive;
        memset(&c->dec, 0, sizeof c->dec);
        c->dec.consume_trailer = 1;
        c->body_len = 0;
    }
    switch (c->head.body) {
    case LX_BODY_NONE:
        c->consumed = c->head.head_len;
        break;
    case LX_BODY_LENGTH:
        if (in->size < c->head.head_len + c->head.length) {
            maybe_continue(c);
            return;
        }
        c->consumed = c->head.head_len + c->head.length;
        break;
    case LX_BODY_CHUNKED: {
        size_t len = in->size;
        r = lx_http_chunked(&c->dec, in->bytes, c->head.head_len, &c->body_len, &len, srv->lim.max_body_bytes);
        in->size = len;
        if (r == 0) {
            maybe_continue(c);
            return;
        }
        if (r != 1) {
            refuse(c, r);
            return;
        }
        c->consumed = c->head.head_len + c->body_len;
        break;
    }
    }
    h2o_socket_read_stop(c->sock);
    protected(srv, c, start_body);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    Conn *c = sock->data;
    if (err != NULL) {
        close_conn(c);
        return;
    }
    c->srv->now = lxh_now_ms();
    process(c);
}

/* ------------------------------------------------------------------ the loop's turn */

void lxh_tick(LServer *srv)
{
    Conn *c = srv->conns, *next;
    int runnable = srv->runnable;
    srv->runnable = 0;
    for (; c != NULL; c = next) {
        next = c->next;
        if (c->pending) {
            c->pending = 0;
            process(c);
        } else if (c->state == C_WAIT && c->wake <= srv->now) {
            protected(srv, c, resume_body);
        } else if (c->state == C_READ && c->reading && c->deadline <= srv->now) {
            refuse(c, 408);
        } else if (((c->state == C_READ && !c->reading && !c->writing) || (c->state == C_CLOSING && c->lingering)) &&
                   (c->deadline <= srv->now || srv->stopping)) {
            close_conn(c); /* idle, or done lingering */
        }
    }
    (void)runnable;
}

long long lxh_next_event(const LServer *srv)
{
    const Conn *c;
    long long next = -1;
    if (srv->runnable > 0)
        return 0;
    for (c = srv->conns; c != NULL; c = c->next) {
        long long at = c->state == C_WAIT ? c->wake : c->state == C_RUN ? -1 : c->deadline;
        if (c->pending)
            return 0;
        if (at >= 0 && (next < 0 || at < next))
            next = at;
    }
    return next < 0 ? -1 : next > srv->now ? next - srv->now : 0;
}
