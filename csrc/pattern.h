/*
 * A Lua 5.4 pattern matcher that counts its work (pure C99, no Lua).
 *
 * Semantics are those of Lua 5.4's string patterns (manual, 6.4.1), as
 * Lua 5.4.4 implements them, errors included: the same items, the same
 * backtracking order, the same captures, the same error raised at the
 * same point of a match (errors are found while matching, so a pattern
 * like "a%" only fails where an 'a' matched). Character classes use
 * <ctype.h> in the current locale, as Lua does (the C locale unless the
 * program changed it). %z (deprecated, still in 5.4) is the NUL byte.
 *
 * The matcher is a loop over an explicit stack, not a recursive
 * function, so it can stop after a given number of steps and later go on
 * where it stopped (lxp_run), and it never grows the C stack. Nested
 * choices (what Lua's recursion depth counts: a pending '*', '+', '-',
 * '?', '(' or ')') are limited to LXP_MAXDEPTH, like Lua's MAXCCALLS:
 * past it the match ends with "pattern too complex".
 *
 * A STEP is one attempt of one pattern item at one subject position:
 *   - testing a single-character item ('.', a literal, %a-style class,
 *     a [set]) against one subject byte, whether on its own or while a
 *     quantifier '*', '+', '-' or '?' extends or backtracks;
 *   - trying '(' , '()' , ')' , '$' , %f[set] at a position;
 *   - reaching the end of the pattern (so each attempt costs >= 1 step);
 *   - %bxy: one step, plus one for every 8 subject bytes it scans;
 *   - a back-reference %1-%9: one step, plus one per 32 bytes compared.
 * Every unit of the matcher's work is therefore bounded by a constant
 * number of steps, and a search over n start positions costs >= n steps.
 * lxp_run honours its limit between steps: a single %b or %N step can
 * go past it by what that one step scans.
 *
 * The matcher keeps pointers into the subject and the pattern: both must
 * stay unchanged while it is used.
 */
#ifndef LEXRT_PATTERN_H
#define LEXRT_PATTERN_H

#include <stddef.h>

#if defined(__GNUC__)
#pragma GCC visibility push(hidden)
#endif

#define LXP_MAXCAPTURES 32
/* Nested match levels, the first included (Lua's MAXCCALLS). */
#define LXP_MAXDEPTH 200

/* A capture's len when it is not a length. */
#define LXP_CAP_UNFINISHED (-1)
#define LXP_CAP_POSITION (-2)

/* What lxp_run returns. */
enum {
    LXP_NOMATCH = 0,
    LXP_MATCH = 1,
    LXP_LIMIT = 2, /* the step limit was reached: call lxp_run again */
    LXP_ERROR = 3  /* a malformed pattern: lxp_message says what */
};

/* Errors (lxp_matcher.error); their texts are Lua 5.4.4's. */
enum {
    LXP_E_NONE = 0,
    LXP_E_ENDS_WITH_ESC,   /* malformed pattern (ends with '%') */
    LXP_E_MISSING_BRACKET, /* malformed pattern (missing ']') */
    LXP_E_BALANCE_ARGS,    /* malformed pattern (missing arguments to '%b') */
    LXP_E_FRONTIER,        /* missing '[' after '%f' in pattern */
    LXP_E_CAPTURE_INDEX,   /* invalid capture index %N (error_index is N) */
    LXP_E_PATTERN_CAPTURE, /* invalid pattern capture */
    LXP_E_TOO_MANY,        /* too many captures */
    LXP_E_TOO_COMPLEX      /* pattern too complex */
};

typedef struct lxp_capture {
    size_t init;   /* offset in the subject */
    ptrdiff_t len; /* >= 0, LXP_CAP_UNFINISHED or LXP_CAP_POSITION */
} lxp_capture;

/* One pending choice (what a level of Lua's recursion remembers). */
typedef struct lxp_frame {
    unsigned char kind;
    unsigned char cap; /* the capture a ')' closed */
    size_t s;          /* subject offset the choice is about */
    size_t i, imin;    /* '*' '+': repetitions to try now, fewest allowed */
    size_t p, ep;      /* the item and its quantifier (pattern offsets) */
} lxp_frame;

typedef struct lxp_matcher {
    const unsigned char *src;
    size_t slen;
    const unsigned char *pat;
    size_t plen;
    /* The result of a match: start, end (offsets) and the captures. */
    size_t start, end;
    int level;
    lxp_capture capture[LXP_MAXCAPTURES];
    /* Work: steps used by the last lxp_run, and in all. */
    size_t used, steps;
    int error, error_index;
    /* Private: where the search is. */
    int mode, anchor;
    int first;   /* the pattern's first byte when plain (a memchr skips to it), else -1 */
    size_t s, p; /* the item being tried and the position it is tried at */
    int depth;   /* frames in use */
    lxp_frame frame[LXP_MAXDEPTH - 1];
} lxp_matcher;

/* Prepares m for subject src[0..slen) and pattern pat[0..plen) (without
 * the '^' anchor: the caller strips it and passes anchor to lxp_begin). */
void lxp_init(lxp_matcher *m, const char *src, size_t slen, const char *pat, size_t plen);

/* Starts a search at subject offset `at` (<= slen): with anchor, one
 * attempt at `at` only; else at at, at+1, ..., slen, the first that
 * matches (Lua's find/match loop). */
void lxp_begin(lxp_matcher *m, size_t at, int anchor);

/* Runs the search begun by lxp_begin for about `limit` (>= 1) steps
 * more: LXP_MATCH (m->start, m->end, m->level, m->capture), LXP_NOMATCH,
 * LXP_LIMIT (m->used steps done; call again to go on) or LXP_ERROR. */
int lxp_run(lxp_matcher *m, size_t limit);

/* The message of an LXP_ERROR, as Lua words it, in buf (>= 64 bytes). */
const char *lxp_message(const lxp_matcher *m, char *buf, size_t size);

/* 1 when pat has none of Lua's special characters ^$*+?.([%- (so that
 * find may search it as plain text). */
int lxp_nospecials(const char *pat, size_t plen);

/*
 * A plain (non-pattern) search (pattern_plain.c), stoppable like
 * lxp_run. Costs one step per 32 subject bytes skipped looking for the
 * needle's first byte, and for each place where that byte is found, one
 * step plus one per 32 bytes of the rest of the needle compared.
 */
typedef struct lxp_plain {
    const char *src, *needle;
    size_t slen, nlen;
    size_t at;    /* next offset to look at; the match's offset on LXP_MATCH */
    size_t used;  /* steps of the last lxp_plain_run */
} lxp_plain;

void lxp_plain_init(lxp_plain *f, const char *src, size_t slen, size_t at, const char *needle,
                    size_t nlen);
int lxp_plain_run(lxp_plain *f, size_t limit);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#endif
