/*
 * lexrt.http_core's insides, shared by l_http.c (the server: listening,
 * the loop, timers, stop, signals, worker processes) and l_httpconn.c (a
 * connection: reading requests, running them, writing responses). The
 * module is apart from lexrt.core because it links libh2o-evloop: h2o's
 * event loop and its HTTP/1 parser (http_phr.h, http_wire.h).
 */
#ifndef LEXRT_L_HTTP_H
#define LEXRT_L_HTTP_H

#define H2O_USE_LIBUV 0
#include <h2o/socket.h>
#include <h2o/socket/evloop.h>

#include <lua.h>

#include "http_wire.h"

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

/* The server's user values: the request runner, the after-response hook
 * (or nil), the table that anchors the threads requests run in. */
#define SUV_RUNNER 1
#define SUV_DONE 2
#define SUV_THREADS 3
#define SNUV 3

typedef struct Conn Conn;

typedef struct LServer {
    const void *tag;
    h2o_evloop_t *loop;
    h2o_socket_t *listener; /* NULL once stopped accepting */
    int fd;                 /* the listening socket, until the loop owns it */
    int port;
    lx_http_limits lim;
    long long request_ms, idle_ms;
    lua_Integer max_requests, served, in_flight;
    lua_State *L;           /* the thread running server:run, while it runs */
    Conn *conns;            /* every open connection */
    long long now;          /* ms, read once per turn of the loop */
    int running, stopping, closed;
    int runnable;           /* requests that yielded with nothing to wait for */
    int threads;            /* requests run in threads of their own, and may wait */
    long long date_s;       /* the second `date` was made for */
    char date[40];          /* "date: <IMF-fixdate>\r\n" */
} LServer;

enum conn_state { C_READ, C_RUN, C_WAIT, C_CLOSING };

struct Conn {
    LServer *srv;
    h2o_socket_t *sock;
    Conn *prev, *next;
    enum conn_state state;
    long long deadline; /* ms: of the request being read, or of idleness */
    int reading;        /* bytes of a request have arrived (request_timeout runs) */
    lx_http_head head;
    struct phr_header *hdrs; /* lim.max_headers + 1 */
    size_t prevlen;          /* input length at the last parse */
    int have_head, sent_continue;
    int pending;             /* bytes wait in the input: read them at the next turn */
    int lingering;           /* closing: dropping what the client still sends */
    int lost;                /* the client went while the request ran */
    int waited;              /* the running request has yielded */
    long long wake;          /* C_WAIT: when to resume, ms */
    size_t bytes;            /* the response body's, for the hook */
    size_t body_len;         /* chunked: decoded so far */
    struct phr_chunked_decoder dec;
    int keep_alive;
    int thread;              /* the request's thread: its key in SUV_THREADS, 0: none */
    long long started;       /* ms */
    double t0;               /* seconds, for the hook */
    char *wbuf, *obuf;       /* bytes being written; bytes waiting to be */
    size_t wlen, wcap, olen, ocap;
    int writing;
    int close_after;         /* close once what is queued is written */
    size_t consumed;         /* input bytes of the request answered */
    int status;
    char method[16];
    char *path;              /* for the hook, malloc'd; NULL when none */
};

/* l_httpconn.c */
void lxh_accept(LServer *srv, h2o_socket_t *sock);
/* A turn of the loop: resumes the requests whose wait is over, applies
 * the timeouts. */
void lxh_tick(LServer *srv);
long long lxh_next_event(const LServer *srv); /* ms from now, -1: none */
long long lxh_now_ms(void);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
