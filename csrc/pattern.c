/*
 * The pattern matcher (pattern.h): Lua 5.4's pattern semantics run as a
 * stoppable loop over an explicit stack of pending choices.
 *
 * The search is always in one of these modes:
 *   EVAL   try the item at pattern offset m->p against subject offset m->s;
 *   COUNT  the top frame is a greedy '*' or '+' still counting how many
 *          bytes its item matches in a row;
 *   FAIL   the current line of the match failed: the top frame decides
 *          what to try next (fewer repetitions, one more minimal one, the
 *          '?' without its item), or is dropped, undoing what it did to
 *          the captures; with no frame left, the next start position;
 *   IDLE   finished (a result was returned).
 * A frame is pushed exactly where Lua's matcher recurses (a '*', '+',
 * '-' or '?' whose item matched once, a '(' or a ')'), so the depth limit
 * and the errors fall where Lua's do. A success needs no unwinding: the
 * captures are what the successful line left in them.
 *
 * Pattern bytes are read through pat_at, which gives 0 at (and past) the
 * end, as reading a Lua string's terminating NUL would: that keeps every
 * look-ahead ("is the next byte ')'?") inside the buffer whatever the
 * pattern.
 */
#include "pattern.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

enum { M_IDLE, M_EVAL, M_COUNT, M_FAIL };
enum { F_MAX, F_MIN, F_OPT, F_OPEN, F_CLOSE };

/* What eval tells the loop. */
enum { GO_ON = -1 };

#define ESC '%'

static int pat_at(const lxp_matcher *m, size_t i)
{
    return i < m->plen ? m->pat[i] : 0;
}

/* Does byte c belong to the class letter cl (%a, %D, ...)? A byte that is
 * not a class letter stands for itself (%. is '.', %% is '%'). */
static int in_class(int c, int cl)
{
    int yes;
    switch (tolower(cl)) {
    case 'a': yes = isalpha(c); break;
    case 'c': yes = iscntrl(c); break;
    case 'd': yes = isdigit(c); break;
    case 'g': yes = isgraph(c); break;
    case 'l': yes = islower(c); break;
    case 'p': yes = ispunct(c); break;
    case 's': yes = isspace(c); break;
    case 'u': yes = isupper(c); break;
    case 'w': yes = isalnum(c); break;
    case 'x': yes = isxdigit(c); break;
    case 'z': yes = c == 0; break; /* deprecated, still in Lua 5.4 */
    default: return c == cl;
    }
    /* An upper-case letter is the complement. */
    if (isupper(cl))
        yes = !yes;
    return yes != 0;
}

/* Is c in the set whose '[' is at pat[open] and ']' at pat[close]? */
static int in_set(const lxp_matcher *m, int c, size_t open, size_t close)
{
    const unsigned char *pat = m->pat;
    size_t i = open + 1;
    int hit = 1;
    if (pat[i] == '^') {
        hit = 0;
        i++;
    }
    /* A valid set has no '%' right before `close` (the class's end skips
     * escaped bytes), so pat[i + 1] is always inside the set. */
    for (; i < close; i++) {
        if (pat[i] == ESC) {
            i++;
            if (in_class(c, pat[i]))
                return hit;
        } else if (pat[i + 1] == '-' && i + 2 < close) {
            if (pat[i] <= c && c <= pat[i + 2])
                return hit;
            i += 2;
        } else if (pat[i] == c) {
            return hit;
        }
    }
    return !hit;
}

static int set_error(lxp_matcher *m, int code, int index)
{
    m->error = code;
    m->error_index = index;
    m->mode = M_IDLE;
    return LXP_ERROR;
}

/* Where the single-byte item at p ends (*end): after "%x", after the
 * closing ']' of a set, else after its one byte. 0 on a malformed one. */
static int item_end(lxp_matcher *m, size_t p, size_t *end)
{
    int c = pat_at(m, p);
    p++;
    if (c == ESC) {
        if (p >= m->plen)
            return set_error(m, LXP_E_ENDS_WITH_ESC, 0), 0;
        *end = p + 1;
        return 1;
    }
    if (c == '[') {
        if (pat_at(m, p) == '^')
            p++;
        /* The first byte is part of the set even when it is ']'. */
        do {
            if (p >= m->plen)
                return set_error(m, LXP_E_MISSING_BRACKET, 0), 0;
            c = m->pat[p++];
            if (c == ESC && p < m->plen)
                p++;
        } while (pat_at(m, p) != ']');
        *end = p + 1;
        return 1;
    }
    *end = p;
    return 1;
}

/* Does the single-byte item pat[p..ep) match the subject byte at s? */
static int item_matches(const lxp_matcher *m, size_t s, size_t p, size_t ep)
{
    int c;
    if (s >= m->slen)
        return 0;
    c = m->src[s];
    switch (m->pat[p]) {
    case '.': return 1;
    case ESC: return in_class(c, m->pat[p + 1]);
    case '[': return in_set(m, c, p, ep - 1);
    default: return m->pat[p] == c;
    }
}

static void start_at(lxp_matcher *m, size_t s)
{
    m->start = s;
    m->s = s;
    m->p = 0;
    m->level = 0;
    m->depth = 0;
    m->mode = M_EVAL;
}

/* A new pending choice; NULL (and the error) past LXP_MAXDEPTH levels. */
static lxp_frame *push(lxp_matcher *m, int kind, size_t s)
{
    lxp_frame *f;
    if (m->depth >= LXP_MAXDEPTH - 1) {
        set_error(m, LXP_E_TOO_COMPLEX, 0);
        return NULL;
    }
    f = &m->frame[m->depth++];
    f->kind = (unsigned char)kind;
    f->s = s;
    return f;
}

/* First byte of the pattern when it is a plain byte whose failure ends
 * an attempt at once (no '*', '?' or '-' after it); else -1. */
static int plain_first(const lxp_matcher *m)
{
    int c, q;
    if (m->plen == 0)
        return -1;
    c = m->pat[0];
    q = pat_at(m, 1);
    if (strchr("()%[.$", c) != NULL || c == 0 || q == '*' || q == '?' || q == '-')
        return -1;
    return c;
}

void lxp_init(lxp_matcher *m, const char *src, size_t slen, const char *pat, size_t plen)
{
    m->src = (const unsigned char *)src;
    m->slen = slen;
    m->pat = (const unsigned char *)pat;
    m->plen = plen;
    m->start = m->end = 0;
    m->level = 0;
    m->used = m->steps = 0;
    m->error = LXP_E_NONE;
    m->error_index = 0;
    m->mode = M_IDLE;
    m->anchor = 1;
    m->s = m->p = 0;
    m->depth = 0;
    m->first = plain_first(m);
}

void lxp_begin(lxp_matcher *m, size_t at, int anchor)
{
    m->anchor = anchor;
    m->error = LXP_E_NONE;
    start_at(m, at);
}

/*
 * One step in EVAL mode: the item at m->p against the byte at m->s.
 * Returns GO_ON, LXP_MATCH or LXP_ERROR; *used gets the extra steps of
 * %b and back-references.
 */
static int eval(lxp_matcher *m, size_t *used)
{
    size_t s = m->s, p = m->p, ep;
    lxp_frame *f;
    int c, q;
    if (p >= m->plen) {
        m->end = s;
        m->mode = M_IDLE;
        return LXP_MATCH;
    }
    c = m->pat[p];
    switch (c) {
    case '(': {
        int position = pat_at(m, p + 1) == ')';
        if (m->level >= LXP_MAXCAPTURES)
            return set_error(m, LXP_E_TOO_MANY, 0);
        m->capture[m->level].init = s;
        m->capture[m->level].len = position ? LXP_CAP_POSITION : LXP_CAP_UNFINISHED;
        m->level++;
        if (push(m, F_OPEN, s) == NULL)
            return LXP_ERROR;
        m->p = p + (position ? 2 : 1);
        return GO_ON;
    }
    case ')': {
        int l = m->level - 1;
        while (l >= 0 && m->capture[l].len != LXP_CAP_UNFINISHED)
            l--;
        if (l < 0)
            return set_error(m, LXP_E_PATTERN_CAPTURE, 0);
        m->capture[l].len = (ptrdiff_t)(s - m->capture[l].init);
        if ((f = push(m, F_CLOSE, s)) == NULL)
            return LXP_ERROR;
        f->cap = (unsigned char)l;
        m->p = p + 1;
        return GO_ON;
    }
    case '$':
        if (p + 1 != m->plen)
            break; /* an ordinary byte */
        if (s != m->slen) {
            m->mode = M_FAIL;
            return GO_ON;
        }
        m->end = s;
        m->mode = M_IDLE;
        return LXP_MATCH;
    case ESC:
        q = pat_at(m, p + 1);
        if (q == 'b') {
            int open, close;
            size_t j, n = 1;
            if (p + 3 >= m->plen)
                return set_error(m, LXP_E_BALANCE_ARGS, 0);
            open = m->pat[p + 2];
            close = m->pat[p + 3];
            if (s >= m->slen || m->src[s] != open) {
                m->mode = M_FAIL;
                return GO_ON;
            }
            for (j = s + 1; j < m->slen; j++) {
                int b = m->src[j];
                if (b == close) {
                    if (--n == 0)
                        break;
                } else if (b == open) {
                    n++;
                }
            }
            *used += (j - s) / 8;
            if (j >= m->slen) {
                m->mode = M_FAIL;
                return GO_ON;
            }
            m->s = j + 1;
            m->p = p + 4;
            return GO_ON;
        }
        if (q == 'f') {
            int before, here;
            p += 2;
            if (pat_at(m, p) != '[')
                return set_error(m, LXP_E_FRONTIER, 0);
            if (!item_end(m, p, &ep))
                return LXP_ERROR;
            before = s == 0 ? 0 : m->src[s - 1];
            here = s < m->slen ? m->src[s] : 0;
            if (!in_set(m, before, p, ep - 1) && in_set(m, here, p, ep - 1))
                m->p = ep;
            else
                m->mode = M_FAIL;
            return GO_ON;
        }
        if (q >= '0' && q <= '9') {
            int l = q - '1';
            ptrdiff_t len;
            if (l < 0 || l >= m->level || m->capture[l].len == LXP_CAP_UNFINISHED)
                return set_error(m, LXP_E_CAPTURE_INDEX, l + 1);
            len = m->capture[l].len;
            /* A position capture has no text: it never matches. */
            if (len < 0 || (size_t)len > m->slen - s ||
                memcmp(m->src + m->capture[l].init, m->src + s, (size_t)len) != 0) {
                m->mode = M_FAIL;
                return GO_ON;
            }
            *used += (size_t)len / 32;
            m->s = s + (size_t)len;
            m->p = p + 2;
            return GO_ON;
        }
        break; /* a class */
    default:
        break;
    }
    /* A single-byte item, maybe with a quantifier. */
    if (!item_end(m, p, &ep))
        return LXP_ERROR;
    q = pat_at(m, ep);
    if (!item_matches(m, s, p, ep)) {
        if (q == '*' || q == '?' || q == '-')
            m->p = ep + 1; /* zero repetitions */
        else
            m->mode = M_FAIL;
        return GO_ON;
    }
    switch (q) {
    case '?':
        if ((f = push(m, F_OPT, s)) == NULL)
            return LXP_ERROR;
        f->ep = ep;
        m->s = s + 1;
        m->p = ep + 1;
        return GO_ON;
    case '*':
    case '+':
        if ((f = push(m, F_MAX, s)) == NULL)
            return LXP_ERROR;
        f->i = 1;
        f->imin = q == '+';
        f->p = p;
        f->ep = ep;
        m->mode = M_COUNT;
        return GO_ON;
    case '-':
        if ((f = push(m, F_MIN, s)) == NULL)
            return LXP_ERROR;
        f->p = p;
        f->ep = ep;
        m->p = ep + 1;
        return GO_ON;
    default:
        m->s = s + 1;
        m->p = ep;
        return GO_ON;
    }
}

int lxp_run(lxp_matcher *m, size_t limit)
{
    size_t used = 0;
    int r = LXP_NOMATCH;
    lxp_frame *f;
    for (;;) {
        if (m->mode == M_IDLE) {
            r = m->error != LXP_E_NONE ? LXP_ERROR : LXP_NOMATCH;
            break;
        }
        if (m->mode == M_FAIL) {
            if (m->depth == 0) {
                if (m->anchor || m->start >= m->slen) {
                    m->mode = M_IDLE;
                    r = LXP_NOMATCH;
                    break;
                }
                start_at(m, m->start + 1);
                continue;
            }
            f = &m->frame[m->depth - 1];
            switch (f->kind) {
            case F_MAX: /* one repetition fewer */
                if (f->i > f->imin) {
                    f->i--;
                    m->s = f->s + f->i;
                    m->p = f->ep + 1;
                    m->mode = M_EVAL;
                } else {
                    m->depth--;
                }
                continue;
            case F_MIN: /* one repetition more, if the item matches */
                if (used >= limit)
                    goto stop;
                used++;
                if (item_matches(m, f->s, f->p, f->ep)) {
                    f->s++;
                    m->s = f->s;
                    m->p = f->ep + 1;
                    m->mode = M_EVAL;
                } else {
                    m->depth--;
                }
                continue;
            case F_OPT: /* without the optional item */
                m->depth--;
                m->s = f->s;
                m->p = f->ep + 1;
                m->mode = M_EVAL;
                continue;
            case F_OPEN:
                m->depth--;
                m->level--;
                continue;
            default: /* F_CLOSE */
                m->depth--;
                m->capture[f->cap].len = LXP_CAP_UNFINISHED;
                continue;
            }
        }
        if (used >= limit)
            goto stop;
        used++;
        if (m->mode == M_COUNT) {
            f = &m->frame[m->depth - 1];
            if (item_matches(m, f->s + f->i, f->p, f->ep)) {
                f->i++;
            } else {
                m->s = f->s + f->i;
                m->p = f->ep + 1;
                m->mode = M_EVAL;
            }
            continue;
        }
        /* M_EVAL. An attempt that starts with a plain byte fails at once
         * where that byte is not: memchr finds the next start, each
         * position skipped counted as the one step its attempt costs. */
        if (m->p == 0 && m->first >= 0 && !m->anchor && m->s < m->slen &&
            m->src[m->s] != m->first) {
            size_t from = m->s + 1, n = m->slen - from;
            const unsigned char *hit;
            if (n > limit - used)
                n = limit - used;
            hit = memchr(m->src + from, m->first, n);
            if (hit != NULL)
                n = (size_t)(hit - (m->src + from));
            used += n;
            start_at(m, from + n);
            continue;
        }
        r = eval(m, &used);
        if (r != GO_ON)
            break;
    }
    m->used = used;
    m->steps += used;
    return r;
stop:
    m->used = used;
    m->steps += used;
    return LXP_LIMIT;
}

const char *lxp_message(const lxp_matcher *m, char *buf, size_t size)
{
    switch (m->error) {
    case LXP_E_ENDS_WITH_ESC: return "malformed pattern (ends with '%')";
    case LXP_E_MISSING_BRACKET: return "malformed pattern (missing ']')";
    case LXP_E_BALANCE_ARGS: return "malformed pattern (missing arguments to '%b')";
    case LXP_E_FRONTIER: return "missing '[' after '%f' in pattern";
    case LXP_E_CAPTURE_INDEX:
        (void)snprintf(buf, size, "invalid capture index %%%d", m->error_index);
        return buf;
    case LXP_E_PATTERN_CAPTURE: return "invalid pattern capture";
    case LXP_E_TOO_MANY: return "too many captures";
    case LXP_E_TOO_COMPLEX: return "pattern too complex";
    default: return "no error";
    }
}
