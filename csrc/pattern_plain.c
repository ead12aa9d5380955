/*
 * Plain-text search for find (pattern.h: lxp_nospecials, lxp_plain_*):
 * a memchr for the needle's first byte and a memcmp of the rest, counted
 * in steps and stoppable like lxp_run. Apart from pattern.c because it
 * shares nothing with the matcher (no pattern, no captures, no stack of
 * choices) beyond the step-and-limit contract that pattern.h states.
 */
#include "pattern.h"

#include <string.h>

int lxp_nospecials(const char *pat, size_t plen)
{
    static const char specials[] = "^$*+?.([%-";
    size_t i;
    for (i = 0; i < plen; i++)
        if (memchr(specials, pat[i], sizeof specials - 1) != NULL)
            return 0;
    return 1;
}

void lxp_plain_init(lxp_plain *f, const char *src, size_t slen, size_t at, const char *needle,
                    size_t nlen)
{
    f->src = src;
    f->slen = slen;
    f->needle = needle;
    f->nlen = nlen;
    f->at = at;
    f->used = 0;
}

int lxp_plain_run(lxp_plain *f, size_t limit)
{
    size_t used = 0, last;
    int r = LXP_NOMATCH;
    if (f->nlen == 0) {
        r = f->at <= f->slen ? LXP_MATCH : LXP_NOMATCH;
        f->used = 1;
        return r;
    }
    if (f->at > f->slen || f->nlen > f->slen - f->at) {
        f->used = 1;
        return LXP_NOMATCH;
    }
    last = f->slen - f->nlen; /* the last offset the needle fits at */
    while (f->at <= last) {
        size_t window = last - f->at + 1, avail;
        const char *hit;
        if (used >= limit) {
            f->used = used;
            return LXP_LIMIT;
        }
        avail = limit - used;
        if (window / 32 >= avail)
            window = avail * 32;
        hit = memchr(f->src + f->at, f->needle[0], window);
        if (hit == NULL) {
            used += 1 + window / 32;
            f->at += window;
            continue;
        }
        used += 1 + (size_t)(hit - (f->src + f->at)) / 32 + (f->nlen - 1) / 32;
        f->at = (size_t)(hit - f->src);
        if (memcmp(hit + 1, f->needle + 1, f->nlen - 1) == 0) {
            r = LXP_MATCH;
            break;
        }
        f->at++;
    }
    f->used = used == 0 ? 1 : used;
    return r;
}
