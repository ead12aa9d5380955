/*
 * The rules a server enforces on a parsed request (http_wire.h). The
 * parser accepts what RFC 9112 lets a parser accept; smuggling lives in
 * what it leaves to the server: two lengths, a length and a coding, a
 * folded line. Each of those is refused here rather than guessed at.
 */
#include "http_wire.h"

#include <string.h>

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int eq_nocase(const char *a, size_t n, const char *lower_b)
{
    size_t i;
    if (strlen(lower_b) != n)
        return 0;
    for (i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower_b[i])
            return 0;
    return 1;
}

int lx_http_name_is(const struct phr_header *hd, const char *lower_name)
{
    return hd->name != NULL && eq_nocase(hd->name, hd->name_len, lower_name);
}

/* Optional whitespace around a field value: the parser keeps inner
 * spaces and trims the end, not always the start. */
static void trim(const char **v, size_t *n)
{
    while (*n > 0 && (**v == ' ' || **v == '\t')) {
        (*v)++;
        (*n)--;
    }
    while (*n > 0 && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
        (*n)--;
}

/* A Content-Length: 1 to 18 digits (below any size_t overflow), nothing
 * else; -1 otherwise. */
static long long parse_length(const char *v, size_t n)
{
    long long x = 0;
    size_t i;
    trim(&v, &n);
    if (n == 0 || n > 18)
        return -1;
    for (i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

/* Whether a comma-separated list (Connection) holds `token`. */
static int list_has(const char *v, size_t n, const char *token)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        const char *item;
        size_t len;
        while (j < n && v[j] != ',')
            j++;
        item = v + i;
        len = j - i;
        trim(&item, &len);
        if (eq_nocase(item, len, token))
            return 1;
        i = j + 1;
    }
    return 0;
}

/* A head the parser refused: too many headers (431) or malformed (400).
 * The parser says only "failed" for both; its lines tell them apart. */
static int refused(const char *buf, size_t len, const lx_http_limits *lim)
{
    size_t lines = 0, i;
    for (i = 0; i + 1 < len; i++) {
        if (buf[i] == '\n') {
            if (buf[i + 1] == '\r' || buf[i + 1] == '\n')
                break; /* the blank line: the head ends */
            lines++;
        }
    }
    return lines > lim->max_headers ? 431 : 400;
}

/* Reads what the headers say about the body and the connection. */
static int read_headers(lx_http_head *h, const lx_http_limits *lim)
{
    long long length = -1;
    int coded = 0, close = 0, keep = 0;
    size_t i;
    for (i = 0; i < h->nheaders; i++) {
        const struct phr_header *hd = &h->headers[i];
        if (hd->name == NULL)
            return 400; /* obsolete line folding */
        if (lx_http_name_is(hd, "content-length")) {
            long long v = parse_length(hd->value, hd->value_len);
            if (v < 0 || (length >= 0 && v != length))
                return 400;
            length = v;
        } else if (lx_http_name_is(hd, "transfer-encoding")) {
            const char *v = hd->value;
            size_t n = hd->value_len;
            trim(&v, &n);
            if (coded || !eq_nocase(v, n, "chunked"))
                return 400;
            coded = 1;
        } else if (lx_http_name_is(hd, "connection")) {
            close |= list_has(hd->value, hd->value_len, "close");
            keep |= list_has(hd->value, hd->value_len, "keep-alive");
        } else if (lx_http_name_is(hd, "expect")) {
            const char *v = hd->value;
            size_t n = hd->value_len;
            trim(&v, &n);
            h->expect_continue = eq_nocase(v, n, "100-continue");
        }
    }
    if (coded && length >= 0)
        return 400;
    if (length >= 0 && (unsigned long long)length > lim->max_body_bytes)
        return 413;
    h->body = coded ? LX_BODY_CHUNKED : length > 0 ? LX_BODY_LENGTH : LX_BODY_NONE;
    h->length = length > 0 ? (size_t)length : 0;
    h->keep_alive = !close && (h->minor >= 1 || keep);
    return 1;
}

int lx_http_parse_head(const char *buf, size_t len, size_t prev, const lx_http_limits *lim,
                       struct phr_header *headers, size_t cap, lx_http_head *h)
{
    size_t n = len < lim->max_header_bytes + 1 ? len : lim->max_header_bytes + 1;
    int ret;
    memset(h, 0, sizeof *h);
    h->headers = headers;
    h->nheaders = cap < lim->max_headers + 1 ? cap : lim->max_headers + 1;
    ret = phr_parse_request(buf, n, &h->method, &h->method_len, &h->target, &h->target_len, &h->minor, headers,
                            &h->nheaders, prev < n ? prev : 0);
    if (ret == -2)
        return len > lim->max_header_bytes ? 431 : 0;
    if (ret < 0)
        return refused(buf, n, lim);
    if ((size_t)ret > lim->max_header_bytes || h->nheaders > lim->max_headers)
        return 431;
    h->head_len = (size_t)ret;
    return read_headers(h, lim);
}

int lx_http_chunked(struct phr_chunked_decoder *d, char *buf, size_t start, size_t *decoded, size_t *len,
                    size_t max_body)
{
    size_t at = start + *decoded, bufsz = *len - at;
    ssize_t left;
    if (bufsz == 0)
        return 0;
    left = phr_decode_chunked(d, buf + at, &bufsz);
    if (left == -1)
        return 400;
    *decoded += bufsz;
    *len = start + *decoded + (left >= 0 ? (size_t)left : 0);
    if (*decoded > max_body)
        return 413;
    return left >= 0;
}

const char *lx_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
    }
}

int lx_http_token(const char *name, size_t n)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    size_t i;
    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c != 0 && strchr(extra, c) != NULL)))
            return 0;
    }
    return 1;
}

int lx_http_field_value(const char *value, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
            return 0;
    return 1;
}
