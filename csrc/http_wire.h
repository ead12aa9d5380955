/*
 * HTTP/1.1 on the wire, for lexrt.http: what a request head means (with
 * the limits a server puts on it), a chunked body decoded as it arrives,
 * and a response head. Parsing is h2o's parser's (http_phr.h); this layer
 * adds the rules a server must enforce on top, and the status each
 * refusal is answered with. No Lua, no sockets: tested and fuzzed alone.
 */
#ifndef LEXRT_HTTP_WIRE_H
#define LEXRT_HTTP_WIRE_H

#include <stddef.h>

#include "http_phr.h"

/* The largest max_headers a server may set. */
#define LX_HTTP_HEADERS_LIMIT 1000

typedef struct lx_http_limits {
    size_t max_header_bytes; /* the request line and headers */
    size_t max_headers;
    size_t max_body_bytes;
} lx_http_limits;

enum lx_http_body { LX_BODY_NONE, LX_BODY_LENGTH, LX_BODY_CHUNKED };

typedef struct lx_http_head {
    const char *method, *target; /* target: path and query, as sent */
    size_t method_len, target_len;
    int minor;                   /* HTTP/1.minor */
    struct phr_header *headers;  /* the caller's array */
    size_t nheaders;
    size_t head_len;             /* bytes of the head, blank line included */
    enum lx_http_body body;
    size_t length;               /* LX_BODY_LENGTH: the body's bytes */
    int keep_alive;              /* the client keeps the connection */
    int expect_continue;         /* "Expect: 100-continue" */
} lx_http_head;

/*
 * Parses the request head at buf[0, len) into h, with `headers` (room for
 * `cap` >= lim->max_headers + 1 of them). `prev`: len at the previous try
 * on the same bytes (0 at first). Returns 0 when more bytes are needed, 1
 * when h is complete, else the status to refuse the request with:
 *   400 malformed: request line or headers, a folded header, a bad or
 *       conflicting Content-Length, Content-Length with
 *       Transfer-Encoding, a transfer coding other than chunked;
 *   413 a Content-Length above max_body_bytes;
 *   431 a head above max_header_bytes, or more than max_headers headers.
 */
int lx_http_parse_head(const char *buf, size_t len, size_t prev, const lx_http_limits *lim,
                       struct phr_header *headers, size_t cap, lx_http_head *h);

/*
 * A chunked body arriving after the head, decoded in place. buf[start,
 * *len) holds the body decoded so far (*decoded bytes) and then bytes not
 * yet decoded. Returns 0 when more are needed (*len shrinks to what is
 * kept), 1 when the body is complete (it is buf[start, start + *decoded),
 * and *len ends after the bytes that followed it: the next request's),
 * 400 when the coding is malformed, 413 past max_body.
 */
int lx_http_chunked(struct phr_chunked_decoder *d, char *buf, size_t start, size_t *decoded, size_t *len,
                    size_t max_body);

/* The reason phrase of a status (100..599), "" for one it does not know. */
const char *lx_http_reason(int status);

/* Whether name[0, n) is an HTTP token and value[0, n) has no CR, LF or
 * NUL: what a response header may be. */
int lx_http_token(const char *name, size_t n);
int lx_http_field_value(const char *value, size_t n);

/* Whether a request head's target and headers can be used: the header
 * name at i equals `lower` (lower-case), ignoring case. */
int lx_http_name_is(const struct phr_header *hd, const char *lower);

#endif
