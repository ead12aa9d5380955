/*
 * libFuzzer harness for http_wire.c: the input is what a client sends on
 * one connection. It is fed to the head parser piece by piece, as reads
 * arrive (the first byte sets the piece size), and must give the same
 * verdict as the whole input at once; a complete head's numbers must lie
 * inside the input and the limits; a chunked body is decoded as it
 * arrives, and must never decode more than it was given or than
 * max_body. Any mismatch aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const lx_http_limits LIM = {512, 8, 256};
static struct phr_header hdrs[9];

static void die(const char *what)
{
    fprintf(stderr, "http_fuzz: %s\n", what);
    abort();
}

static void check_head(const lx_http_head *h, size_t len)
{
    if (h->head_len == 0 || h->head_len > len || h->head_len > LIM.max_header_bytes)
        die("head length outside the input or the limit");
    if (h->nheaders > LIM.max_headers)
        die("more headers than max_headers");
    if (h->body == LX_BODY_LENGTH && (h->length == 0 || h->length > LIM.max_body_bytes))
        die("a length past max_body_bytes");
    if (h->method + h->method_len > h->target && h->target != NULL && h->method < h->target)
        die("method overlaps the target");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf;
    size_t step, len = 0, prev = 0;
    int whole, r = 0;
    lx_http_head h;
    if (size < 1)
        return 0;
    step = (size_t)data[0] % 64 + 1;
    data++;
    size--;
    buf = malloc(size + 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    whole = lx_http_parse_head(buf, size, 0, &LIM, hdrs, 9, &h);
    while (len < size) {
        len = len + step < size ? len + step : size;
        r = lx_http_parse_head(buf, len, prev, &LIM, hdrs, 9, &h);
        prev = len;
        if (r != 0)
            break;
    }
    /* However the bytes arrive, a request is accepted or not alike (a
     * refusal's status may differ: with `prev`, the parser looks for the
     * end of the head before it judges the bytes, as h2o uses it, and
     * garbage may wait for more, or count as too many header lines). */
    if ((r == 1) != (whole == 1))
        die("a head is accepted or not depending on how the bytes arrived");
    if (r == 1) {
        size_t hl = h.head_len;
        int body = h.body;
        if (lx_http_parse_head(buf, size, 0, &LIM, hdrs, 9, &h) != 1 || h.head_len != hl || (int)h.body != body)
            die("the head means something else when parsed at once");
    }
    if (r == 1) {
        check_head(&h, len);
        if (h.body == LX_BODY_CHUNKED) {
            struct phr_chunked_decoder d;
            size_t decoded = 0, have = h.head_len, total = size;
            memset(&d, 0, sizeof d);
            d.consume_trailer = 1;
            while (have < total) {
                size_t given;
                have = have + step < total ? have + step : total;
                given = have - h.head_len;
                r = lx_http_chunked(&d, buf, h.head_len, &decoded, &have, LIM.max_body_bytes);
                if (decoded > given)
                    die("decoded more than given");
                if (r == 413 && decoded <= LIM.max_body_bytes)
                    die("413 under the limit");
                if (r != 0)
                    break;
                /* what the decoder dropped is gone: the rest moves down */
                memmove(buf + have, buf + h.head_len + given, total - (h.head_len + given));
                total = have + (total - (h.head_len + given));
            }
        }
    }
    free(buf);
    return 0;
}

#ifdef LX_FUZZ_STANDALONE
int main(int argc, char **argv)
{
    unsigned long long seed = argc > 1 ? strtoull(argv[1], NULL, 10) : 1;
    int i;
    static const char *const seeds[] = {
        "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
    };
    for (i = 0; i < 20000; i++) {
        uint8_t in[600];
        const char *s = seeds[i % 3];
        size_t n = strlen(s), k;
        memcpy(in + 1, s, n);
        in[0] = (uint8_t)i;
        for (k = 0; k < 1 + (size_t)(i % 4); k++) { /* a few random byte flips */
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            in[1 + (seed >> 33) % n] = (uint8_t)(seed >> 17);
        }
        LLVMFuzzerTestOneInput(in, n + 1);
    }
    printf("http_fuzz: 20000 inputs\n");
    return 0;
}
#endif
