/*
 * h2o's HTTP/1 parser (picohttpparser), as libh2o-evloop exports it.
 * Debian's libh2o-evloop-dev ships the library with these symbols but not
 * their header, so the declarations are repeated here, under the
 * parser's own names: its interface has not changed since 2014, and the
 * library we link is the one h2o 2.2.5 builds (deps/picohttpparser).
 */
#ifndef LEXRT_HTTP_PHR_H
#define LEXRT_HTTP_PHR_H

#include <stddef.h>
#include <sys/types.h>

struct phr_header {
    const char *name; /* NULL: a continuation line of the previous header */
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* Bytes of the request head when complete, -2 when partial, -1 when
 * malformed (or when more than *num_headers headers came). */
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path,
                      size_t *path_len, int *minor_version, struct phr_header *headers, size_t *num_headers,
                      size_t last_len);

/* Zero-filled before the first call. */
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};

/* Decodes chunked data in place: *bufsz in, the bytes given; out, the
 * decoded bytes now at buf. -2: more needed; -1: malformed; else done,
 * and that many bytes after the decoded ones were not part of it. */
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

#endif
