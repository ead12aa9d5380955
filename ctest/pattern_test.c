/* The pattern matcher alone (csrc/pattern.c, pattern_plain.c): matches, captures, errors
 * and the step limit, with no Lua. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "pattern.h"

static lxp_matcher m;

/* Searches pat (a leading '^' anchors) in src from offset at, with no
 * step limit to speak of; returns what lxp_run returned. */
static int find(const char *src, const char *pat, size_t at)
{
    int anchor = pat[0] == '^', r;
    lxp_init(&m, src, strlen(src), pat + anchor, strlen(pat) - (size_t)anchor);
    lxp_begin(&m, at, anchor);
    while ((r = lxp_run(&m, 1000)) == LXP_LIMIT)
        ;
    return r;
}

static int cap_is(int i, const char *src, const char *text)
{
    return m.capture[i].len == (ptrdiff_t)strlen(text) &&
           memcmp(src + m.capture[i].init, text, strlen(text)) == 0;
}

static const char *message(void)
{
    static char buf[64];
    return lxp_message(&m, buf, sizeof buf);
}

static void finds_a_plain_match_and_its_span(void)
{
    CHECK(find("hello world", "o w", 0) == LXP_MATCH);
    CHECK(m.start == 4 && m.end == 7);
    CHECK(find("hello world", "xyz", 0) == LXP_NOMATCH);
    CHECK(find("hello", "l", 4) == LXP_NOMATCH);
    CHECK(find("hello", "", 5) == LXP_MATCH && m.start == 5 && m.end == 5);
}

static void honours_anchors_classes_sets_and_quantifiers(void)
{
    const char *s = "  key = value42  ";
    CHECK(find(s, "^%s*(%a+)%s*=%s*(%w+)", 0) == LXP_MATCH);
    CHECK(m.level == 2 && cap_is(0, s, "key") && cap_is(1, s, "value42"));
    CHECK(find(s, "^k", 0) == LXP_NOMATCH);
    CHECK(find(s, "%d+$", 0) == LXP_NOMATCH);
    CHECK(find("ab12", "%d+$", 0) == LXP_MATCH && m.start == 2);
    CHECK(find("aaab", "a-b", 0) == LXP_MATCH && m.start == 0 && m.end == 4);
    CHECK(find("<a><b>", "<.->", 0) == LXP_MATCH && m.end == 3);
    CHECK(find("<a><b>", "<.*>", 0) == LXP_MATCH && m.end == 6);
    CHECK(find("x]y", "[%]]", 0) == LXP_MATCH && m.start == 1);
    CHECK(find("a-z", "[^a-y]", 0) == LXP_MATCH && m.start == 1);
    CHECK(find("colour", "colou?r", 0) == LXP_MATCH && m.end == 6);
    CHECK(find("f(a(b)c)d", "%b()", 0) == LXP_MATCH && m.start == 1 && m.end == 8);
    CHECK(find("THE (quick) fox", "%f[%a]%a+", 4) == LXP_MATCH && m.start == 5);
    CHECK(find("x\0y", "%z", 0) == LXP_NOMATCH); /* strlen stops at the NUL */
}

static void keeps_position_captures_and_back_references(void)
{
    CHECK(find("hello", "()ll()", 0) == LXP_MATCH);
    CHECK(m.level == 2 && m.capture[0].len == LXP_CAP_POSITION && m.capture[0].init == 2);
    CHECK(m.capture[1].init == 4);
    CHECK(find("say \"hi\" now", "([\"'])(.-)%1", 0) == LXP_MATCH && cap_is(1, "say \"hi\" now", "hi"));
    CHECK(find("(a", "(a", 0) == LXP_MATCH && m.capture[0].len == LXP_CAP_UNFINISHED);
}

static void reports_lua_errors_in_lua_words(void)
{
    static const struct { const char *src, *pat, *msg; } cases[] = {
        {"a", "a%", "malformed pattern (ends with '%')"},
        {"a", "[a", "malformed pattern (missing ']')"},
        {"a", "%b", "malformed pattern (missing arguments to '%b')"},
        {"a", "%fa", "missing '[' after '%f' in pattern"},
        {"a", "(a)%2", "invalid capture index %2"},
        {"a", "%0", "invalid capture index %0"},
        {"a", "a)", "invalid pattern capture"},
        {"a", "((((((((((((((((((((((((((((((((((a", "too many captures"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_OR_BREAK(find(cases[i].src, cases[i].pat, 0) == LXP_ERROR);
        CHECK_OR_BREAK(strcmp(message(), cases[i].msg) == 0);
    }
    /* found only where the match gets to */
    CHECK(find("b", "a%", 0) == LXP_NOMATCH);
}

static void stops_past_200_levels(void)
{
    char src[301], pat[2 * 200 + 1];
    int i;
    memset(src, 'a', 300);
    src[300] = 0;
    for (i = 0; i < 199; i++)
        memcpy(pat + 2 * i, "a?", 2);
    pat[2 * 199] = 0;
    CHECK(find(src, pat, 0) == LXP_MATCH && m.end == 199);
    memcpy(pat + 2 * 199, "a?", 3);
    CHECK(find(src, pat, 0) == LXP_ERROR && strcmp(message(), "pattern too complex") == 0);
}

static void stops_at_the_step_limit_and_goes_on(void)
{
    char src[3001];
    const char *pat = "a*a*a*a*a*b";
    size_t total = 0;
    int r, runs = 0;
    memset(src, 'a', 3000);
    src[3000] = 0;
    lxp_init(&m, src, 3000, pat, strlen(pat));
    lxp_begin(&m, 0, 1);
    while ((r = lxp_run(&m, 1000)) == LXP_LIMIT && runs < 20) {
        CHECK_OR_BREAK(m.used >= 1000 && m.used <= 1000);
        total += m.used;
        runs++;
    }
    CHECK(r == LXP_LIMIT && runs == 20 && total == 20000 && m.steps == 21000);
    /* the same search, small: resumed runs give the one-shot answer */
    lxp_init(&m, "aaab", 4, "a*a*b", 5);
    lxp_begin(&m, 0, 0);
    runs = 0;
    while ((r = lxp_run(&m, 1)) == LXP_LIMIT)
        runs++;
    CHECK(r == LXP_MATCH && m.start == 0 && m.end == 4 && runs > 5);
    CHECK(m.steps == (size_t)runs + m.used);
}

static void charges_a_plain_search(void)
{
    lxp_plain f;
    static char big[100001];
    int r, runs = 0;
    memset(big, 'a', 100000);
    big[99990] = 'b';
    lxp_plain_init(&f, big, 100000, 0, "ab", 2);
    while ((r = lxp_plain_run(&f, 100)) == LXP_LIMIT)
        runs++;
    CHECK(r == LXP_MATCH && f.at == 99989);
    CHECK(lxp_nospecials("abc]", 4) && !lxp_nospecials("a.c", 3) && !lxp_nospecials("a\0(", 3));
}

static const struct test tests[] = {
    T(finds_a_plain_match_and_its_span),
    T(honours_anchors_classes_sets_and_quantifiers),
    T(keeps_position_captures_and_back_references),
    T(reports_lua_errors_in_lua_words),
    T(stops_past_200_levels),
    T(stops_at_the_step_limit_and_goes_on),
    T(charges_a_plain_search),
};

CTEST_MAIN(tests)
