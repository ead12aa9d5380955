/*
 * http_wire.c: what a request head means and the status each refusal
 * gets, on h2o's parser. Each case is the bytes a client sends.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http_wire.h"

static const lx_http_limits LIM = {8192, 100, 1 << 20};

static struct phr_header hdrs[LX_HTTP_HEADERS_LIMIT + 1];

static int parse(const char *req, lx_http_head *h)
{
    return lx_http_parse_head(req, strlen(req), 0, &LIM, hdrs, LIM.max_headers + 1, h);
}

static int status_of(const char *req)
{
    lx_http_head h;
    return parse(req, &h);
}

static void test_simple_get(void)
{
    lx_http_head h;
    const char *r = "GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\r\nGET";
    CHECK(parse(r, &h) == 1);
    CHECK(h.method_len == 3 && memcmp(h.method, "GET", 3) == 0);
    CHECK(h.target_len == 6 && memcmp(h.target, "/a?b=1", 6) == 0);
    CHECK(h.nheaders == 2);
    CHECK(h.head_len == strlen(r) - 3);
    CHECK(h.body == LX_BODY_NONE);
    CHECK(h.keep_alive == 1);
}

static void test_partial_then_complete(void)
{
    const char *r = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    lx_http_head h;
    size_t i;
    for (i = 0; i < strlen(r); i++)
        CHECK_OR_BREAK(lx_http_parse_head(r, i, 0, &LIM, hdrs, LIM.max_headers + 1, &h) == 0);
    CHECK(parse(r, &h) == 1);
}

static void test_connection(void)
{
    lx_http_head h;
    CHECK(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &h) == 1 && h.keep_alive == 0);
    CHECK(parse("GET / HTTP/1.0\r\n\r\n", &h) == 1 && h.keep_alive == 0);
    CHECK(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h) == 1 && h.keep_alive == 1);
    CHECK(parse("GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n", &h) == 1 && h.keep_alive == 0);
}

static void test_bodies(void)
{
    lx_http_head h;
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", &h) == 1);
    CHECK(h.body == LX_BODY_LENGTH && h.length == 5);
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", &h) == 1);
    CHECK(parse("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", &h) == 1 && h.body == LX_BODY_CHUNKED);
    CHECK(parse("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &h) == 1 && h.body == LX_BODY_NONE);
    CHECK(parse("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", &h) == 1 &&
          h.expect_continue == 1);
}

static void test_refusals(void)
{
    char big[9000], many[4096];
    size_t i, n = 0;
    CHECK(status_of("GARBAGE\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n") == 400);
    CHECK(status_of("GET / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n") == 413);
    /* Over max_header_bytes, complete or not. */
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    memset(big + 19, 'a', sizeof big - 19 - 5);
    memcpy(big + sizeof big - 5, "\r\n\r\n", 5);
    CHECK(status_of(big) == 431);
    big[sizeof big - 5] = '\0';
    CHECK(status_of(big) == 431);
    /* More than max_headers. */
    n = (size_t)sprintf(many, "GET / HTTP/1.1\r\n");
    for (i = 0; i < 120; i++)
        n += (size_t)sprintf(many + n, "h%zu: v\r\n", i);
    sprintf(many + n, "\r\n");
    CHECK(status_of(many) == 431);
}

/* Decodes `raw` (chunked) fed in pieces of `step` bytes. */
static int chunked_in_steps(const char *raw, size_t step, char *out, size_t *outlen, size_t *after)
{
    char buf[512];
    struct phr_chunked_decoder d;
    size_t len = 0, fed = 0, decoded = 0, total = strlen(raw);
    int r = 0;
    memset(&d, 0, sizeof d);
    d.consume_trailer = 1;
    while (fed < total) {
        size_t k = total - fed < step ? total - fed : step;
        memcpy(buf + len, raw + fed, k);
        len += k;
        fed += k;
        r = lx_http_chunked(&d, buf, 0, &decoded, &len, 64);
        if (r != 0)
            break;
    }
    memcpy(out, buf, decoded);
    *outlen = decoded;
    *after = len - decoded;
    return r;
}

static void test_chunked(void)
{
    char out[512];
    size_t n, after, step;
    for (step = 1; step <= 40; step++) {
        CHECK_OR_BREAK(chunked_in_steps("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", step, out, &n, &after) == 1);
        CHECK_OR_BREAK(n == 11 && memcmp(out, "hello world", 11) == 0 && after == 0);
    }
    CHECK(chunked_in_steps("3\r\nabc\r\n0\r\n\r\nGET", 100, out, &n, &after) == 1 && n == 3 && after == 3);
    CHECK(chunked_in_steps("zz\r\n", 100, out, &n, &after) == 400);
    CHECK(chunked_in_steps("41\r\n", 100, out, &n, &after) == 0);
    CHECK(chunked_in_steps("40\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
                           "1\r\nb\r\n0\r\n\r\n", 100, out, &n, &after) == 413);
}

static void test_fields(void)
{
    CHECK(lx_http_token("content-type", 12));
    CHECK(!lx_http_token("bad name", 8));
    CHECK(!lx_http_token("", 0));
    CHECK(lx_http_field_value("text/plain", 10));
    CHECK(!lx_http_field_value("a\r\nb", 4));
    CHECK(strcmp(lx_http_reason(431), "Request Header Fields Too Large") == 0);
    CHECK(strcmp(lx_http_reason(299), "") == 0);
}

static const struct test tests[] = {
    T(test_simple_get), T(test_partial_then_complete), T(test_connection), T(test_bodies),
    T(test_refusals), T(test_chunked), T(test_fields),
};

CTEST_MAIN(tests)
